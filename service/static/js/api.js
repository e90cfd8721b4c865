// Requests to the service (same origin: the session cookie goes with them) and small HTML helpers.

export class ApiError extends Error {
  constructor(message, status, fields) { super(message); this.status = status; this.fields = fields; }
}

// A 4xx/5xx becomes an ApiError whose message is the server's; a 422 also maps each field to its message.
export async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const fields = {};
    let message = body.detail || body.error || response.statusText;
    if (Array.isArray(body.detail)) {
      for (const item of body.detail) fields[item.loc.filter((part) => part !== "body").join(".")] = item.msg;
      message = body.detail.map((item) => `${item.loc.filter((part) => part !== "body").join(".")}: ${item.msg}`).join("; ");
    }
    throw new ApiError(message, response.status, fields);
  }
  return body;
}

export const postJson = (path, body, method = "POST") =>
  api(path, {method, headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});

const ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};
export const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);

export const pct = (x, digits = 2) => (x === null || x === undefined ? "" : (100 * x).toFixed(digits) + "%");

export function element(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

// A view's failure is shown in the view, with the server's own words: never a blank page.
export function showError(root, error) {
  root.innerHTML = `<section><p class="error" role="alert">${esc(error.message || error)}</p>
    <p><a href="#/jobs">Back to the jobs</a></p></section>`;
}

let spec = null;
export async function getSpec() { return spec ??= await api("/spec"); }
