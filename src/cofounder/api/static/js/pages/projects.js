// Projects: the list, a new one (the API's field errors shown at their fields), and one
// project with its builds and a button that starts the next.
import { api, ApiError, path } from "../api.js";
import { dataTable, h, loading, problemText, replace } from "../dom.js";
import { clock, stateWords, usd } from "../format.js";
import { PagedTable } from "../paging.js";
import { notFound } from "./signin.js";

export function badge(session) {
  const [words, tone] = stateWords(session);
  return h("span", { class: `badge ${tone}` }, words);
}

export async function projectsPage(main) {
  document.title = "Projects · Cofounder";
  replace(main, h("h1", {}, "Your projects"), loading("Loading your projects…"));
  const [projects, recent] = await Promise.all([api("/projects"), api("/sessions?limit=20&order=newest")]);
  const list = projects.length
    ? h("ul", { class: "cards" }, projects.map((p) => {
        const last = p.latest_build; // the API's: no request per project
        return h("li", { class: "card project" },
          h("h2", {}, h("a", { href: path`/projects/${p.project_id}` }, p.name)),
          h("p", { class: "goal" }, p.spec.goal),
          h("p", { class: "meta" },
            `${p.builds} build${p.builds === 1 ? "" : "s"} · created ${clock(p.created_at)} `,
            last ? [badge(last), " ", h("a", { href: path`/builds/${last.session_id}` }, "latest build")] : null));
      }))
    : h("p", { class: "empty" }, "No projects yet. Describe your idea and Cofounder builds it.");
  const builds = recent.items;
  replace(main,
    h("div", { class: "page-head" }, h("h1", {}, "Your projects"), h("a", { class: "button", href: "/projects/new" }, "New project")),
    list,
    builds.length
      ? h("section", { class: "card", "aria-labelledby": "recent-title" },
          h("h2", { id: "recent-title" }, "Recent builds"),
          dataTable(["Build", "State", "Started"], builds.map((s) => [
            h("a", { href: path`/builds/${s.session_id}` }, `${s.name} ${s.build_version || ""}`),
            badge(s),
            clock(s.created_at)])))
      : null);
}

const BRIEF = [
  ["problem", "The problem", "What is wrong today, in your words.", "textarea"],
  ["target_user", "Who it is for", "The people who will use it.", "textarea"],
  ["core_features", "Core features", "One per line.", "lines"],
  ["success_metric", "What success looks like", "How you will know it works.", "textarea"],
  ["out_of_scope", "Not now", "What to leave out, one per line.", "lines"],
];

function field(id, label, control, help) {
  return h("div", { class: "field", "data-path": id },
    h("label", { for: id }, label),
    help ? h("p", { class: "help", id: `${id}-help` }, help) : null,
    control,
    h("p", { class: "field-error", id: `${id}-error` }));
}

function qnaRow(list, question = "", answer = "") {
  const n = list.children.length;
  const row = h("li", { class: "qna" },
    field(`qna-${n}-question`, `Question ${n + 1}`, h("input", { id: `qna-${n}-question`, value: question, class: "q" })),
    field(`qna-${n}-answer`, "Your answer", h("textarea", { id: `qna-${n}-answer`, rows: 2, class: "a" }, answer)),
    h("button", { type: "button", class: "link remove", onclick: () => { row.remove(); renumber(list); } }, `Remove question ${n + 1}`));
  list.append(row);
  return row;
}

// Keep ids and labels in order after a removal, so an error path finds its field.
function renumber(list) {
  [...list.children].forEach((row, n) => {
    for (const [part, label] of [["question", `Question ${n + 1}`], ["answer", "Your answer"]]) {
      const box = row.querySelector(part === "question" ? ".q" : ".a");
      const wrap = box.closest(".field");
      const id = `qna-${n}-${part}`;
      box.id = id;
      wrap.dataset.path = id;
      wrap.querySelector("label").htmlFor = id;
      wrap.querySelector("label").textContent = label;
      wrap.querySelector(".field-error").id = `${id}-error`;
    }
    row.querySelector(".remove").textContent = `Remove question ${n + 1}`;
  });
}

