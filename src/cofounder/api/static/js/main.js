// One shell, one script: the path says which page to draw.
import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { adminPage } from "./pages/admin.js";
import { buildPage } from "./pages/build.js";
import { newProjectPage, projectPage, projectsPage } from "./pages/projects.js";
import { notFound, signInPage } from "./pages/signin.js";

const ROUTES = [
  [/^\/(projects\/?)?$/, projectsPage],
  [/^\/projects\/new$/, newProjectPage],
  [/^\/projects\/([^/]+)$/, projectPage],
  [/^\/builds\/([^/]+)$/, buildPage],
  [/^\/admin$/, adminPage],
];

async function signOut() {
  await fetch("/auth/sign-out", { method: "POST", credentials: "same-origin" });
  location.assign("/sign-in");
}

function drawNav(me) {
  const here = location.pathname;
  const link = (href, text) =>
    h("a", { href, "aria-current": here === href || (href === "/" && here.startsWith("/projects")) ? "page" : null }, text);
  replace(document.getElementById("nav"),
    link("/", "Projects"),
    me.admin ? link("/admin", "Admin") : null,
    h("span", { class: "who" }, me.owner),
    h("button", { type: "button", class: "link", onclick: signOut }, "Sign out"));
}

async function start() {
  const main = document.getElementById("main");
  if (location.pathname === "/sign-in") {
    signInPage(main);
    return;
  }
  const me = await api("/me");
  drawNav(me);
  for (const [pattern, page] of ROUTES) {
    const found = pattern.exec(location.pathname);
    if (found) {
      await page(main, me, ...found.slice(1).map(decodeURIComponent));
      return;
    }
  }
  notFound(main, "There is no such page.");
}

start().catch((error) => {
  if (error && error.status === 401) return; // on its way to sign-in
  replace(document.getElementById("main"),
    h("p", { class: "notice bad", role: "alert" }, error && error.detail ? error.detail : String(error)));
});
