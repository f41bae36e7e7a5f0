// /admin: the dispatch board. Orders that need a human at the top (live: the admin's socket
// gets `order_needs_attention`), then the orders waiting for a master with who holds their
// offers, today's figures, the masters, all orders, a test order, the connections. Everything
// is read again every `refreshS` seconds (2), today's figures every `figuresS` (10), and at
// once on any event of the admin's socket.

import { serverNow } from "./api.js";
import { t } from "./i18n.js";
import { CardList, boardItems } from "./admin-board.js";
import { Directory } from "./admin-directory.js";
import { renderFigures, startOfToday } from "./admin-figures.js";
import { MastersTable } from "./admin-masters.js";
import { OfferPicker } from "./admin-offer.js";
import { TimelineDialog } from "./admin-timeline.js";
import { LiveSocket, timings } from "./socket.js";
import {
  $, APPLIANCES, act, ago, applianceLabel, clockTime, el, handleError, sessionExpired, showConnection,
  showNotice, startPage, statusBadge,
} from "./ui.js";

const times = timings({ refreshS: 2, figuresS: 10 });
const NOTICE = { declined: "board.notice.declined", waiting: "board.notice.waiting", no_master: "board.notice.noMaster" };
const directory = new Directory();
const state = {
  session: null, socket: null, timer: null, ticker: null, running: null, again: false, force: false,
  rows: new Map(), heard: new Map(), figures: null, figuresAt: 0,
  timeline: null, masters: null, attention: null, waiting: null, // made once, below
};

const yesNo = (value) => el("span", { class: `flag ${value ? "yes" : "no"}` }, t(value ? "admin.yes" : "admin.no"));

// What the lists' buttons do.
const actions = {
  timeline: (orderId) => state.timeline.open(orderId).catch(handleError),
  offer: (orderId, masterId) => refreshAfter(() => state.session.call("/api/admin/assignments", {
    method: "POST", body: { orderId, masterId },
  })),
  cancel: async (orderId, button) => {
    if (button && button.dataset.confirm !== "yes") { // a second click within 4 s confirms
      const label = button.textContent;
      button.dataset.confirm = "yes";
      button.textContent = t("board.cancelConfirm");
      setTimeout(() => { delete button.dataset.confirm; button.textContent = label; }, 4000);
      return;
    }
    await refreshAfter(async () => {
      await state.session.call(`/api/orders/${orderId}/status`, { method: "POST", body: { status: "cancelled" } });
      showNotice(t("common.orderCancelled", { id: orderId }));
    });
  },
};

function renderSockets(stats) {
  for (const key of ["totalConnected", "totalSubscribed", "activeSubscriptions", "onShiftSubscriptions"]) {
    $(`[data-stat=${key}]`).textContent = String(stats[key]);
  }
  const rows = stats.subscriptions.map((sub) => el("tr", { dataset: { masterId: sub.masterId } },
    el("td", {}, directory.masterName(sub.masterId)), el("td", {}, t("common.idNumber", { id: sub.userId })),
    el("td", {}, yesNo(sub.subscribed)), el("td", {}, yesNo(sub.onShift)),
    el("td", { title: sub.lastPing }, ago(sub.lastPing, serverNow())), el("td", {}, yesNo(sub.isActive))));
  $("#subscriptions").replaceChildren(...rows);
  $("#subscriptions-empty").hidden = rows.length > 0;
}

function orderActions(order, row) {
  const parts = [el("button", {
    type: "button", class: "small secondary", onclick: () => actions.timeline(order.id),
  }, t("board.showTimeline"))];
  row.picker = null;
  if (order.status === "new") {
    row.picker = new OfferPicker({ order, directory, offer: actions.offer });
    parts.unshift(row.picker.element);
  }
  if (["new", "assigned"].includes(order.status)) {
    const cancel = el("button", {
      type: "button", class: "small secondary", onclick: () => act(cancel, () => actions.cancel(order.id)),
    }, t("admin.cancel"));
    parts.push(cancel);
  }
  return parts;
}