// `understanding_qna.1.answer` → `qna-1-answer`; `idea_brief.problem` → `brief-problem`.
function fieldFor(form, errorPath) {
  const qna = /^understanding_qna(?:\.(\d+)|\[(\d+)\])\.(question|answer)/.exec(errorPath);
  const brief = /^idea_brief(?:\.(\w+))?/.exec(errorPath);
  const id = qna ? `qna-${qna[1] ?? qna[2]}-${qna[3]}` : brief ? (brief[1] ? `brief-${brief[1]}` : "brief") : errorPath.split(/[.[]/)[0];
  return form.querySelector(`[data-path="${CSS.escape(id)}"]`) || form.querySelector('[data-path="form"]');
}

// "Question 2, your answer: " for a field of the form; the API's path for anything else.
function fieldName(form, errorPath) {
  if (!errorPath) return "";
  const wrap = fieldFor(form, errorPath);
  const label = wrap && wrap.dataset.path !== "form" ? wrap.querySelector("label, legend") : null;
  if (!label) return `${errorPath}: `;
  const qna = /^qna-(\d+)-answer$/.exec(wrap.dataset.path);
  return qna ? `Question ${Number(qna[1]) + 1}, your answer: ` : `${label.textContent}: `;
}

function showErrors(form, error) {
  for (const wrap of form.querySelectorAll(".field")) {
    wrap.querySelector(".field-error").textContent = "";
    wrap.querySelector("input, textarea, select")?.removeAttribute("aria-invalid");
  }
  const summary = form.querySelector(".form-errors");
  replace(summary);
  if (!error) return;
  const problems = error.errors.length ? error.errors : [{ path: "", message: problemText(error) }];
  let first = null;
  for (const problem of problems) {
    const wrap = problem.path ? fieldFor(form, problem.path) : null;
    if (wrap && wrap.dataset.path !== "form") {
      const box = wrap.querySelector("input, textarea, select");
      wrap.querySelector(".field-error").textContent = problem.message;
      box?.setAttribute("aria-invalid", "true");
      first = first || box;
    }
  }
  summary.append(h("p", {}, "Please fix the following:"),
    h("ul", {}, problems.map((p) => h("li", {}, `${fieldName(form, p.path)}${p.message}`))));
  (first || summary).focus();
}

export async function newProjectPage(main) {
  document.title = "New project · Cofounder";
  const qna = h("ol", { class: "qna-list" });
  const tier = h("select", { id: "tier" },
    h("option", { value: "bootstrapper" }, "Bootstrapper"), h("option", { value: "partner" }, "Partner"),
    h("option", { value: "cto_scale" }, "CTO scale"));
  const submit = h("button", { type: "submit" }, "Create project");
  const form = h("form", { class: "card", novalidate: true },
    h("div", { class: "form-errors", role: "alert", tabindex: "-1", "data-path": "form" }),
    field("name", "Project name", h("input", { id: "name", autocomplete: "off" })),
    h("fieldset", { class: "field", "data-path": "brief" },
      h("legend", {}, "Your idea"),
      h("p", { class: "field-error", id: "brief-error" }),
      BRIEF.map(([key, label, help, kind]) =>
        field(`brief-${key}`, label, kind === "lines" || kind === "textarea"
          ? h("textarea", { id: `brief-${key}`, rows: kind === "lines" ? 3 : 2, "aria-describedby": `brief-${key}-help` })
          : h("input", { id: `brief-${key}` }), help))),
    h("fieldset", {},
      h("legend", {}, "What you have told us"),
      h("p", { class: "help" }, "Questions about your idea and your answers. Add as many as help."),
      qna,
      h("button", { type: "button", class: "secondary", onclick: () => qnaRow(qna).querySelector(".q").focus() }, "Add a question")),
    field("goal", "The goal", h("textarea", { id: "goal", rows: 2, "aria-describedby": "goal-help" }), "What “done” means for the first version."),
    field("tier", "Plan", tier),
    submit);
  qnaRow(qna);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (id) => form.querySelector(`#${id}`).value;
    const brief = {};
    for (const [key, , , kind] of BRIEF) {
      const text = value(`brief-${key}`).trim();
      if (!text) continue;
      brief[key] = kind === "lines" ? text.split("\n").map((l) => l.trim()).filter(Boolean) : text;
    }
    const body = {
      name: value("name"),
      idea_brief: brief,
      understanding_qna: [...qna.children]
        .map((row) => ({ question: row.querySelector(".q").value, answer: row.querySelector(".a").value }))
        .filter((pair) => pair.question.trim() || pair.answer.trim()),
      goal: value("goal"),
      tier: tier.value,
    };
    submit.disabled = true;
    submit.textContent = "Creating…";
    try {
      const project = await api("/projects", { method: "POST", body });
      location.assign(path`/projects/${project.project_id}`);
      return;
    } catch (error) {
      showErrors(form, error instanceof ApiError ? error : null);
    }
    submit.disabled = false;
    submit.textContent = "Create project";
  });
  replace(main, h("h1", {}, "New project"), form);
  form.querySelector("#name").focus();
}

