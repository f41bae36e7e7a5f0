// /master: the technician's console, phone first. Shift, live offers with a countdown,
// accept or decline, and the accepted jobs with the client's contact, the chat with the
// client, and sharing his location on the way (when he chooses to).

import { serverNow } from "./api.js";
import { ChatPanel } from "./chat.js";
import { formatCountdown, formatList, lang, t } from "./i18n.js";
import { LocationSharer } from "./location.js";
import { announceOffer, withdrawNotice } from "./notify.js";
import { PushSwitch } from "./push.js";
import { LiveSocket, timings } from "./socket.js";
import {
  $, act, applianceLabel, el, handleError, labelled, phoneLink, sessionExpired, showConnection,
  showNotice, startPage, statusBadge,
} from "./ui.js";

const TITLE = t("master.title");
const NEXT_STEP = { assigned: ["in_progress", "master.startWork"], in_progress: ["completed", "master.markCompleted"] };
const ACTIVE = new Set(["assigned", "in_progress"]);

const times = timings({ locationS: 2 });
const state = {
  session: null, socket: null, push: null, onShift: false, offers: new Map(), jobs: [],
  ticker: null, chats: new Map(), sharer: null, // chats by order id: kept across renders (see chat.js)
};

// An appliance's name inside a sentence: "washing machine", "стиральная машина".
const inSentence = (type) => {
  const name = applianceLabel(type);
  return name.charAt(0).toLocaleLowerCase(lang) + name.slice(1);
};

function setShift(onShift, specializations) {
  state.onShift = onShift;
  $("#shift").dataset.onShift = String(onShift);
  $("#shift-state").textContent = t(onShift ? "master.onShift" : "master.offShift");
  $("#shift-toggle").textContent = t(onShift ? "master.endShift" : "master.startShift");
  if (specializations) {
    $("#specializations").textContent = specializations.length
      ? t("master.youRepair", { list: formatList(specializations.map(inSentence)) })
      : t("master.anyAppliance");
  }
  if (!onShift) state.offers.clear();
}

async function sync() {
  const [profile, jobs] = await Promise.all([
    state.session.call("/api/masters/me"), state.session.call("/api/orders?limit=20"),
  ]);
  setShift(profile.onShift, profile.specializations);
  const pending = profile.onShift ? await state.session.call("/api/assignments/pending") : [];
  state.offers = new Map(pending.map((offer) => [offer.id, offer]));
  state.jobs = jobs;
  render();
  await Promise.all(jobs.filter((job) => ACTIVE.has(job.status))
    .map((job) => chatOf(job).refresh())); // what was written while the socket was down
}

/** The job's chat panel, made once; the history loads when it is first shown. */
function chatOf(job) {
  let chat = state.chats.get(job.id);
  if (!chat) {
    chat = new ChatPanel({
      session: state.session, orderId: job.id, userId: state.session.user.id,
      names: { client: job.client.name },
    });
    state.chats.set(job.id, chat);
  }
  chat.setWritable(ACTIVE.has(job.status));
  return chat;
}

function onChatMessage(message) {
  const fresh = state.chats.get(message.orderId)?.receive(message);
  if (fresh && message.authorId !== state.session.user.id) {
    showNotice(t("chat.newMessage", { orderId: message.orderId }));
  }
}

function onEvent(frame) {
  if (frame.type === "new_assignment") {
    const offer = frame.assignment;
    if (Date.parse(offer.expiresAt) <= serverNow() || state.offers.has(offer.id)) return;
    state.offers.set(offer.id, offer);
    renderOffers();
    announceOffer(offer);
  } else if (frame.type === "assignment_expired") {
    withdrawNotice(frame.assignmentId);
    const offer = state.offers.get(frame.assignmentId);
    if (!offer) return;
    state.offers.delete(frame.assignmentId);
    renderOffers();
    showNotice(t("master.offerWithdrawn", { orderId: offer.orderId }));
  } else if (frame.type === "chat_message") {
    onChatMessage(frame.message);
  } else if (frame.type === "order_status_update") {
    for (const [id, offer] of state.offers) if (offer.orderId === frame.orderId) state.offers.delete(id);
    const job = state.jobs.find((candidate) => candidate.id === frame.orderId);
    if (job) job.status = frame.status;
    render();
    refreshJobs();
  }
}