/** Refresh after an action whether it worked or not: a refusal often means the page is stale. */
async function refreshAfter(action) {
  try {
    return await action();
  } finally {
    await refresh();
  }
}

/** A name, and under it the phone, kept on one line. */
function contact(person) {
  if (!person) return [];
  const phone = person.phone && el("span", { class: "phone muted" }, person.phone);
  return phone ? [person.name, phone] : [person.name];
}

/** Rows are kept and updated in place, so a master being chosen survives the refreshes. */
function renderOrders(orders) {
  const body = $("#orders");
  const seen = new Set();
  orders.forEach((order, index) => {
    seen.add(order.id);
    let row = state.rows.get(order.id);
    if (!row) {
      row = { tr: el("tr", { dataset: { orderId: order.id } }), status: null };
      row.cells = ["id", "placed", "appliance", "problem", "address", "client", "master", "status", "actions"]
        .map((name) => el("td", { class: `col-${name}` }));
      row.tr.append(...row.cells);
      state.rows.set(order.id, row);
    }
    const [id, placed, appliance, problem, address, client, master, status, acts] = row.cells;
    id.replaceChildren(el("button", { type: "button", class: "link order-link", onclick: () => actions.timeline(order.id) },
      t("common.idNumber", { id: order.id })));
    placed.textContent = clockTime(order.createdAt);
    appliance.textContent = applianceLabel(order.applianceType);
    problem.textContent = order.problem;
    address.textContent = order.address;
    client.replaceChildren(...contact(order.client));
    master.replaceChildren(...contact(order.master));
    if (row.status !== order.status) {
      row.status = order.status;
      row.tr.dataset.status = order.status;
      status.replaceChildren(statusBadge(order.status));
      acts.replaceChildren(el("div", { class: "row-actions" }, orderActions(order, row)));
    }
    row.picker?.update();
    if (body.children[index] !== row.tr) body.insertBefore(row.tr, body.children[index] ?? null);
  });
  for (const [id, row] of state.rows) {
    if (!seen.has(id)) { row.tr.remove(); state.rows.delete(id); }
  }
  $("#orders-empty").hidden = orders.length > 0;
}

/** Today's figures and the appliance types: read every `figuresS`, or when asked. */
async function loadFigures(session, force) {
  if (!force && state.figures && Date.now() - state.figuresAt < times.figuresS * 1000) return state.figures;
  const since = encodeURIComponent(startOfToday());
  const [stats, acceptTimes, types] = await Promise.all([
    session.call(`/api/admin/dispatch/stats?since=${since}`),
    session.call(`/api/admin/dispatch/accept-times?since=${since}`),
    session.call("/api/appliance-types"),
  ]);
  Object.assign(state, { figures: { stats, acceptTimes, types }, figuresAt: Date.now() });
  return state.figures;
}

async function load(force) {
  const session = state.session;
  if (!session) return;
  const since = encodeURIComponent(startOfToday());
  const [sockets, orders, attention, waiting, masters, assigned, working, figures] = await Promise.all([
    session.call("/api/admin/websocket/stats"), session.call("/api/orders?limit=50"),
    session.call("/api/orders?needsAttention=true&limit=100"), session.call("/api/admin/dispatch/waiting"),
    session.call(`/api/admin/masters?since=${since}`),
    session.call("/api/orders?status=assigned&limit=500"), session.call("/api/orders?status=in_progress&limit=500"),
    loadFigures(session, force),
  ]);
  if (session !== state.session) return;
  directory.update({ me: session.user, masters, waiting, jobs: [...assigned, ...working], types: figures.types });
  const { urgent, rest } = boardItems({ attention, waiting, heard: state.heard });
  state.attention.render(urgent);
  state.waiting.render(rest);
  state.masters.render(masters, figures.stats.masters);
  state.masters.renderTypes(figures.types);
  renderFigures(figures.stats, figures.acceptTimes);
  renderOrders(orders);
  renderSockets(sockets);
  // What the socket told of orders no longer waiting is forgotten.
  for (const id of state.heard.keys()) if (!urgent.some((item) => item.id === id)) state.heard.delete(id);
  if (state.timeline.isOpen) {
    await state.timeline.refresh().catch((error) => console.warn("dispatchwire: timeline not read again", error));
  }
}

