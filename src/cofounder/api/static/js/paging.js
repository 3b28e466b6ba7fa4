// Lists the API hands out a page at a time (a `next_cursor` per page): the first pages, and a
// button that asks for one more. A page that redraws itself (the admin's) asks for as many
// pages as the reader has opened, so "Show more" survives the refresh.
import { api } from "./api.js";
import { dataTable, h, loading, problemText, replaceKeepingFocus } from "./dom.js";

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

// A table of `route`'s items with a "Show more" button under it. A page counts as opened only
// once it has loaded: a failed one leaves the rows as they were, says why, and may be asked
// for again. The button and the live region outlive every redraw, so a keyboard user on the
// button keeps it; after more rows come, focus moves to the first of them (as GOV.UK and WAI
// advise for "load more") and the live region says how many came.
//
// `columns`: the header cells; `cells(item)`: a row's; `key(item)`: what identifies a row
// across redraws; `label`: the button's words; `noun`: [one, many], for "50 more builds shown".
export class PagedTable {
  constructor(route, { columns, cells, key, label, noun, empty }) {
    Object.assign(this, { route, columns, cells, key, label, noun, empty });
    this.pages = 1;
    this.shown = 0;
    this.drawn = null; // the items last drawn, as JSON: an unchanged redraw touches nothing
    this.queue = Promise.resolve(); // draws run one at a time, in the order asked
    this.list = h("div", {}, loading());
    this.button = h("button", { type: "button", class: "secondary more", hidden: true }, label);
    this.error = h("span", { class: "field-error", role: "alert" });
    this.said = h("span", { class: "visually-hidden", role: "status" });
    this.box = h("div", {}, this.list, h("p", { class: "more-row" }, this.button, " ", this.error, this.said));
    this.button.addEventListener("click", () => this.more());
  }

  // Fetch and draw the opened pages (and `extra` more). Resolves once drawn; rejects, with
  // what is shown unchanged, when a page failed to load.
  draw(extra = 0) {
    const run = this.queue.then(() => this.drawNow(extra));
    this.queue = run.catch(() => {});
    return run;
  }

  async drawNow(extra) {
    const pages = this.pages + extra;
    const { items, more } = await firstPages(this.route, pages);
    this.pages = pages;
    this.shown = items.length;
    this.button.hidden = !more;
    const drawn = JSON.stringify(items);
    if (drawn === this.drawn) return;
    this.drawn = drawn;
    // Rows take focus from script only (tabindex -1): the first new one after "Show more",
    // and the same one again after a redraw.
    replaceKeepingFocus(this.list, items.length
      ? dataTable(this.columns, items.map((item) => this.cells(item)),
          (i) => ({ "data-key": this.key(items[i]), tabindex: "-1" }))
      : h("p", { class: "empty" }, this.empty));
  }

  rows() {
    return [...this.list.querySelectorAll("tbody tr")];
  }

  async more() {
    if (this.button.getAttribute("aria-disabled")) return; // already loading
    // aria-disabled, not disabled: a disabled button drops the keyboard focus it holds.
    this.button.setAttribute("aria-disabled", "true");
    this.button.textContent = "Loading…";
    this.error.textContent = "";
    this.said.textContent = "";
    const before = this.shown;
    const had = new Set(this.rows().map((row) => row.dataset.key));
    try {
      await this.draw(1);
      // The new rows follow the ones shown (unless newer ones also came in at the top).
      const came = this.rows().slice(before).filter((row) => !had.has(row.dataset.key));
      this.said.textContent = `${came.length} more ${came.length === 1 ? this.noun[0] : this.noun[1]} shown.`;
      came[0]?.focus();
    } catch (error) {
      this.error.textContent = problemText(error);
    } finally {
      this.button.removeAttribute("aria-disabled");
      this.button.textContent = this.label;
    }
  }
}
