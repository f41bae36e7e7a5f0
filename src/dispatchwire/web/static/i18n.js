// The pages' language: chosen once per load, messages from i18n-<lang>.js, numbers, times and
// plurals through the browser's Intl. How to add a message: the header of i18n-en.js.
//
// The language: `?lang=ru|en` (then remembered), else the remembered choice, else the first
// of navigator.languages that is Russian or English, else English. The switch in the top bar
// loads the page again with `?lang=`: the session and the socket resume as after any reload.

import en from "./i18n-en.js";
import ru from "./i18n-ru.js";

const CATALOGUES = { en, ru };
export const LANGUAGES = Object.keys(CATALOGUES);
const STORAGE_KEY = "dispatchwire.lang";
// Text set from the catalogue on elements carrying these attributes (see translatePage).
const ATTRIBUTES = ["placeholder", "aria-label", "title", "value"];

function supported(code) {
  const primary = String(code ?? "").toLowerCase().split(/[-_]/)[0];
  return LANGUAGES.includes(primary) ? primary : null;
}

function stored() {
  try {
    return supported(localStorage.getItem(STORAGE_KEY));
  } catch {
    return null; // storage refused (privacy settings): the choice lasts for this load only
  }
}

function remember(code) {
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    // as above
  }
}

function chooseLanguage() {
  const asked = supported(new URLSearchParams(location.search).get("lang"));
  if (asked) {
    remember(asked);
    return asked;
  }
  const browser = (navigator.languages?.length ? navigator.languages : [navigator.language])
    .map(supported).find(Boolean);
  return stored() ?? browser ?? "en";
}

export const lang = chooseLanguage();
const messages = CATALOGUES[lang];
/** The messages of the page's language (the service worker gets them: push.js). */
export const catalogue = messages;
const plurals = new Intl.PluralRules(lang);
const numbers = new Intl.NumberFormat(lang, { maximumFractionDigits: 2 });

/** Whether the catalogue has `key` (for keys made from data, such as appliance types). */
export function has(key) {
  return Object.hasOwn(messages, key);
}

function template(key, params) {
  let value = messages[key];
  if (value === undefined) {
    console.warn("dispatchwire: no message", key, "in", lang);
    return key;
  }
  if (typeof value === "object") value = value[plurals.select(params.count)] ?? value.other;
  return value;
}

// Ids (`{id}`, `{orderId}`) stay as they are; other numbers are formatted for the language.
function show(name, value) {
  return typeof value === "number" && !/id$/i.test(name) ? numbers.format(value) : String(value);
}

/**
 * The message `key` with its `{placeholders}` filled from `params`; a message with plural
 * forms picks the one for `params.count`.
 */
export function t(key, params = {}) {
  return template(key, params).replace(/\{(\w+)\}/g, (whole, name) =>
    name in params ? show(name, params[name]) : whole);
}

/** As `t`, but parameters may be DOM nodes (a link, a bold name): a list of strings and nodes. */
export function tNodes(key, params = {}) {
  return template(key, params).split(/(\{\w+\})/).filter(Boolean).map((part) => {
    const name = part.match(/^\{(\w+)\}$/)?.[1];
    if (!name || !(name in params)) return part;
    return params[name] instanceof Node ? params[name] : show(name, params[name]);
  });
}

export function formatNumber(value) {
  return numbers.format(value);
}

const clock = new Intl.DateTimeFormat(lang, {
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
});
const dated = new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "short", hourCycle: "h23" });

/** A moment: the time of day if it is today, the date and time otherwise. */
export function formatWhen(iso, now = new Date()) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toDateString() === now.toDateString() ? clock.format(date) : dated.format(date);
}

const relative = new Intl.RelativeTimeFormat(lang, { numeric: "always", style: "short" });

