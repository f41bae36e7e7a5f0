// /admin: the dispatcher's dashboard. Admins get no live order events, so the stats and the
// orders are re-read from the REST API every `refreshS` seconds (2 by default).

import { serverNow } from "./api.js";
import { t } from "./i18n.js";
import { timings } from "./socket.js";
import {
  $, APPLIANCES, act, ago, applianceLabel, clockTime, el, handleError, showNotice, startPage,
  statusBadge,
} from "./ui.js";

const times = timings({ refreshS: 2 });
const state = { session: null, timer: null, rows: new Map(), masters: "" };

const yesNo = (value) => el("span", { class: `flag ${value ? "yes" : "no"}` }, t(value ? "admin.yes" : "admin.no"));

function renderStats(stats) {
  for (const key of ["totalConnected", "totalSubscribed", "activeSubscriptions", "onShiftSubscriptions"]) {
    $(`[data-stat=${key}]`).textContent = String(stats[key]);
  }
  const rows = stats.subscriptions.map((sub) => el("tr", { dataset: { masterId: sub.masterId } },
    el("td", {}, String(sub.userId)), el("td", {}, String(sub.masterId)), el("td", {}, yesNo(sub.subscribed)),
    el("td", {}, yesNo(sub.onShift)), el("td", { title: sub.lastPing }, ago(sub.lastPing, serverNow())),
    el("td", {}, yesNo(sub.isActive))));
  $("#subscriptions").replaceChildren(...rows);
  $("#subscriptions-empty").hidden = rows.length > 0;
  // The masters an order can be offered to: the subscribed ones (no REST list of masters exists).
  const masters = stats.subscriptions.map((sub) => `${sub.masterId}:${sub.onShift}`).join(",");
  if (masters !== state.masters) {
    state.masters = masters;
    $("#masters").replaceChildren(...stats.subscriptions.map((sub) =>
      el("option", { value: sub.masterId }, t(sub.onShift ? "admin.masterOnShift" : "admin.masterOffShift",
        { masterId: sub.masterId, userId: sub.userId }))));
  }
}

function offerForm(order) {
  const input = el("input", {
    type: "number", name: "masterId", min: 1, required: true, list: "masters", inputmode: "numeric",
    placeholder: t("admin.masterIdPlaceholder"), "aria-label": t("admin.masterIdFor", { id: order.id }),
  });
  const button = el("button", { type: "submit", class: "small primary" }, t("admin.offer"));
  const form = el("form", { class: "inline offer-form" }, input, button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(button, () => refreshAfter(async () => {
      const assignment = await state.session.call("/api/admin/assignments", {
        method: "POST", body: { orderId: order.id, masterId: Number(input.value) },
      });
      input.value = "";
      showNotice(t("admin.offered", { orderId: order.id, masterId: assignment.masterId, offerId: assignment.id }));
    }));
  });
  return form;
}

function actions(order) {
  const parts = [];
  if (order.status === "new") parts.push(offerForm(order));
  if (["new", "assigned"].includes(order.status)) {
    const cancel = el("button", { type: "button", class: "small secondary", onclick: () => act(cancel, () => refreshAfter(async () => {
      await state.session.call(`/api/orders/${order.id}/status`, { method: "POST", body: { status: "cancelled" } });
      showNotice(t("common.orderCancelled", { id: order.id }));
    })) }, t("admin.cancel"));
    parts.push(cancel);
  }
  return parts;
}

/** An action, then a refresh whether it worked or not: a refusal often means the table is stale. */
async function refreshAfter(action) {
  try {
    await action();
  } finally {
    await refresh();
  }
}

/** A name, and under it the phone, kept on one line. */
function contact(person, prefix = "") {
  if (!person) return [];
  const phone = person.phone && el("span", { class: "phone muted" }, person.phone);
  return phone ? [prefix + person.name, phone] : [prefix + person.name];
}

/** Rows are kept and updated in place, so a master id being typed survives the refreshes. */
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
    id.textContent = t("common.idNumber", { id: order.id });
    placed.textContent = clockTime(order.createdAt);
    appliance.textContent = applianceLabel(order.applianceType);
    problem.textContent = order.problem;
    address.textContent = order.address;
    client.replaceChildren(...contact(order.client));
    master.replaceChildren(...contact(order.master, `${t("common.idNumber", { id: order.masterId })} `));
    if (row.status !== order.status) {
      row.status = order.status;
      row.tr.dataset.status = order.status;
      status.replaceChildren(statusBadge(order.status));
      acts.replaceChildren(el("div", { class: "row-actions" }, actions(order)));
    }
    if (body.children[index] !== row.tr) body.insertBefore(row.tr, body.children[index] ?? null);
  });
  for (const [id, row] of state.rows) {
    if (!seen.has(id)) { row.tr.remove(); state.rows.delete(id); }
  }
  $("#orders-empty").hidden = orders.length > 0;
}

async function refresh() {
  const session = state.session;
  if (!session) return;
  try {
    const [stats, orders] = await Promise.all([
      session.call("/api/admin/websocket/stats"), session.call("/api/orders?limit=50"),
    ]);
    if (session !== state.session) return;
    renderStats(stats);
    renderOrders(orders);
    $("#refreshed").dataset.state = "ok";
    $("#refreshed").textContent = t("admin.updated", { time: clockTime(new Date()), count: times.refreshS });
  } catch (error) {
    if (error.status === 401) handleError(error);
    $("#refreshed").dataset.state = "failed";
    $("#refreshed").textContent = t("admin.notUpdated", { error: error.message });
  }
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
  Object.assign(state, { session: null, timer: null, rows: new Map(), masters: "" });
  $("#orders").replaceChildren();
}

async function enter(session) {
  state.session = session;
  const loop = async () => {
    await refresh();
    if (state.session === session) state.timer = setTimeout(loop, times.refreshS * 1000);
  };
  await loop();
}

const form = $("#order-form");
form.addEventListener("submit", (event) => {
  event.preventDefault();
  act(form.querySelector("button[type=submit]"), () => refreshAfter(() => createOrder(form)));
});
$("#appliances").replaceChildren(...APPLIANCES.map((type) => el("option", { value: type }, applianceLabel(type))));
await startPage({ page: "admin", role: "admin", enter, leave });