function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function projectPage(main, me, projectId) {
  replace(main, loading("Loading the project…"));
  let project;
  try {
    project = await api(path`/projects/${projectId}`);
  } catch (error) {
    if (error.status === 404) return notFound(main, "There is no such project, or it is not yours.");
    throw error;
  }
  document.title = `${project.name} · Cofounder`;
  const builds = new PagedTable(`/sessions?order=newest&project=${encodeURIComponent(projectId)}`, {
    columns: ["Build", "State", "Started", "Spent"],
    cells: (s) => [h("a", { href: path`/builds/${s.session_id}` }, s.build_version || s.session_id), badge(s), clock(s.created_at), usd(s.spend_microdollars)],
    key: (s) => s.session_id,
    label: "Show older builds",
    noun: ["build", "builds"],
    empty: "No builds yet.",
  });
  const note = h("p", { class: "notice", role: "status" });
  const start = h("button", { type: "button" }, project.builds ? "Start the next build" : "Start the build");
  let key = idempotencyKey(); // one per intended build: a double click starts one
  start.addEventListener("click", async () => {
    start.disabled = true;
    start.textContent = "Starting…";
    note.textContent = "";
    try {
      const init = { method: "POST", headers: { "Content-Type": "application/json", "X-Cofounder-CSRF": "1", "Idempotency-Key": key }, credentials: "same-origin", body: "{}" };
      const response = await fetch(path`/api/v1/projects/${projectId}/builds`, init);
      const data = await response.json();
      if (response.ok) {
        location.assign(path`/builds/${data.session_id}`);
        return;
      }
      note.textContent = data.detail || `The build could not start (${response.status}).`;
      key = idempotencyKey();
    } catch {
      note.textContent = "The server could not be reached. Try again.";
    }
    start.disabled = false;
    start.textContent = "Start the build";
  });
  const brief = Object.entries(project.spec.idea_brief).map(([key, value]) =>
    [h("dt", {}, key.replace(/_/g, " ")), h("dd", {}, Array.isArray(value) ? h("ul", {}, value.map((v) => h("li", {}, String(v)))) : String(value))]);
  replace(main,
    h("div", { class: "page-head" }, h("h1", {}, project.name), start),
    note,
    h("section", { class: "card" }, h("h2", {}, "Goal"), h("p", {}, project.spec.goal), h("dl", { class: "brief" }, brief)),
    h("section", { class: "card" }, h("h2", {}, "Builds"), builds.box));
  await builds.draw();
}
