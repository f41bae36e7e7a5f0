// What the three pages share: building DOM safely, messages, labels, logging in and out.

import { ApiError, Session, request } from "./api.js";

export const $ = (selector, root = document) => root.querySelector(selector);

/** A new element; children that are strings become text (never parsed as HTML). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

export const STATUS_LABELS = {
  new: "Looking for a master", assigned: "Master assigned", in_progress: "In progress",
  completed: "Completed", cancelled: "Cancelled",
};

export const APPLIANCES = ["washing_machine", "refrigerator", "dishwasher", "oven"];

export function applianceLabel(type) {
  const words = String(type).replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function statusBadge(status) {
  return el("span", { class: `badge status-${status}`, dataset: { status } },
    STATUS_LABELS[status] ?? status);
}

export function clockTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour12: false });
}

export function ago(iso, now = Date.now()) {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  return `${Math.floor(seconds / 3600)} h ago`;
}

export function phoneLink(phone) {
  if (!phone) return el("span", { class: "muted" }, "no phone given");
  return el("a", { href: `tel:${phone.replace(/[^+0-9]/g, "")}` }, phone);
}

let noticeTimer = null;
let onUnauthorized = () => {};
let currentSession = null;

export function showError(message) {
  $("#error-text").textContent = message;
  $("#error").hidden = false;
}

export function clearError() {
  $("#error").hidden = true;
}

export function showNotice(message) {
  const box = $("#notice");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

/** The token was refused: back to the login form, saying why. */
export function sessionExpired() {
  onUnauthorized();
}

/** Show an error; a refused token sends the page back to its login form. */
export function handleError(error) {
  if (error instanceof ApiError && error.status === 401 && currentSession?.active) onUnauthorized();
  else showError(error instanceof ApiError ? error.message : `Something went wrong: ${error}`);
}

/** Run an action of a button: the button is disabled meanwhile, errors are shown. */
export async function act(button, action) {
  clearError();
  if (button) button.disabled = true;
  try {
    await action();
  } catch (error) {
    handleError(error);
  } finally {
    if (button) button.disabled = false;
  }
}

const CONNECTION_TEXT = {
  connecting: () => "Connecting…",
  live: () => "Live",
  polling: ({ pollS, pollFailed }) =>
    `Offline: polling every ${pollS} s${pollFailed ? " (server unreachable)" : ""}, reconnecting…`,
  replaced: ({ pollS }) => `Paused: this account went live in another tab; polling every ${pollS} s`,
};

/** The connection indicator in the top bar. */
export function showConnection(state, info = {}) {
  const box = $("#connection");
  box.hidden = false;
  box.dataset.state = state;
  $("#connection-text").textContent = CONNECTION_TEXT[state]?.(info) ?? state;
  $("#reconnect").hidden = !["polling", "replaced"].includes(state);
}

export function hideConnection() {
  $("#connection").hidden = true;
}

const ROLE_PAGES = { client: "/", master: "/master", admin: "/admin" };

/**
 * Log in, keep the session across reloads, log out. `enter(session)` fills the page for the
 * logged-in user; `leave()` stops what it started. Returns { session, login, logout }.
 */
export async function startPage({ page, role, enter, leave }) {
  const session = new Session(page);
  currentSession = session;
  const show = (view) => {
    $("#login-view").hidden = view !== "login";
    $("#app-view").hidden = view !== "app";
    $("#account").hidden = view !== "app";
    $("#who").textContent = view === "app" ? `${session.user.name} (${session.user.email})` : "";
    if (view !== "app") hideConnection();
  };
  const logout = (message) => {
    leave();
    session.clear();
    show("login");
    if (message) showError(message);
    else clearError();
  };
  onUnauthorized = () => logout("Your session has expired or is no longer valid: log in again.");
  const begin = async () => {
    show("app");
    try {
      await enter(session);
    } catch (error) {
      handleError(error);
    }
  };
  const login = async (token, user) => {
    if (user.role !== role) {
      const elsewhere = ROLE_PAGES[user.role] ?? "/";
      throw new ApiError(403, `This page is for ${role}s; ${user.email} is a ${user.role} ` +
        `account: use the page at ${elsewhere} instead.`);
    }
    session.save(token, user);
    clearError();
    await begin();
  };
  const form = $("#login-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(form.querySelector("button[type=submit]"), async () => {
      const fields = new FormData(form);
      const data = await request("/api/auth/login", {
        method: "POST", body: { email: fields.get("email"), password: fields.get("password") },
      });
      await login(data.token, data.user);
      form.reset();
    });
  });
  $("#logout").addEventListener("click", () => logout());
  $("#error-close").addEventListener("click", clearError);
  if (!session.active) {
    show("login");
    return { session, login, logout };
  }
  try {
    const user = await session.call("/api/auth/me");
    session.save(session.token, user);
  } catch (error) {
    if (error instanceof ApiError && error.status !== 0 && error.status < 500) {
      logout(error.status === 401
        ? "Your session has expired or is no longer valid: log in again." : error.message);
      return { session, login, logout };
    }
    showError(error.message); // the server is away: show what we have, the socket retries
  }
  await begin();
  return { session, login, logout };
}
