// Elements built from data. Text always becomes a text node and is never parsed as HTML:
// model output, file names and project fields reach this page, and all of them are data.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  return append(el, children);
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// A table whose cells carry their column's name (data-label): on a phone each row is drawn
// as a small card of "name: value" lines instead of a table wider than the screen.
export function dataTable(columns, rows, rowProps = () => ({})) {
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((cells, i) =>
      h("tr", rowProps(i), cells.map((c, j) => h("td", { "data-label": columns[j] }, c))))));
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// What names a control across a redraw: its data-key, its id, or a link's address.
function focusKey(el) {
  if (el.dataset.key) return `key ${el.dataset.key}`;
  if (el.id) return `id ${el.id}`;
  if (el.tagName === "A") return `href ${el.getAttribute("href")}`;
  return null;
}

// `replace`, keeping the keyboard focus on the same control (found again by `focusKey`): a
// page that redraws itself must not drop a keyboard user back to the top of the page.
export function replaceKeepingFocus(el, ...children) {
  const had = el.contains(document.activeElement) ? focusKey(document.activeElement) : null;
  replace(el, ...children);
  if (had) [...el.querySelectorAll("[data-key], [id], a[href]")].find((c) => focusKey(c) === had)?.focus({ preventScroll: true });
  return el;
}

// Only web links become hrefs: a `javascript:` URL from anywhere is shown, never followed.
export function safeUrl(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
}

export function loading(what = "Loading…") {
  return h("p", { class: "loading", role: "status" }, what);
}

export function problemText(error) {
  return error && error.detail ? error.detail : "Something went wrong. Please try again.";
}
