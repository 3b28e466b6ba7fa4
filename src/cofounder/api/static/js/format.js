// Numbers and times as a founder reads them.

export function usd(micro) {
  const dollars = (micro || 0) / 1e6;
  return dollars > 0 && dollars < 0.01 ? `$${dollars.toFixed(4)}` : `$${dollars.toFixed(2)}`;
}

export function clock(ts) {
  if (!ts) return "";
  const when = new Date(ts);
  const time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const today = new Date().toDateString() === when.toDateString();
  return today ? time : `${when.toLocaleDateString([], { month: "short", day: "numeric" })}, ${time}`;
}

export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

const OUTCOMES = {
  completed: ["Completed", "good"],
  failed: ["Failed", "bad"],
  cancelled: ["Cancelled", "muted"],
  stuck: ["Stopped: stuck", "bad"],
  iteration_limit: ["Stopped: reached its step limit", "bad"],
};

// The state badge: [words, tone].
export function stateWords(session) {
  switch (session.state) {
    case "queued": return ["Queued", "muted"];
    case "running": return ["Working", "busy"];
    case "sleeping": return [session.wake_at ? `Sleeping until ${clock(session.wake_at)}` : "Sleeping", "wait"];
    case "waiting": return ["Waiting for you", "ask"];
    case "paused": return ["Paused", "muted"];
    case "interrupted": return ["Interrupted", "muted"];
    default: return OUTCOMES[session.state] || [session.state, "muted"];
  }
}

export function phaseName(phase) {
  const words = String(phase || "").replace(/[_-]+/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : "";
}