async function refreshJobs() {
  try {
    state.jobs = await state.session.call("/api/orders?limit=20");
    renderJobs();
  } catch (error) {
    handleError(error);
  }
}

function upsertJob(order) {
  state.jobs = [order, ...state.jobs.filter((job) => job.id !== order.id)];
}

async function acceptOffer(offer) {
  try {
    const { order } = await state.session.call(`/api/assignments/${offer.id}/accept`, { method: "POST" });
    state.offers.delete(offer.id);
    withdrawNotice(offer.id);
    upsertJob(order);
    render();
    showNotice(t("master.accepted", { name: order.client.name, address: order.address }));
  } catch (error) {
    if ([404, 409].includes(error.status)) {
      state.offers.delete(offer.id);
      renderOffers();
    }
    throw error;
  }
}

async function declineOffer(offer) {
  try {
    await state.session.call(`/api/assignments/${offer.id}/reject`, { method: "POST" });
    showNotice(t("master.declined", { orderId: offer.orderId }));
  } finally {
    state.offers.delete(offer.id);
    withdrawNotice(offer.id);
    renderOffers();
  }
}

async function moveJob(job, status) {
  try {
    upsertJob(await state.session.call(`/api/orders/${job.id}/status`, { method: "POST", body: { status } }));
    renderJobs();
  } catch (error) {
    if ([404, 409].includes(error.status)) refreshJobs(); // changed meanwhile, e.g. cancelled
    throw error;
  }
}

async function toggleShift() {
  const { onShift } = await state.session.call(
    `/api/masters/me/shift/${state.onShift ? "end" : "start"}`, { method: "POST" });
  setShift(onShift);
  renderOffers();
  showNotice(t(onShift ? "master.shiftStarted" : "master.shiftEnded"));
  if (state.socket.authed) state.socket.setSubscribed(onShift); // its answer brings the offers
  else await sync();
}

function offerCard(offer) {
  const total = Math.max(1, Date.parse(offer.expiresAt) - Date.parse(offer.createdAt));
  const accept = el("button", { type: "button", class: "primary", onclick: () => act(accept, () => acceptOffer(offer)) }, t("master.accept"));
  const decline = el("button", { type: "button", class: "secondary", onclick: () => act(decline, () => declineOffer(offer)) }, t("master.decline"));
  return el("li", { class: "card offer", dataset: { assignmentId: offer.id, orderId: offer.orderId, total } },
    el("div", { class: "card-head" },
      el("h3", {}, applianceLabel(offer.applianceType)),
      el("span", { class: "muted" }, t("common.orderNumber", { id: offer.orderId }))),
    el("p", { class: "problem" }, offer.problem),
    el("p", { class: "address" }, labelled("common.address", offer.address)),
    el("div", { class: "countdown" },
      el("progress", { max: total, value: total, "aria-label": t("master.timeLeftLabel") }),
      el("span", { class: "time", "aria-live": "off" }, "")),
    el("div", { class: "actions" }, accept, decline));
}

function renderOffers() {
  const list = $("#offers");
  const offers = [...state.offers.values()].sort((a, b) => a.id - b.id);
  const shown = new Map([...list.children].map((node) => [Number(node.dataset.assignmentId), node]));
  for (const [id, node] of shown) if (!state.offers.has(id)) node.remove();
  for (const offer of offers) if (!shown.has(offer.id)) list.append(offerCard(offer));
  const count = $("#offer-count");
  count.textContent = String(offers.length);
  count.title = t("master.offersWaiting", { count: offers.length });
  $("#offers-empty").hidden = offers.length > 0;
  $("#offers-empty").textContent = t(state.onShift ? "master.noOffers" : "master.noOffersOffShift");
  document.title = offers.length ? t("master.titleOffers", { count: offers.length }) : TITLE;
  tick();
}