/** Read everything again; a call while one runs makes it run once more when it is done. */
function refresh(force = false) {
  if (state.running) {
    state.again = true;
    state.force ||= force;
    return state.running;
  }
  state.running = (async () => {
    do {
      state.again = false;
      const forced = force || state.force;
      state.force = false;
      try {
        await load(forced);
        $("#refreshed").dataset.state = "ok";
        $("#refreshed").textContent = t("admin.updated", { time: clockTime(new Date()), count: times.refreshS });
      } catch (error) {
        if (error.status === 401) handleError(error);
        $("#refreshed").dataset.state = "failed";
        $("#refreshed").textContent = t("admin.notUpdated", { error: error.message });
      }
    } while (state.again && state.session);
  })().finally(() => { state.running = null; });
  return state.running;
}

function onEvent(frame) {
  if (frame.type === "order_needs_attention") {
    const reasons = state.heard.get(frame.orderId) ?? new Set();
    reasons.add(frame.reason);
    state.heard.set(frame.orderId, reasons);
    showNotice(t(NOTICE[frame.reason] ?? "board.notice.other", { orderId: frame.orderId }));
  }
  refresh(true);
}

async function createOrder(form) {
  const fields = new FormData(form);
  const order = await state.session.call("/api/orders", {
    method: "POST",
    body: { applianceType: fields.get("applianceType"), problem: fields.get("problem"), address: fields.get("address") },
  });
  showNotice(t("admin.created", { id: order.id }));
}

function leave() {
  clearTimeout(state.timer);
  clearInterval(state.ticker);
  state.socket?.stop();
  state.timeline.close();
  state.attention.clear();
  state.waiting.clear();
  Object.assign(state, {
    session: null, socket: null, timer: null, ticker: null, rows: new Map(), heard: new Map(),
    figures: null, figuresAt: 0,
  });
  $("#orders").replaceChildren();
  state.masters.clear();
}

async function enter(session) {
  state.session = session;
  state.timeline.session = session;
  state.masters.session = session;
  state.socket = new LiveSocket({
    token: session.token, userId: session.user.id, timings: times, sync: () => refresh(true), onEvent,
    onState: showConnection, onAuthFailed: sessionExpired,
    onError: (error, when) => { if (when === "connect" || error.status === 401) handleError(error); },
  });
  const loop = async () => {
    await refresh();
    if (state.session === session) state.timer = setTimeout(loop, times.refreshS * 1000);
  };
  await loop();
  state.socket.start();
  state.ticker = setInterval(() => {
    state.attention.tick();
    state.waiting.tick();
  }, 1000);
}

const form = $("#order-form");
form.addEventListener("submit", (event) => {
  event.preventDefault();
  act(form.querySelector("button[type=submit]"), () => refreshAfter(() => createOrder(form)));
});
$("#appliances").replaceChildren(...APPLIANCES.map((type) => el("option", { value: type }, applianceLabel(type))));
Object.assign(state, {
  timeline: new TimelineDialog({ session: null, directory }),
  masters: new MastersTable({ session: null, directory, changed: () => refresh(true) }),
  attention: new CardList({
    list: $("#attention"), empty: $("#attention-empty"), count: $("#attention-count"), directory, actions,
  }),
  waiting: new CardList({
    list: $("#waiting"), empty: $("#waiting-empty"), count: $("#waiting-count"), directory, actions,
  }),
});
$("#reconnect").addEventListener("click", () => state.socket?.reconnectNow());
await startPage({ page: "admin", role: "admin", enter, leave });
