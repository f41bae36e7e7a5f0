// / (clients): register or log in, place an order, follow it live, see who is coming.

import { request } from "./api.js";
import { t, tNodes } from "./i18n.js";
import { LiveSocket, timings } from "./socket.js";
import {
  $, APPLIANCES, act, applianceLabel, clockTime, el, handleError, labelled, phoneLink,
  sessionExpired, showConnection, showNotice, startPage, statusBadge, statusLabel,
} from "./ui.js";

const STEPS = [["new", t("client.stepPlaced")], ...["assigned", "in_progress", "completed"]
  .map((status) => [status, statusLabel(status)])];
// Who is coming, in words for the order's status.
const MASTER_LINE = { assigned: "client.masterComing", in_progress: "client.masterWorking",
  completed: "client.masterDone" };
const OPEN = new Set(["new", "assigned", "in_progress"]);

const times = timings();
const state = { session: null, socket: null, orders: new Map() };

async function sync() {
  const orders = await state.session.call("/api/orders?limit=50");
  state.orders = new Map(orders.map((order) => [order.id, order]));
  render();
}

async function refreshOrder(id) {
  try {
    const order = await state.session.call(`/api/orders/${id}`);
    state.orders.set(order.id, order);
    render();
  } catch (error) {
    handleError(error);
  }
}

function onEvent(frame) {
  if (frame.type !== "order_status_update") return;
  const order = state.orders.get(frame.orderId);
  if (order) {
    order.status = frame.status;
    render();
  }
  refreshOrder(frame.orderId); // who is coming, and the rest of the order
}

async function placeOrder(form) {
  const fields = new FormData(form);
  const order = await state.session.call("/api/orders", {
    method: "POST",
    body: { applianceType: fields.get("applianceType"), problem: fields.get("problem"), address: fields.get("address") },
  });
  state.orders.set(order.id, order);
  render();
  form.elements.problem.value = "";
  showNotice(t("client.placed", { id: order.id }));
}

async function cancelOrder(order, button) {
  if (button.dataset.confirm !== "yes") { // a second click within 4 s confirms
    button.dataset.confirm = "yes";
    button.textContent = t("client.cancelConfirm");
    setTimeout(() => { delete button.dataset.confirm; button.textContent = t("client.cancel"); }, 4000);
    return;
  }
  try {
    const updated = await state.session.call(`/api/orders/${order.id}/status`, {
      method: "POST", body: { status: "cancelled" },
    });
    state.orders.set(updated.id, updated);
    render();
    showNotice(t("common.orderCancelled", { id: updated.id }));
  } catch (error) {
    if ([404, 409].includes(error.status)) refreshOrder(order.id); // it moved on meanwhile
    throw error;
  }
}

function steps(status) {
  const reached = STEPS.findIndex(([step]) => step === status);
  return el("ol", { class: "steps", "aria-label": t("client.progress") }, STEPS.map(([step, label], index) =>
    el("li", { class: index < reached ? "done" : index === reached ? "current" : "", "aria-current": index === reached ? "step" : null }, label)));
}

function whoIsComing(order) {
  if (order.master) {
    return el("p", { class: "master" }, tNodes(MASTER_LINE[order.status] ?? "client.masterComing", {
      name: el("strong", {}, order.master.name), phone: phoneLink(order.master.phone),
    }));
  }
  if (order.status === "new") return el("p", { class: "muted searching" }, t("client.searching"));
  return null;
}

function orderCard(order) {
  const cancel = ["new", "assigned"].includes(order.status) && el("button", {
    type: "button", class: "secondary", onclick: () => act(cancel, () => cancelOrder(order, cancel)),
  }, t("client.cancel"));
  return el("li", { class: `card order${OPEN.has(order.status) ? " active" : ""}`, dataset: { orderId: order.id, status: order.status } },
    el("div", { class: "card-head" }, el("h3", {}, applianceLabel(order.applianceType)), statusBadge(order.status)),
    order.status === "cancelled" ? null : steps(order.status),
    whoIsComing(order),
    el("p", { class: "problem" }, order.problem),
    el("p", { class: "address" }, labelled("common.address", order.address)),
    el("p", { class: "muted small" }, t("client.orderMeta", {
      id: order.id, placed: clockTime(order.createdAt), updated: clockTime(order.updatedAt),
    })),
    cancel && el("div", { class: "actions" }, cancel));
}

function render() {
  const orders = [...state.orders.values()].sort((a, b) => b.id - a.id);
  $("#orders").replaceChildren(...orders.map(orderCard));
  $("#orders-empty").hidden = orders.length > 0;
}

function leave() {
  state.socket?.stop();
  Object.assign(state, { session: null, socket: null, orders: new Map() });
  $("#orders").replaceChildren();
}

async function enter(session) {
  state.session = session;
  state.socket = new LiveSocket({
    token: session.token, userId: session.user.id, timings: times, sync, onEvent,
    onState: showConnection, onAuthFailed: sessionExpired,
    onError: (error, when) => { if (when === "connect" || error.status === 401) handleError(error); },
  });
  await sync();
  state.socket.start();
}

function setupForms(page) {
  const register = $("#register-form");
  register.addEventListener("submit", (event) => {
    event.preventDefault();
    act(register.querySelector("button[type=submit]"), async () => {
      const fields = new FormData(register);
      const data = await request("/api/auth/register", {
        method: "POST",
        body: {
          name: fields.get("name"), email: fields.get("email"), password: fields.get("password"),
          phone: fields.get("phone") || null, role: "client",
        },
      });
      await page.login(data.token, data.user);
      register.reset();
    });
  });
  const order = $("#order-form");
  order.addEventListener("submit", (event) => {
    event.preventDefault();
    act(order.querySelector("button[type=submit]"), () => placeOrder(order));
  });
  $("#appliance").replaceChildren(...APPLIANCES.map((type) => el("option", { value: type }, applianceLabel(type))));
}

$("#reconnect").addEventListener("click", () => state.socket?.reconnectNow());
setupForms({ login: (...args) => page.login(...args) });
const page = await startPage({ page: "client", role: "client", enter, leave });
