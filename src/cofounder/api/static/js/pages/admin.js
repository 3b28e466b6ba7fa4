// What the operator sees: every session, the workers and their heartbeats, the queue, and
// what each owner has spent.
import { api, path } from "../api.js";
import { dataTable, h, loading, problemText, replace } from "../dom.js";
import { clock, usd } from "../format.js";
import { PagedTable } from "../paging.js";
import { badge } from "./projects.js";


// Add dollars to an owner's current window; their sleeping builds wake.
function topUp(owner, redraw) {
  const id = `top-up-${owner}`;
  const amount = h("input", { id, type: "number", min: "0.01", step: "0.01", inputmode: "decimal", class: "amount" });
  const note = h("span", { class: "meta", role: "status" });
  const form = h("form", { class: "inline" },
    h("label", { for: id, class: "visually-hidden" }, `Top-up for ${owner}, in US dollars`),
    amount, h("button", { type: "submit", class: "secondary" }, "Add"), note);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    note.textContent = "Adding…";
    try {
      await api(path`/owners/${owner}/top-ups`, { method: "POST", body: { amount_usd: amount.value } });
      amount.value = "";
      amount.blur();
      note.textContent = "Added";
      await redraw();
    } catch (error) {
      note.textContent = problemText(error);
    }
  });
  return form;
}

export async function adminPage(main, me) {
  document.title = "Admin · Cofounder";
  if (!me.admin) {
    replace(main, h("section", { class: "card narrow" }, h("h1", {}, "Admins only"), h("p", {}, "This page is for whoever runs Cofounder.")));
    return;
  }
  const sessions = new PagedTable("/sessions?order=newest", {
    columns: ["Build", "Owner", "State", "Spent", "Started"],
    cells: (s) => [h("a", { href: path`/builds/${s.session_id}` }, `${s.name} ${s.build_version || ""}`), s.owner, badge(s), usd(s.spend_microdollars), clock(s.created_at)],
    key: (s) => s.session_id,
    label: "Show older sessions",
    noun: ["session", "sessions"],
    empty: "No sessions yet.",
  });
  const boxes = { queue: h("div", {}, loading()), workers: h("div", {}, loading()), owners: h("div", {}, loading()) };
  // When it last drew: not a live region (a screen reader would read it out every 5 s); only a
  // failure to redraw is announced.
  const updated = h("p", { class: "meta updated" });
  const trouble = h("p", { class: "meta", role: "status" });
  replace(main,
    h("div", { class: "page-head" }, h("h1", {}, "Admin"), h("div", {}, updated, trouble)),
    h("section", { class: "card", "aria-labelledby": "queue-title" }, h("h2", { id: "queue-title" }, "Queue"), boxes.queue),
    h("section", { class: "card", "aria-labelledby": "workers-title" }, h("h2", { id: "workers-title" }, "Workers"), boxes.workers),
    h("section", { class: "card", "aria-labelledby": "owners-title" }, h("h2", { id: "owners-title" }, "Spend per owner"), boxes.owners),
    h("section", { class: "card", "aria-labelledby": "sessions-title" }, h("h2", { id: "sessions-title" }, "Sessions, newest first"), sessions.box));
  const drawRest = async () => {
    const [queue, workers, owners] = await Promise.all([api("/queue"), api("/workers"), api("/owners")]);
    replace(boxes.queue, h("dl", { class: "numbers" },
      ["queued", "running", "sleeping", "waiting"].map((k) => h("div", {}, h("dt", {}, k), h("dd", {}, queue[k])))));
    replace(boxes.workers, workers.length
      ? dataTable(["Worker", "Host", "State", "Heartbeat", "Slots", "Running"], workers.map((w) =>
          [w.name, w.host, w.state, `${w.heartbeat_age_s.toFixed(1)} s ago`, w.concurrency, w.sessions.length]))
      : h("p", { class: "empty" }, "No worker has registered."));
    if (!boxes.owners.contains(document.activeElement)) { // never redraw under a typing admin
      replace(boxes.owners, owners.length
        ? dataTable(["Owner", "Plan", "Spent", "Allowance", "Used", "Builds", "Active", "Top up"], owners.map((o) =>
            [o.owner, o.tier, usd(o.spent_microdollars), usd(o.allowance_microdollars), `${Math.round(o.percent)}%`, o.sessions, o.active, topUp(o.owner, draw)]))
        : h("p", { class: "empty" }, "Nobody has built anything yet."));
    }
  };
  // The sessions draw on their own (as many pages as the admin opened): "Show older sessions"
  // fetches only them, and a redraw keeps the focus where it was.
  const draw = async () => {
    await Promise.all([drawRest(), sessions.draw()]);
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  };
  const tick = async () => {
    try {
      await draw();
      trouble.textContent = "";
    } catch (error) {
      const said = `Not updated: ${problemText(error)}`;
      if (trouble.textContent !== said) trouble.textContent = said;
    }
    setTimeout(tick, 5000);
  };
  await tick();
}