/** How long ago `iso` was, in the largest whole unit: "5 sec. ago", "5 сек. назад". */
export function formatAgo(iso, now = Date.now()) {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return relative.format(-seconds, "second");
  if (seconds < 3600) return relative.format(-Math.floor(seconds / 60), "minute");
  if (seconds < 86400) return relative.format(-Math.floor(seconds / 3600), "hour");
  return relative.format(-Math.floor(seconds / 86400), "day");
}

const metres = new Intl.NumberFormat(lang, { style: "unit", unit: "meter", maximumFractionDigits: 0 });
const kilometres = new Intl.NumberFormat(lang, { style: "unit", unit: "kilometer", maximumFractionDigits: 1 });

/** A distance for people: "350 m", "1.2 km" ("350 м", "1,2 км"). */
export function formatDistance(meters) {
  if (meters < 1000) return metres.format(Math.round(meters / 10) * 10);
  return kilometres.format(meters < 100_000 ? meters / 1000 : Math.round(meters / 1000));
}

/** A countdown of whole seconds as m:ss (the same in both languages). */
export function formatCountdown(seconds) {
  const whole = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

const seconds = new Intl.NumberFormat(lang, { style: "unit", unit: "second", unitDisplay: "short", maximumFractionDigits: 1 });
const minutes = new Intl.NumberFormat(lang, { style: "unit", unit: "minute", unitDisplay: "short" });
const hours = new Intl.NumberFormat(lang, { style: "unit", unit: "hour", unitDisplay: "short" });
const days = new Intl.NumberFormat(lang, { style: "unit", unit: "day", unitDisplay: "short" });

/** A length of time for people, in its two largest units: "4.2 sec", "2 min 5 sec", "1 hr 3 min"
 * ("4,2 с", "2 мин 5 с", "1 ч 3 мин"). */
export function formatDuration(total) {
  const value = Math.max(0, total);
  if (value < 10) return seconds.format(Math.round(value * 10) / 10);
  const whole = Math.round(value);
  const pair = (big, bigUnit, small, smallUnit) =>
    (small ? `${bigUnit.format(big)} ${smallUnit.format(small)}` : bigUnit.format(big));
  if (whole < 60) return seconds.format(whole);
  if (whole < 3600) return pair(Math.floor(whole / 60), minutes, whole % 60, seconds);
  if (whole < 86400) return pair(Math.floor(whole / 3600), hours, Math.floor((whole % 3600) / 60), minutes);
  return pair(Math.floor(whole / 86400), days, Math.floor((whole % 86400) / 3600), hours);
}

const lists = new Intl.ListFormat(lang, { type: "conjunction" });

export function formatList(items) {
  return lists.format(items);
}

/** Fill the static text: `data-i18n="key"` sets the text, `data-i18n-<attribute>` an attribute. */
export function translatePage(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const attribute of ATTRIBUTES) {
    for (const node of root.querySelectorAll(`[data-i18n-${attribute}]`)) {
      node.setAttribute(attribute, t(node.getAttribute(`data-i18n-${attribute}`)));
    }
  }
}

/** Load the page again in `code`: the address says it (so it holds even where storage is
 * refused), and chooseLanguage remembers it. */
export function setLanguage(code) {
  if (!supported(code) || code === lang) return;
  const url = new URL(location.href);
  url.searchParams.set("lang", code);
  location.replace(url);
}

/** The switch in the top bar: one button per language, named in that language. */
function setupSwitch(box) {
  box.replaceChildren(...LANGUAGES.map((code) => {
    const name = t(`lang.${code}`); // each language by its own name, on every page
    const button = document.createElement("button");
    Object.assign(button, { type: "button", className: "link", lang: code, title: name });
    button.textContent = code.toUpperCase();
    button.setAttribute("aria-label", name);
    button.setAttribute("aria-pressed", String(code === lang));
    button.addEventListener("click", () => setLanguage(code));
    return button;
  }));
}

document.documentElement.lang = lang;
translatePage();
for (const box of document.querySelectorAll("[data-lang-switch]")) setupSwitch(box);
