// What the three pages share: building DOM safely, messages, labels, logging in and out.

import { ApiError, Session, request } from "./api.js";
import { formatAgo, formatWhen, has, t } from "./i18n.js";

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

export const APPLIANCES = ["washing_machine", "refrigerator", "dishwasher", "oven"];

/** An appliance type in words; a type the catalogue does not know, as its wire value reads. */
export function applianceLabel(type) {
  if (has(`appliance.${type}`)) return t(`appliance.${type}`);
  const words = String(type).replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function statusLabel(status) {
  return has(`status.${status}`) ? t(`status.${status}`) : status;
}

export function statusBadge(status) {
  return el("span", { class: `badge status-${status}`, dataset: { status } }, statusLabel(status));
}

export const clockTime = formatWhen;
export const ago = formatAgo;

export function phoneLink(phone) {
  if (!phone) return el("span", { class: "muted" }, t("common.noPhone"));
  return el("a", { href: `tel:${phone.replace(/[^+0-9]/g, "")}` }, phone);
}

/** "Address: 12 Baker St", the label muted. */
export function labelled(key, ...value) {
  return [el("span", { class: "label" }, t(key)), " ", ...value];
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
  else showError(error instanceof ApiError ? error.message : t("common.somethingWrong", { error }));
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
  connecting: () => t("connection.connecting"),
  live: () => t("connection.live"),
  polling: ({ pollS, pollFailed }) =>
    t(pollFailed ? "connection.pollingUnreachable" : "connection.polling", { count: pollS }),
  replaced: ({ pollS }) => t("connection.replaced", { count: pollS }),
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
    $("#who").textContent = view === "app"
      ? t("common.who", { name: session.user.name, email: session.user.email }) : "";
    if (view !== "app") hideConnection();
  };
  const logout = (message) => {
    leave();
    session.clear();
    show("login");
    if (message) showError(message);
    else clearError();
  };
  onUnauthorized = () => logout(t("common.sessionExpired"));
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
      throw new ApiError(403, t("common.wrongPage", {
        pageRole: t(`role.${role}.pages`), email: user.email, page: ROLE_PAGES[user.role] ?? "/",
        userRole: has(`role.${user.role}.account`) ? t(`role.${user.role}.account`) : user.role,
      }));
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
      logout(error.status === 401 ? t("common.sessionExpired") : error.message);
      return { session, login, logout };
    }
    showError(error.message); // the server is away: show what we have, the socket retries
  }
  await begin();
  return { session, login, logout };
}
