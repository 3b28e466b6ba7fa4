// The public API under /api/v1, through the sign-in cookie. Every change carries the header
// the server asks of cookie-authenticated changes (no other site's form can send it).

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.detail = (problem && problem.detail) || this.message;
    this.errors = (problem && problem.errors) || [];
  }
}

export function toSignIn() {
  const back = location.pathname + location.search;
  location.assign(`/sign-in?next=${encodeURIComponent(back)}`);
}

export function path(strings, ...ids) {
  return strings.reduce((out, part, n) => out + part + (n < ids.length ? encodeURIComponent(ids[n]) : ""), "");
}

export async function api(route, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-Cofounder-CSRF"] = "1";
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/v1${route}`, init);
  } catch {
    throw new ApiError(0, { detail: "The server could not be reached. Check your connection and try again." });
  }
  if (response.status === 401) {
    toSignIn();
    throw new ApiError(401, { detail: "Please sign in again." });
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: `The server answered ${response.status}.` };
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
