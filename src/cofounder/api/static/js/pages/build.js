// A build as its founder watches it: what state it is in (in plain words), the agent's feed
// live, its phases, its budget, the question it asks, the app it made, and the way out.
import { api, path } from "../api.js";
import { h, loading, problemText, replace, safeUrl } from "../dom.js";
import { clock, duration, phaseName, stateWords, usd } from "../format.js";
import { Feed, follow, Phases } from "../feed.js";
import { markdown as markdownOf } from "../markdown.js";
import { notFound } from "./signin.js";
import { escalationCards } from "./questions.js";

const REFRESH = {
  session: ["session_started", "session_resumed", "session_paused", "session_finished", "cancel_requested",
    "sleeping", "waking", "requeued", "escalated", "resolved", "waiting_for_input", "iteration_committed",
    "phase_started", "phase_completed", "budget_exhausted"],
  escalations: ["escalated", "resolved", "waiting_for_input", "session_finished"],
  preview: ["preview_ready", "preview_failed", "preview_stopped", "session_finished", "requeued", "sleeping"],
  shots: ["screenshot_taken"],
  docs: ["documentation_updated", "session_finished"],
  budget: ["sleeping", "waking", "budget_exhausted", "iteration_committed"],
};

function section(title, id, ...children) {
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

export async function buildPage(main, me, sessionId) {
  replace(main, loading("Loading the build…"));
  let session;
  try {
    session = await api(path`/sessions/${sessionId}`);
  } catch (error) {
    if (error.status === 404) return notFound(main, "There is no such build, or it is not yours.");
    throw error;
  }
  const view = {
    title: h("h1", {}),
    badge: h("span", { class: "badge" }),
    reason: h("p", { class: "reason" }),
    actions: h("div", { class: "actions" }),
    note: h("p", { class: "notice", role: "status" }),
    questions: h("div", { class: "questions" }),
    connection: h("span", { class: "connection", role: "status" }, "Connecting…"),
    feed: h("ol", { class: "feed", "aria-live": "polite", "aria-label": "What the agent is doing" }),
    phases: h("ol", { class: "phases" }),
    budget: h("div", {}, loading()),
    preview: h("div", {}, loading()),
    shots: h("div", { class: "shots" }, loading()),
    docs: h("div", { class: "docs" }, loading()),
    facts: h("p", { class: "meta" }),
    lineage: h("p", { class: "meta lineage" }),
    say: h("div", {}),
  };
  replace(main,
    h("div", { class: "build-head" },
      h("div", {}, view.title, h("p", { class: "meta" }, view.badge, " ", view.facts), view.lineage, view.reason),
      view.actions),
    view.note,
    view.questions,
    h("div", { class: "columns" },
      h("section", { class: "card feed-card", "aria-labelledby": "feed-title" },
        h("div", { class: "panel-head" }, h("h2", { id: "feed-title" }, "Live feed"), view.connection),
        view.feed,
        view.say),
      h("aside", { class: "side" },
        section("Phases", "phases-title", view.phases),
        section("Budget", "budget-title", view.budget),
        section("Preview", "preview-title", view.preview))),
    section("Screenshots", "shots-title", view.shots),
    section("Documentation", "docs-title", view.docs));

  const phases = new Phases();
  let budget = null;
  const drawSession = () => {
    document.title = `${session.name} · Cofounder`;
    view.title.textContent = `${session.name}`;
    const [words, tone] = stateWords(session);
    view.badge.className = `badge ${tone}`;
    view.badge.textContent = words;
    view.facts.textContent = [session.build_version, `step ${session.iteration}`,
      `${session.tool_calls} tool calls`, `${usd(session.spend_microdollars)} spent`].filter(Boolean).join(" · ");
    replace(view.lineage, session.parent_session_id
      ? ["Tried again from step ", String(session.forked_from_iteration), " of ",
          h("a", { href: path`/builds/${session.parent_session_id}` }, "an earlier build")]
      : []);
    view.reason.textContent = session.outcome && session.outcome !== "completed" && session.outcome_reason ? `Why: ${session.outcome_reason}` : "";
    drawActions();
    drawBudget();
    drawSay();
  };
  let confirmCancel = false;
  const act = async (verb) => {
    view.note.textContent = verb === "cancel" ? "Cancelling…" : "Waking it up…";
    try {
      const done = await api(path`/sessions/${sessionId}/${verb}`, { method: "POST" });
      view.note.textContent = done.detail;
      soon("session");
    } catch (error) {
      view.note.textContent = problemText(error);
    }
  };
  const drawActions = () => {
    const finished = session.outcome !== null;
    const cancel = h("button", { type: "button", class: "danger" }, confirmCancel ? "Click again to cancel" : "Cancel build");
    cancel.addEventListener("click", () => {
      if (!confirmCancel) {
        confirmCancel = true;
        drawActions();
        setTimeout(() => { confirmCancel = false; drawActions(); }, 5000);
        return;
      }
      confirmCancel = false;
      act("cancel");
    });
    replace(view.actions,
      session.state === "sleeping" ? h("button", { type: "button", onclick: () => act("wake") }, "Wake it now") : null,
      !finished ? cancel : null,
      session.iteration > 0
        ? h("a", { class: "button secondary", href: path`/api/v1/sessions/${sessionId}/export`, download: "" }, "Download the code")
        : null,
      session.project_id ? h("a", { class: "button secondary", href: path`/projects/${session.project_id}` }, "Project") : null);
  };
  const drawSay = () => {
    if (session.outcome !== null) {
      replace(view.say);
      return;
    }
    if (view.say.firstChild) return; // drawn once: a founder may be typing in it
    const box = h("textarea", { id: "say-text", rows: 2, maxlength: 4000, placeholder: "e.g. Make the buttons green" });
    const note = h("p", { class: "meta", role: "status" });
    const send = h("button", { type: "submit" }, "Send");
    const form = h("form", { class: "say-form" },
      h("label", { for: "say-text" }, "Tell the agent something"),
      h("div", { class: "say" }, box, send), note);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!box.value.trim()) return;
      send.disabled = true;
      note.textContent = "Sending…";
      try {
        const kept = await api(path`/sessions/${sessionId}/messages`, { method: "POST", body: { text: box.value } });
        box.value = "";
        note.textContent = `Sent. The agent reads it ${kept.read_when}.`;
      } catch (error) {
        note.textContent = problemText(error);
      }
      send.disabled = false;
    });
    replace(view.say, form);
  };
  const drawBudget = () => {
    if (!budget) return;
    const percent = Math.min(100, Math.max(0, budget.percent));
    const bar = h("span", { class: "fill" });
    bar.style.width = `${percent}%`;
    replace(view.budget,
      h("div", { class: `gauge ${percent >= 90 ? "high" : ""}`, role: "meter", "aria-label": "Share of this window's budget used",
        "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": Math.round(percent) }, bar),
      h("p", {}, h("strong", {}, `${Math.round(percent)}% used`), ` — ${usd(budget.spent_microdollars)} of ${usd(budget.allowance_microdollars)}`),
      h("p", { class: "meta" }, `${usd(budget.remaining_microdollars)} left · this window ends ${clock(budget.window_end)}`),
      session.state === "sleeping" && session.wake_at ? h("p", { class: "meta" }, `Resumes at ${clock(session.wake_at)}`) : null);
  };
  const drawPhases = () => {
    replace(view.phases, phases.list.length ? phases.list.map((p) => h("li", { class: p.ended ? "done" : "current" },
      h("span", { class: "phase-name" }, phaseName(p.name)),
      h("span", { class: "meta" }, p.ended ? duration(new Date(p.ended) - new Date(p.started)) : `since ${clock(p.started)}`)))
      : h("li", { class: "empty" }, "No phase yet."));
  };
  // A build stops to wait for its founder a moment after its question's events, and no event
  // follows: a read in between still says "running". Until the state moves on, read it again.
  let stopsToWait = false;
  const refresh = {
    session: async () => {
      session = await api(path`/sessions/${sessionId}`);
      drawSession();
      if (stopsToWait && session.state === "running") setTimeout(() => soon("session"), 1000);
      else stopsToWait = false;
    },
    budget: async () => { budget = await api("/budget"); drawBudget(); },
    escalations: async () => {
      const open = (await api(path`/sessions/${sessionId}/escalations`)).filter((e) => e.state === "open");
      // A card answered here stays, saying what was chosen (the next read took it away a
      // moment after it was drawn).
      const answered = [...view.questions.querySelectorAll(".escalation.answered")];
      replace(view.questions, escalationCards(open, () => soon("escalations", "session")), answered);
    },
    preview: async () => drawPreview(view.preview, await api(path`/sessions/${sessionId}/preview`)),
    shots: async () => drawShots(view.shots, await api(path`/sessions/${sessionId}/screenshots`)),
    docs: async () => drawDocs(view.docs, await api(path`/sessions/${sessionId}/docs`)),
  };
  const pending = new Set();
  let timer = null;
  // One round of reads at a time, in order: rounds that overlapped could be answered out of
  // order, and an older state read slowly was drawn last (a finished build shown asleep).
  let rounds = Promise.resolve();
  const soon = (...what) => {
    what.forEach((w) => pending.add(w));
    clearTimeout(timer);
    timer = setTimeout(() => {
      rounds = rounds.then(async () => {
        const todo = [...pending];
        pending.clear();
        for (const name of todo) {
          try {
            await refresh[name]();
          } catch (error) {
            if (error.status !== 401) view.note.textContent = problemText(error);
          }
        }
      });
    }, 200);
  };

  drawSession();
  drawPhases();
  soon(...Object.keys(refresh).filter((k) => k !== "session"));
  const retry = async (iteration) => {
    view.note.textContent = `Starting a new build from step ${iteration}…`;
    try {
      const forked = await api(path`/sessions/${sessionId}/fork`, { method: "POST", body: { iteration } });
      location.assign(path`/builds/${forked.session_id}`);
    } catch (error) {
      view.note.textContent = problemText(error);
    }
  };
  const feed = new Feed(view.feed, retry);
  const labels = { live: "● Live", reconnecting: "Reconnecting…", ended: "Ended", closed: "Disconnected — reload to retry" };
  follow(sessionId, {
    onEvent: (event) => {
      if (!feed.add(event)) return;
      if (event.type === "waiting_for_input") stopsToWait = event.payload.blocking;
      if (event.type === "resolved") stopsToWait = false;
      phases.add(event);
      if (event.type.startsWith("phase_")) drawPhases();
      if (event.type === "budget_updated" && budget) {
        budget = { ...budget, ...event.payload };
        drawBudget();
      }
      for (const [name, types] of Object.entries(REFRESH)) if (types.includes(event.type)) pending.add(name);
      if (pending.size) soon();
    },
    onConnection: (state) => {
      view.connection.textContent = labels[state] || state;
      view.connection.className = `connection ${state}`;
    },
  });
}

