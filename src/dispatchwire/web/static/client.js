// / (clients): register or log in, place an order, follow it live, see who is coming, where
// he is on the way, and write to him.

import { request } from "./api.js";
import { ChatPanel } from "./chat.js";
import { t, tNodes } from "./i18n.js";
import { MasterPosition } from "./location.js";
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
const ON_THE_JOB = new Set(["assigned", "in_progress"]); // the master shares where he is, the chat is open

const times = timings();
const state = {
  session: null, socket: null, orders: new Map(), ticker: null, orderPoint: null,
  positions: new Map(), chats: new Map(), // by order id: kept across renders (see chat.js)
};

async function sync() {
  const orders = await state.session.call("/api/orders?limit=50");
  state.orders = new Map(orders.map((order) => [order.id, order]));
  render();
  await Promise.all([...state.orders.values()].filter((order) => ON_THE_JOB.has(order.status))
    .map((order) => chatOf(order).refresh())); // what was written while the socket was down
}

/** The order's chat panel, made once; the history loads when it is first shown. */
function chatOf(order) {
  let chat = state.chats.get(order.id);
  if (!chat) {
    chat = new ChatPanel({
      session: state.session, orderId: order.id, userId: state.session.user.id,
      names: { master: order.master?.name },
    });
    state.chats.set(order.id, chat);
  }
  chat.names.master = order.master?.name;
  chat.setWritable(ON_THE_JOB.has(order.status));
  return chat;
}

function positionOf(order) {
  let position = state.positions.get(order.id);
  if (!position) {
    position = new MasterPosition(order);
    state.positions.set(order.id, position);
  } else if (order.master?.location) {
    position.set(order.master.location);
  }
  return position;
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
  if (frame.type === "chat_message") {
    const fresh = state.chats.get(frame.message.orderId)?.receive(frame.message);
    if (fresh && frame.message.authorId !== state.session.user.id) {
      showNotice(t("chat.newMessage", { orderId: frame.message.orderId }));
    }
    return;
  }
  if (frame.type !== "order_status_update") return;
  const order = state.orders.get(frame.orderId);
  if (order) {
    order.status = frame.status;
    render();
  }
  refreshOrder(frame.orderId); // who is coming, and the rest of the order
}

/** A position shared by the master of one of the client's orders: not stored, shown as it comes. */
function onTransient(frame) {
  if (frame.type !== "master_location") return;
  const order = state.orders.get(frame.orderId);
  if (!order?.master || !ON_THE_JOB.has(order.status)) return;
  const location = { lat: frame.lat, lon: frame.lon, at: frame.at };
  order.master.location = location;
  state.positions.get(order.id)?.set(location);
}

async function placeOrder(form) {
  const fields = new FormData(form);
  const order = await state.session.call("/api/orders", {
    method: "POST",
    body: {
      applianceType: fields.get("applianceType"), problem: fields.get("problem"),
      address: fields.get("address"), ...(state.orderPoint ?? {}),
    },
  });
  state.orders.set(order.id, order);
  render();
  form.elements.problem.value = "";
  setOrderPoint(null);
  showNotice(t("client.placed", { id: order.id }));
}

/** The order's address as a point on the map: the client's own position, when he gives it. */
function setOrderPoint(point, stateKey = "client.locationHint") {
  state.orderPoint = point;
  $("#locate").textContent = t(point ? "client.locationRemove" : "client.useLocation");
  $("#locate-state").textContent = t(point ? "client.locationAdded" : stateKey);
}

function locate() {
  if (state.orderPoint) {
    setOrderPoint(null);
    return Promise.resolve();
  }
  if (!("geolocation" in navigator) || !window.isSecureContext) {
    setOrderPoint(null, "location.unsupported");
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    navigator.geolocation.getCurrentPosition((position) => {
      setOrderPoint({ lat: position.coords.latitude, lon: position.coords.longitude });
      resolve();
    }, (error) => {
      setOrderPoint(null, error.code === error.PERMISSION_DENIED ? "location.denied" : "location.unavailable");
      resolve();
    }, { enableHighAccuracy: false, maximumAge: 60000, timeout: 15000 });
  });
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

/** Where the master is and the chat, while the job is on; the chat's history after it. */
function theJob(order) {
  if (!order.master) return null;
  if (ON_THE_JOB.has(order.status)) return [positionOf(order).element, chatOf(order).element];
  state.positions.delete(order.id);
  const history = el("details", { class: "chat-history" }, el("summary", {}, t("chat.title")));
  history.addEventListener("toggle", () => {
    if (!history.open) return;
    const chat = chatOf(order);
    history.append(chat.element);
    chat.refresh().catch(handleError);
  }, { once: true });
  return history;
}

function orderCard(order) {
  const cancel = ["new", "assigned"].includes(order.status) && el("button", {
    type: "button", class: "secondary", onclick: () => act(cancel, () => cancelOrder(order, cancel)),
  }, t("client.cancel"));
  return el("li", { class: `card order${OPEN.has(order.status) ? " active" : ""}`, dataset: { orderId: order.id, status: order.status } },
    el("div", { class: "card-head" }, el("h3", {}, applianceLabel(order.applianceType)), statusBadge(order.status)),
    order.status === "cancelled" ? null : steps(order.status),
    whoIsComing(order),
    theJob(order),
    el("p", { class: "problem" }, order.problem),
    el("p", { class: "address" }, labelled("common.address", order.address)),
    el("p", { class: "muted small" }, t("client.orderMeta", {
      id: order.id, placed: clockTime(order.createdAt), updated: clockTime(order.updatedAt),
    })),
    cancel && el("div", { class: "actions" }, cancel));
}

function render() {
  const orders = [...state.orders.values()].sort((a, b) => b.id - a.id);
  const focused = $("#orders").contains(document.activeElement) ? document.activeElement : null;
  $("#orders").replaceChildren(...orders.map(orderCard));
  if (focused?.isConnected) focused.focus(); // a chat being written keeps its caret
  $("#orders-empty").hidden = orders.length > 0;
  for (const order of orders) { // a chat shown for the first time loads its history
    const chat = ON_THE_JOB.has(order.status) && order.master && chatOf(order);
    if (chat && !chat.loaded) chat.refresh().catch(handleError);
  }
}

function tick() {
  for (const position of state.positions.values()) position.tick();
}

function leave() {
  state.socket?.stop();
  clearInterval(state.ticker);
  Object.assign(state, {
    session: null, socket: null, orders: new Map(), positions: new Map(), chats: new Map(),
  });
  $("#orders").replaceChildren();
}

async function enter(session) {
  state.session = session;
  state.socket = new LiveSocket({
    token: session.token, userId: session.user.id, timings: times, sync, onEvent, onTransient,
    onState: showConnection, onAuthFailed: sessionExpired,
    onError: (error, when) => { if (when === "connect" || error.status === 401) handleError(error); },
  });
  await sync();
  state.socket.start();
  state.ticker = setInterval(tick, 1000);
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
  $("#locate").addEventListener("click", (event) => act(event.currentTarget, locate));
}

$("#reconnect").addEventListener("click", () => state.socket?.reconnectNow());
setupForms({ login: (...args) => page.login(...args) });
const page = await startPage({ page: "client", role: "client", enter, leave });
