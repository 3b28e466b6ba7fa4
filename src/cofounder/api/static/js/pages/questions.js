// A question the build asks its founder: the problem in plain words, what was tried, and the
// options as buttons; answering resolves it in place and the build goes on.
import { api, path } from "../api.js";
import { h, problemText, replace } from "../dom.js";
import { clock } from "../format.js";

function card(question, answered) {
  const note = h("p", { class: "field-error", role: "alert" });
  const guidanceId = `guidance-${question.id}`;
  const guidance = h("textarea", { id: guidanceId, rows: 2, maxlength: 4000 });
  const buttons = question.options.map((option) => {
    const button = h("button", { type: "button", class: option.key === question.default_option ? "" : "secondary" },
      option.label,
      option.key === question.default_option ? h("span", { class: "hint" }, " (recommended)") : null);
    if (option.description) button.title = option.description;
    button.addEventListener("click", async () => {
      buttons.forEach((b) => { b.disabled = true; });
      note.textContent = "Sending your answer…";
      try {
        const body = { choice: option.key };
        if (guidance.value.trim()) body.guidance = guidance.value.trim();
        await api(path`/escalations/${question.id}/resolve`, { method: "POST", body });
        replace(box, h("h2", {}, "Thanks — answered"),
          h("p", {}, `You chose “${option.label}”. The build continues with it.`));
        box.classList.add("answered");
        answered();
      } catch (error) {
        note.textContent = problemText(error);
        buttons.forEach((b) => { b.disabled = false; });
      }
    });
    return button;
  });
  const box = h("section", { class: "card escalation", "aria-labelledby": `q-${question.id}` },
    h("h2", { id: `q-${question.id}` }, "The agent needs your decision"),
    h("p", { class: "problem" }, question.problem),
    question.tried.length
      ? h("details", {}, h("summary", {}, "What it tried"), h("ul", {}, question.tried.map((t) => h("li", {}, t))))
      : null,
    question.recommendation ? h("p", {}, h("strong", {}, "It recommends: "), question.recommendation) : null,
    h("label", { for: guidanceId }, "Anything to add? (optional)"),
    guidance,
    h("div", { class: "options", role: "group", "aria-label": "Your answer" }, buttons),
    h("p", { class: "meta" }, `Without an answer by ${clock(question.deadline)} it goes with the recommended option.`),
    note);
  return box;
}

export function escalationCards(open, answered) {
  return open.map((question) => card(question, answered));
}