function drawPreview(box, preview) {
  const url = safeUrl(preview.url);
  if (preview.status === "live" && url) {
    replace(box,
      h("p", {}, h("span", { class: "badge good" }, "Live"), " ", h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, "Open your app")),
      h("iframe", { src: url, title: "Your app, live", class: "preview-frame",
        sandbox: "allow-scripts allow-forms allow-same-origin allow-popups" }));
    return;
  }
  const words = {
    stopped: "Stopped. The preview runs while the build is being worked on.",
    failed: `The app did not start${preview.hint ? `: ${preview.hint}` : "."}`,
    none: "Not started yet. It appears here once the agent runs your app.",
  };
  replace(box, h("p", { class: preview.status === "failed" ? "bad" : "meta" }, words[preview.status] || preview.status));
}

function drawShots(box, shots) {
  if (!shots.length) {
    replace(box, h("p", { class: "empty" }, "No screenshots yet. The agent takes them to check its work."));
    return;
  }
  replace(box, h("ul", { class: "gallery" }, shots.map((s) => h("li", {},
    h("figure", {},
      h("a", { href: s.url, target: "_blank", rel: "noopener" },
        h("img", { src: s.url, alt: `Screenshot of ${s.page} (${s.viewport})`, loading: "lazy", width: s.width, height: s.height })),
      h("figcaption", {}, `${s.page} · ${s.viewport} · step ${s.iteration}`))))));
}