function tick() {
  const now = serverNow();
  for (const node of $("#offers").children) {
    const offer = state.offers.get(Number(node.dataset.assignmentId));
    const left = offer ? Date.parse(offer.expiresAt) - now : 0;
    if (left <= 0) { // gone at expiresAt, whether or not assignment_expired has come
      state.offers.delete(Number(node.dataset.assignmentId));
      renderOffers();
      if (offer) {
        withdrawNotice(offer.id);
        showNotice(t("master.offerExpired", { orderId: offer.orderId }));
      }
      return;
    }
    const seconds = Math.ceil(left / 1000);
    node.querySelector(".time").textContent = t("master.timeLeft", { time: formatCountdown(seconds) });
    node.querySelector("progress").value = left;
    node.classList.toggle("urgent", seconds <= 30);
  }
}

/** The chat: open while the job is on, its history folded away after. */
function jobChat(job) {
  if (ACTIVE.has(job.status)) return chatOf(job).element;
  const history = el("details", { class: "chat-history" }, el("summary", {}, t("chat.title")));
  history.addEventListener("toggle", () => {
    if (!history.open) return;
    const chat = chatOf(job);
    history.append(chat.element);
    chat.refresh().catch(handleError);
  }, { once: true });
  return history;
}

function jobCard(job) {
  const next = NEXT_STEP[job.status];
  const button = next && el("button", {
    type: "button", class: "primary", onclick: () => act(button, () => moveJob(job, next[0])),
  }, t(next[1]));
  return el("li", { class: `card job${ACTIVE.has(job.status) ? " active" : ""}`, dataset: { orderId: job.id, status: job.status } },
    el("div", { class: "card-head" }, el("h3", {}, applianceLabel(job.applianceType)), statusBadge(job.status)),
    el("p", { class: "problem" }, job.problem),
    el("p", { class: "address" }, labelled("common.address", job.address)),
    el("p", { class: "contact" }, labelled("common.client", job.client.name, " · ", phoneLink(job.client.phone))),
    el("p", { class: "muted small" }, t("common.orderNumber", { id: job.id })),
    button && el("div", { class: "actions" }, button),
    jobChat(job));
}

function renderJobs() {
  const active = state.jobs.filter((job) => ACTIVE.has(job.status));
  const done = state.jobs.filter((job) => !ACTIVE.has(job.status)).slice(0, 5);
  const focused = $("#jobs").contains(document.activeElement) ? document.activeElement : null;
  $("#jobs").replaceChildren(...active.map(jobCard));
  if (focused?.isConnected) focused.focus(); // a message being written keeps its caret
  $("#jobs-empty").hidden = active.length > 0;
  $("#history").replaceChildren(...done.map(jobCard));
  $("#history-section").hidden = done.length === 0;
  state.sharer?.setActive(active.length > 0);
  for (const job of active) { // a chat shown for the first time loads its history
    const chat = chatOf(job);
    if (!chat.loaded) chat.refresh().catch(handleError);
  }
}

function render() {
  renderOffers();
  renderJobs();
}

function leave() {
  state.socket?.stop();
  state.push?.leave();
  clearInterval(state.ticker);
  state.sharer?.setActive(false);
  state.sharer?.element.remove();
  Object.assign(state, {
    session: null, socket: null, push: null, onShift: false, offers: new Map(), jobs: [],
    chats: new Map(), sharer: null,
  });
  document.title = TITLE;
}

async function enter(session) {
  state.session = session;
  state.sharer = new LocationSharer({
    send: (frame) => Boolean(state.socket?.authed) && (state.socket.send(frame), true),
    everyS: times.locationS,
  });
  $("#location-share-slot").replaceChildren(state.sharer.element);
  state.socket = new LiveSocket({
    token: session.token, userId: session.user.id, timings: times, sync, onEvent,
    wantsSubscription: () => state.onShift, onState: showConnection,
    onAuthFailed: sessionExpired,
    onError: (error, when) => { if (when === "connect" || error.status === 401) handleError(error); },
  });
  state.push = new PushSwitch(session);
  await sync();
  state.socket.start();
  state.ticker = setInterval(() => {
    tick();
    state.sharer?.render();
  }, 250);
  state.push.start().catch((error) => console.warn("dispatchwire: push not available", error));
}

$("#shift-toggle").addEventListener("click", (event) => act(event.currentTarget, toggleShift));
$("#reconnect").addEventListener("click", () => state.socket?.reconnectNow());
await startPage({ page: "master", role: "master", enter, leave });
