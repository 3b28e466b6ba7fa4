// Lists the API hands out a page at a time (a `next_cursor` per page): the first pages, and a
// button that asks for one more. A page that redraws itself (the admin's) asks for as many
// pages as the reader has opened, so "Show more" survives the refresh.
import { api } from "./api.js";
import { h, problemText } from "./dom.js";

export const PAGE_SIZE = 50;

// The items of the first `pages` pages of `route`, and whether more follow.
export async function firstPages(route, pages) {
  const items = [];
  let cursor = null;
  for (let n = 0; n < pages; n++) {
    const sep = route.includes("?") ? "&" : "?";
    const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const page = await api(`${route}${sep}limit=${PAGE_SIZE}${after}`);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return { items, more: Boolean(cursor) };
}

// "Show more" that runs `more()` (which redraws), saying so while it works and why it failed.
export function moreButton(label, more) {
  const note = h("span", { class: "meta", role: "status" });
  const button = h("button", { type: "button", class: "secondary more" }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Loading…";
    note.textContent = "";
    try {
      await more();
    } catch (error) {
      note.textContent = problemText(error);
      button.disabled = false;
      button.textContent = label;
    }
  });
  return h("p", { class: "more-row" }, button, " ", note);
}
