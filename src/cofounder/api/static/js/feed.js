// The live feed: a session's events, from its first, through one SSE stream that the browser
// resumes with Last-Event-ID; each event is shown once, by seq, however often it reconnects.
import { h, replace, safeUrl } from "./dom.js";
import { clock, phaseName, usd } from "./format.js";

// Every event type the API streams (`event: <type>` reaches named listeners only).
export const EVENT_TYPES = [
  "session_started", "session_resumed", "session_paused", "session_finished", "cancel_requested",
  "sleeping", "waking", "requeued", "thinking", "assistant_text", "tool_started", "tool_called",
  "tool_steered", "narration", "phase_started", "phase_completed", "documentation_updated",
  "iteration_committed", "workspace_restored", "snapshot_failed", "model_failed",
  "model_unavailable", "context_compacted", "budget_updated", "budget_exhausted", "retrying",
  "escalated", "waiting_for_input", "resolved", "preview_ready", "preview_failed",
  "preview_stopped", "processes_stopped", "screenshot_taken", "founder_message",
];

export function follow(sessionId, { onEvent, onConnection }) {
  const url = `/api/v1/sessions/${encodeURIComponent(sessionId)}/events/stream?after=0`;
  const source = new EventSource(url);
  const receive = (message) => {
    const event = JSON.parse(message.data);
    onEvent(event);
    if (event.type === "session_finished") {
      source.close();
      onConnection("ended");
    }
  };
  for (const type of EVENT_TYPES) source.addEventListener(type, receive);
  source.addEventListener("open", () => onConnection("live"));
  source.addEventListener("error", () => {
    onConnection(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
  });
  return source;
}

const SYSTEM = {
  session_started: () => "Build started",
  session_resumed: (p) => `Picked up again at step ${p.iteration}`,
  session_paused: (p) => `Paused: ${p.reason}`,
  session_finished: (p) => `Finished: ${p.outcome} — ${p.reason}`,
  cancel_requested: () => "Cancel requested: it stops before its next step",
  sleeping: (p) => `Budget spent for now: sleeping until ${clock(p.wake_at)}`,
  waking: (p) => (p.on_request ? "Woken up on request" : "Woke up"),
  requeued: (p) => `Handed back to the queue (worker ${p.worker} stopped)`,
  tool_steered: (p) => `Kept on track: ${p.message}`,
  phase_started: (p) => `${phaseName(p.phase)} started`,
  phase_completed: (p) => `${phaseName(p.phase)} done`,
  documentation_updated: (p) => `Wrote the ${phaseName(p.section).toLowerCase()} documentation`,
  workspace_restored: (p) => `Went back to the files of step ${p.to_iteration}: ${p.reason}`,
  snapshot_failed: (p) => `Saving the files failed (try ${p.attempt} of ${p.of}): ${p.error}`,
  model_failed: (p) => `The model call failed: ${p.error}`,
  model_unavailable: (p) => `The model is unavailable: ${p.error}`,
  context_compacted: (p) => `Condensed its notes (${p.tokens_before} → ${p.tokens_after} tokens)`,
  budget_exhausted: (p) => `Not enough budget left in this window for the next step (${Math.round(p.percent)}% used)`,
  retrying: (p) => `Retrying ${p.label || p.kind} (try ${p.attempt} of ${p.max_attempts})${p.error ? `: ${p.error}` : ""}`,
  escalated: (p) => `Asked you: ${p.problem}`,
  waiting_for_input: (p) => `Waiting for your answer (it goes with the default at ${clock(p.deadline)})`,
  resolved: (p) =>
    p.defaulted
      ? `No answer in time: it went with “${p.choice}”`
      : `Answered: “${p.choice}”${p.guidance ? ` — ${p.guidance}` : ""}`,
  preview_failed: (p) => `The app did not start${p.hint ? `: ${p.hint}` : ""}`,
  preview_stopped: (p) => `Preview stopped: ${p.reason}`,
  processes_stopped: (p) => `Stopped ${p.processes.length} background process(es): ${p.reason}`,
  screenshot_taken: (p) => `Took ${p.screenshots.length} screenshot(s) of ${p.path}`,
};
const TONE = { escalated: "ask", waiting_for_input: "ask", resolved: "ask", model_failed: "bad",
  snapshot_failed: "bad", preview_failed: "bad", budget_exhausted: "wait", sleeping: "wait" };
const HIDDEN = new Set(["thinking", "budget_updated"]);
// Tools whose call is its own line already (the narration itself): no tool row besides.
const QUIET_TOOLS = new Set(["narrate"]);

function toolRow(event) {
  const p = event.payload;
  const label = p.label || p.name;
  const details = h("details", { class: "tool-details" },
    h("summary", {}, h("span", { class: `tool-mark ${p.ok ? "ok" : "bad"}`, "aria-label": p.ok ? "succeeded" : "failed" }, p.ok ? "✓" : "✗"), " ", label),
    h("dl", {},
      h("dt", {}, "Tool"), h("dd", {}, p.name),
      p.exit_code !== null && p.exit_code !== undefined ? [h("dt", {}, "Exit code"), h("dd", {}, p.exit_code)] : null,
      h("dt", {}, "Took"), h("dd", {}, `${(p.duration_ms / 1000).toFixed(1)} s`)),
    p.summary ? h("pre", { class: "tool-summary" }, p.summary) : null);
  return details;
}

export class Feed {
  // `onRetry(iteration)`: the founder wants to try again from that committed step.
  constructor(list, onRetry) {
    this.list = list;
    this.onRetry = onRetry;
    this.last = 0;
    this.pending = new Map(); // tool_use_id → the row of a tool still running
  }

  // False when the event was already shown (a replay after a reconnect).
  add(event) {
    if (event.seq <= this.last) return false;
    this.last = event.seq;
    const quiet = event.type.startsWith("tool_") && QUIET_TOOLS.has(event.payload.name);
    if (HIDDEN.has(event.type) || quiet) return true;
    const row = this.render(event);
    if (row) {
      row.dataset.seq = String(event.seq);
      row.dataset.type = event.type;
    }
    return true;
  }

  render(event) {
    const p = event.payload;
    const time = h("time", { datetime: event.ts }, clock(event.ts));
    if (event.type === "tool_started") {
      const row = this.item("tool running", time, h("span", {}, `Running ${p.name}…`));
      if (p.tool_use_id) this.pending.set(p.tool_use_id, row);
      return row;
    }
    if (event.type === "tool_called") {
      const row = this.pending.get(p.tool_use_id);
      this.pending.delete(p.tool_use_id);
      if (row) {
        row.className = "tool";
        replace(row, time, h("div", { class: "body" }, toolRow(event)));
        return row;
      }
      return this.item("tool", time, toolRow(event));
    }
    if (event.type === "narration") return this.item("voice agent", time, h("p", {}, p.message));
    if (event.type === "founder_message") return this.item("voice founder", time, h("p", {}, p.text));
    if (event.type === "assistant_text") return this.item("thought", time, h("p", {}, p.text));
    if (event.type === "iteration_committed") {
      const retry = h("button", { type: "button", class: "link retry", onclick: () => this.onRetry(p.iteration) },
        "try again from here");
      retry.setAttribute("aria-label", `Try again from step ${p.iteration}`);
      return this.item("step", time, `Step ${p.iteration} saved · `, retry);
    }
    if (event.type === "preview_ready") {
      const url = safeUrl(p.url);
      return this.item("system good", time, "Your app is live",
        url ? [": ", h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url)] : "");
    }
    const words = SYSTEM[event.type];
    if (!words) return null;
    const tone = event.type === "session_finished" ? (p.outcome === "completed" ? "good" : "bad") : TONE[event.type] || "";
    return this.item(`system ${tone}`, time, words(p));
  }

  // A line: its time, then one box for whatever it says.
  item(kind, time, ...content) {
    const row = h("li", { class: kind }, time, h("div", { class: "body" }, ...content));
    // Follow the newest line, unless the founder scrolled up to read.
    const list = this.list;
    const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(row);
    if (atEnd) list.scrollTop = list.scrollHeight;
    return row;
  }
}

// Phases with their durations, from phase events.
export class Phases {
  constructor() {
    this.list = [];
  }

  add(event) {
    const p = event.payload;
    if (event.type === "phase_started") {
      this.list.push({ name: p.phase, started: event.ts, ended: null });
    } else if (event.type === "phase_completed") {
      const open = [...this.list].reverse().find((x) => x.name === p.phase && !x.ended);
      if (open) open.ended = event.ts;
    }
  }
}

export function spendLine(budget) {
  return `${usd(budget.spent_microdollars)} of ${usd(budget.allowance_microdollars)}`;
}
