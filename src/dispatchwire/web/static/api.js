// REST calls to the public API, the messages shown for their errors, and the stored session.
// The server's `detail` is shown in its own (English) words: it is the API's; what the page
// adds around it (a field's name, a message for a bare status) is in the page's language.

import { has, t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status; // 0 when the server could not be reached
  }
}

function sentence(text) {
  const capitalized = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capitalized) ? capitalized : `${capitalized}.`;
}

function describeField(item) {
  const loc = (item?.loc ?? []).filter((part) => !["body", "query", "path"].includes(part));
  const message = String(item?.msg ?? t("field.invalid")).replace(/^Value error, /, "");
  if (!loc.length) return message;
  const field = has(`field.${loc[0]}`) ? t(`field.${loc[0]}`) : loc.join(".");
  return t("field.error", { field, message });
}

/** The text to show for an error response: the server's own words when it gave some. */
export function describeError(status, detail) {
  if (typeof detail === "string" && detail) return sentence(detail);
  if (Array.isArray(detail) && detail.length) return sentence(detail.map(describeField).join("; "));
  if (status >= 500) return t("http.serverFailed", { status: String(status) });
  return has(`http.${status}`) ? t(`http.${status}`) : t("http.failed", { status: String(status) });
}

// The server's clock minus ours, from the Date header; used only when clearly off (> 1.5 s),
// as the header has one-second resolution.
let clockOffsetMs = 0;

function noteServerClock(dateHeader) {
  const serverMs = Date.parse(dateHeader ?? "");
  if (Number.isNaN(serverMs)) return;
  const offset = serverMs + 500 - Date.now();
  clockOffsetMs = Math.abs(offset) > 1500 ? offset : 0;
}

/** Now, on the server's clock, in milliseconds. */
export function serverNow() {
  return Date.now() + clockOffsetMs;
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Call the API; resolves to the JSON body, or rejects with an ApiError holding a clear message. */
export async function request(path, { method = "GET", body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method, headers, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, t("http.unreachable"));
  }
  noteServerClock(response.headers.get("Date"));
  const data = await readJson(response);
  if (!response.ok) throw new ApiError(response.status, describeError(response.status, data?.detail));
  return data;
}

/** The token and user of one page, kept in localStorage so a reload or a new tab stays logged in. */
export class Session {
  constructor(page) {
    this.key = `dispatchwire.${page}.session`;
    this.token = null;
    this.user = null;
    try {
      const stored = JSON.parse(localStorage.getItem(this.key) ?? "null");
      if (stored?.token && stored?.user) Object.assign(this, { token: stored.token, user: stored.user });
    } catch {
      localStorage.removeItem(this.key);
    }
  }

  get active() {
    return Boolean(this.token);
  }

  save(token, user) {
    Object.assign(this, { token, user });
    localStorage.setItem(this.key, JSON.stringify({ token, user }));
  }

  clear() {
    Object.assign(this, { token: null, user: null });
    localStorage.removeItem(this.key);
  }

  /** `request` with this session's token. */
  call(path, options = {}) {
    return request(path, { ...options, token: this.token });
  }
}
