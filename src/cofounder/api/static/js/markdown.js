// The documentation the agent wrote, as Markdown made into elements — a small subset
// (headings, paragraphs, lists, quotes, code, emphasis, links) that never goes through HTML.
import { h } from "./dom.js";

const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*|_[^_\s][^_]*_)|(\[[^\]]+\]\([^)\s]+\))/;

function inline(text) {
  const out = [];
  let rest = text;
  while (rest) {
    const found = INLINE.exec(rest);
    if (!found) {
      out.push(rest);
      break;
    }
    if (found.index) out.push(rest.slice(0, found.index));
    const token = found[0];
    if (found[1]) out.push(h("code", {}, token.slice(1, -1)));
    else if (found[2]) out.push(h("strong", {}, inline(token.slice(2, -2))));
    else if (found[3]) out.push(h("em", {}, inline(token.slice(1, -1))));
    else {
      const [, label, url] = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(token);
      const href = /^(https?:|mailto:)/i.test(url) ? url : null;
      out.push(href ? h("a", { href, rel: "noopener noreferrer", target: "_blank" }, label) : label);
    }
    rest = rest.slice(found.index + token.length);
  }
  return out;
}

export function markdown(source) {
  const root = h("div", { class: "markdown" });
  const lines = String(source || "").replace(/\r\n?/g, "\n").split("\n");
  let n = 0;
  while (n < lines.length) {
    const line = lines[n];
    if (/^\s*```/.test(line)) {
      const code = [];
      for (n += 1; n < lines.length && !/^\s*```/.test(lines[n]); n += 1) code.push(lines[n]);
      root.append(h("pre", {}, h("code", {}, code.join("\n"))));
      n += 1;
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      const level = Math.min(6, heading[1].length + 2); // the page's own h1/h2 come first
      root.append(h(`h${level}`, {}, inline(heading[2])));
      n += 1;
      continue;
    }
    const list = /^\s*([-*+]|\d+[.)])\s+/.exec(line);
    if (list) {
      const ordered = /\d/.test(list[1]);
      const items = h(ordered ? "ol" : "ul");
      while (n < lines.length && /^\s*([-*+]|\d+[.)])\s+/.test(lines[n])) {
        items.append(h("li", {}, inline(lines[n].replace(/^\s*([-*+]|\d+[.)])\s+/, ""))));
        n += 1;
      }
      root.append(items);
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quote = [];
      for (; n < lines.length && /^\s*>/.test(lines[n]); n += 1) quote.push(lines[n].replace(/^\s*>\s?/, ""));
      root.append(h("blockquote", {}, inline(quote.join(" "))));
      continue;
    }
    if (!line.trim()) {
      n += 1;
      continue;
    }
    const para = [];
    for (; n < lines.length && lines[n].trim() && !/^(#{1,6}\s|\s*```|\s*([-*+]|\d+[.)])\s|\s*>)/.test(lines[n]); n += 1) {
      para.push(lines[n].trim());
    }
    if (!para.length) para.push(lines[n++].trim()); // never stall on a line no rule took
    root.append(h("p", {}, inline(para.join(" "))));
  }
  return root;
}