const SECTION_NAMES = { overview: "Overview", features: "Features", getting_started: "Getting started", faq: "FAQ" };

function drawDocs(box, docs) {
  if (!docs.sections.length) {
    replace(box, h("p", { class: "empty" }, "The agent writes the documentation as it builds."));
    return;
  }
  const panel = h("div", { class: "tab-panel", role: "tabpanel", id: "docs-panel", tabindex: "0" });
  const tabs = docs.sections.map((doc, n) => h("button", {
    type: "button", role: "tab", id: `tab-${doc.section}`, "aria-controls": "docs-panel",
  }, SECTION_NAMES[doc.section] || phaseName(doc.section)));
  const select = (n, focus) => {
    tabs.forEach((tab, i) => {
      tab.setAttribute("aria-selected", String(i === n));
      tab.tabIndex = i === n ? 0 : -1;
    });
    panel.setAttribute("aria-labelledby", tabs[n].id);
    replace(panel, markdownOf(docs.sections[n].markdown));
    if (focus) tabs[n].focus();
  };
  tabs.forEach((tab, n) => {
    tab.addEventListener("click", () => select(n, false));
    tab.addEventListener("keydown", (key) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[key.key];
      if (step) select((n + step + tabs.length) % tabs.length, true);
    });
  });
  const current = box.querySelector('[role="tab"][aria-selected="true"]');
  const keep = current ? Math.max(0, docs.sections.findIndex((d) => `tab-${d.section}` === current.id)) : 0;
  replace(box, h("div", { class: "tabs", role: "tablist", "aria-label": "Documentation" }, tabs), panel);
  select(keep, false);
}
