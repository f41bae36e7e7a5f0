// Web Push on /master: offers reach the phone while this page is closed or the screen is off.
// The service worker (/sw.js) shows what the server pushes; this module registers it on load
// (which asks nothing), and asks for the notification permission only when the master presses
// the button under a sentence saying what it is for. Then it subscribes with the server's VAPID
// key and sends the subscription to POST /api/push/subscriptions; "Turn off" deletes it on the
// server and unsubscribes the browser. Which subscription is this user's on this device is kept
// in localStorage (the server lists ids, not endpoints).

import { request } from "./api.js";
import { catalogue, lang, t } from "./i18n.js";
import { $, act, showNotice } from "./ui.js";

const WORKER = "/sw.js";
const CACHE = "dispatchwire";
const STRINGS = "/sw-strings.json"; // read by sw.js

const supported = () => window.isSecureContext && "serviceWorker" in navigator &&
  "PushManager" in window && "Notification" in window;

function keyBytes(base64url) {
  const text = atob(base64url.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(text, (char) => char.charCodeAt(0));
}

function sameKey(buffer, bytes) {
  if (!buffer) return false;
  const had = new Uint8Array(buffer);
  return had.length === bytes.length && had.every((byte, index) => byte === bytes[index]);
}

/** The service worker's words: the page's language and catalogue, where sw.js finds them. */
async function shareWords() {
  const cache = await caches.open(CACHE);
  await cache.put(STRINGS, new Response(JSON.stringify({ lang, messages: catalogue }),
    { headers: { "Content-Type": "application/json" } }));
}

/** Register the worker (or find it); null where the browser has no Web Push. */
async function registerWorker() {
  if (!supported()) return null;
  try {
    const registration = await navigator.serviceWorker.register(WORKER, { scope: "/" });
    await shareWords();
    return registration;
  } catch (error) {
    console.warn("dispatchwire: no service worker", error);
    return null;
  }
}

export class PushSwitch {
  constructor(session) {
    this.session = session;
    this.key = null;
    this.registration = null;
    this.storageKey = `dispatchwire.push.${session.user.id}`;
    $("#push-toggle").onclick = (event) => act(event.currentTarget, () =>
      (this.state === "on" ? this.turnOff() : this.turnOn()));
  }

  /** This user's subscription on this device, as the server knows it: {id, endpoint}. */
  get record() {
    try {
      return JSON.parse(localStorage.getItem(this.storageKey) ?? "null");
    } catch {
      return null;
    }
  }

  set record(value) {
    if (value) localStorage.setItem(this.storageKey, JSON.stringify(value));
    else localStorage.removeItem(this.storageKey);
  }

  /** Show the card in the state this device is in; hidden where there is no Web Push. */
  async start() {
    this.registration = await registerWorker();
    if (!this.registration) return this.show("unsupported");
    try {
      this.key = keyBytes((await this.session.call("/api/push/vapid-public-key")).publicKey);
    } catch (error) {
      if (error.status === 404) return this.show("unsupported"); // Web Push is off on the server
      throw error;
    }
    return this.show(await this.current());
  }

  async current() {
    if (Notification.permission === "denied") return "blocked";
    const subscription = await this.registration.pushManager.getSubscription();
    const record = this.record;
    if (!subscription || record?.endpoint !== subscription.endpoint) {
      if (record && !subscription) this.record = null; // the browser dropped it
      return "off";
    }
    if (Notification.permission !== "granted") return "off";
    // The server drops a subscription its push service refused, or that another user took
    // over on this device: this user turned it on here, so it is sent again.
    const mine = await this.session.call("/api/push/subscriptions");
    if (!mine.some((saved) => saved.id === record.id)) await this.send(subscription);
    return "on";
  }

  show(state) {
    this.state = state;
    const card = $("#push");
    card.hidden = state === "unsupported";
    card.dataset.state = state;
    const text = { on: "push.isOn", off: "push.ask", blocked: "push.blocked" }[state];
    if (text) $("#push-text").textContent = t(text);
    const button = $("#push-toggle");
    button.hidden = state === "blocked" || state === "unsupported";
    button.textContent = t(state === "on" ? "push.turnOff" : "push.turnOn");
  }

  async turnOn() {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      this.show(permission === "denied" ? "blocked" : "off");
      return;
    }
    const manager = this.registration.pushManager;
    let subscription = await manager.getSubscription();
    if (subscription && !sameKey(subscription.options?.applicationServerKey, this.key)) {
      await subscription.unsubscribe(); // made with another server key: useless now
      subscription = null;
    }
    subscription ??= await manager.subscribe({ userVisibleOnly: true, applicationServerKey: this.key });
    await this.send(subscription);
    this.show("on");
    showNotice(t("push.turnedOn"));
  }

  async send(subscription) {
    const saved = await this.session.call("/api/push/subscriptions", {
      method: "POST", body: { kind: "webpush", ...subscription.toJSON() },
    });
    this.record = { id: saved.id, endpoint: subscription.endpoint };
  }

  async turnOff() {
    await this.forget(this.session.token);
    const subscription = await this.registration.pushManager.getSubscription();
    await subscription?.unsubscribe();
    this.show("off");
    showNotice(t("push.turnedOff"));
  }

  /** Delete this device's subscription on the server (404: already gone) and forget it. */
  async forget(token) {
    const record = this.record;
    if (!record) return;
    try {
      await request(`/api/push/subscriptions/${record.id}`, { method: "DELETE", token });
    } catch (error) {
      if (error.status !== 404) throw error;
    }
    this.record = null;
  }

  /** Logging out: this device stops getting the user's pushes (best effort: the token is
   * going, and a refused one leaves the record for the next log in to find). */
  leave() {
    const token = this.session.token;
    this.forget(token).catch(() => {});
  }
}
