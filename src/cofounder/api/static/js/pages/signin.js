// Sign in with a token (it becomes an HttpOnly cookie), and the page for what is not there.
import { h, replace } from "../dom.js";

function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  // Only a path of this site: never `//elsewhere` or a full URL.
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

export function signInPage(main) {
  document.title = "Sign in · Cofounder";
  const error = h("p", { class: "field-error", id: "token-error", role: "alert" });
  const input = h("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "token-help token-error", spellcheck: "false",
  });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { class: "card narrow", novalidate: true },
    h("h1", {}, "Sign in"),
    h("label", { for: "token" }, "Your access token"),
    input,
    h("p", { class: "help", id: "token-help" }, "It starts with cof_. Ask whoever runs Cofounder for one (cofounder token create)."),
    error,
    button);
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    error.textContent = "";
    button.disabled = true;
    button.textContent = "Signing in…";
    try {
      const response = await fetch("/auth/sign-in", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Cofounder-CSRF": "1" },
        body: JSON.stringify({ token: input.value.trim() }),
      });
      if (response.ok) {
        location.assign(nextPath());
        return;
      }
      error.textContent = response.status === 422 ? "Paste your token first." : "That token is not valid (unknown or revoked).";
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } catch {
      error.textContent = "The server could not be reached. Try again.";
    }
    button.disabled = false;
    button.textContent = "Sign in";
  });
  replace(document.getElementById("nav"));
  replace(main, form);
  input.focus();
}

export function notFound(main, what) {
  document.title = "Not found · Cofounder";
  replace(main, h("section", { class: "card narrow" },
    h("h1", {}, "Not found"),
    h("p", {}, what),
    h("p", {}, h("a", { href: "/" }, "Back to your projects"))));
}
