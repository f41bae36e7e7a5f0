// The pages' service worker, served at /sw.js (scope /). It shows what the server pushes while
// /master is closed or the phone asleep (DESIGN.md, "Push when the socket is not there"); each
// push's data is the socket frame's JSON text:
//   new_assignment        the offer as a notification (appliance, problem, address, time left),
//                         tag "assignment-<id>"; a tap opens or focuses /master
//   assignment_expired    the offer ended other than by the master's answer: its notification
//                         goes; if no /master page is in sight, a quiet line says it ended, in
//                         the same place (browsers count a push that shows nothing against the
//                         site, and may drop its subscription)
//   order_status_update   a status of one of the user's orders, tag "order-<id>"
// The words come from the page's catalogue (i18n-<lang>.js): /master stores its language and
// messages in the Cache Storage entry below each time it loads (push.js). A classic script, no
// imports: module service workers are not everywhere yet.

const CACHE = "dispatchwire";
const STRINGS = "/sw-strings.json";
const PAGE = "/master";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

async function loadWords() {
  try {
    const stored = await (await caches.open(CACHE)).match(STRINGS);
    if (stored) return await stored.json();
  } catch {
    // no Cache Storage here: the fallbacks below
  }
  return { lang: "en", messages: {} };
}

/** `t(key, params)` over the stored catalogue; `fallback` where it has no such key. */
function translator({ lang, messages }) {
  const plurals = new Intl.PluralRules(lang);
  return (key, params = {}, fallback = "") => {
    let text = messages?.[key];
    if (text === undefined) return fallback;
    if (typeof text === "object") text = text[plurals.select(params.count)] ?? text.other;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  };
}

function applianceName(t, type) {
  const words = String(type).replaceAll("_", " ");
  return t(`appliance.${type}`, {}, words.charAt(0).toUpperCase() + words.slice(1));
}

function countdown(seconds) {
  const whole = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function offerNotice(t, lang, offer) {
  const deadline = new Date(offer.expiresAt);
  const clock = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const left = t("push.answerWithin", {
    time: countdown((deadline.getTime() - Date.now()) / 1000), clock: clock.format(deadline),
  });
  const appliance = applianceName(t, offer.applianceType);
  return [t("push.offerTitle", { appliance }, appliance), {
    body: [offer.problem, offer.address, left].filter(Boolean).join("\n"),
    tag: `assignment-${offer.id}`, renotify: true, requireInteraction: true,
    timestamp: Date.parse(offer.createdAt) || Date.now(), icon: "/static/icon.svg",
    vibrate: [200, 100, 200, 100, 200],
    data: { url: PAGE, kind: "offer", assignmentId: offer.id, orderId: offer.orderId },
  }];
}

const ENDINGS = {
  timeout: "push.endedTimeout", undelivered: "push.endedUndelivered",
  withdrawn: "push.endedWithdrawn", taken: "push.endedTaken",
};

async function pageInSight() {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  return windows.some((client) => new URL(client.url).pathname === PAGE && client.visibilityState === "visible");
}

async function offerEnded(t, frame) {
  const tag = `assignment-${frame.assignmentId}`;
  const shown = await self.registration.getNotifications({ tag });
  for (const notice of shown) notice.close();
  if (await pageInSight()) return; // the page shows it; nothing to replace the notice with
  const orderId = shown[0]?.data?.orderId;
  const title = orderId === undefined ? t("push.endedTitle") : t("push.endedTitleOrder", { orderId });
  await self.registration.showNotification(title || "dispatchwire", {
    body: t(ENDINGS[frame.reason] ?? "push.endedOther"), tag, silent: true,
    icon: "/static/icon.svg", data: { url: PAGE, kind: "ended", assignmentId: frame.assignmentId },
  });
}

async function statusNotice(t, frame) {
  const title = t("common.orderNumber", { id: frame.orderId }, `#${frame.orderId}`);
  await self.registration.showNotification(title, {
    body: t(`status.${frame.status}`, {}, frame.status), tag: `order-${frame.orderId}`,
    icon: "/static/icon.svg", data: { url: PAGE, kind: "status", orderId: frame.orderId },
  });
}

async function show(frame) {
  const words = await loadWords();
  const t = translator(words);
  if (frame?.type === "new_assignment") {
    await self.registration.showNotification(...offerNotice(t, words.lang, frame.assignment));
  } else if (frame?.type === "assignment_expired") {
    await offerEnded(t, frame);
  } else if (frame?.type === "order_status_update") {
    await statusNotice(t, frame);
  } else {
    await self.registration.showNotification("dispatchwire", { tag: "dispatchwire", data: { url: PAGE } });
  }
}

self.addEventListener("push", (event) => {
  let frame = null;
  try {
    frame = event.data?.json() ?? null;
  } catch {
    // not JSON: shown as the plain notice above
  }
  event.waitUntil(show(frame));
});

async function openPage(url) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).pathname === new URL(url, self.location).pathname);
  if (open) return open.focus();
  return self.clients.openWindow(url);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openPage(event.notification.data?.url ?? PAGE));
});
