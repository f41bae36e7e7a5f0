// /admin: the orders waiting for a master, as cards. Those that need a human (escalated: the
// `order_needs_attention` events) come first, each with why in words; every card says who holds
// the order's offers and until when (a countdown), or why no one does.

import { serverNow } from "./api.js";
import { formatCountdown, formatDuration, t } from "./i18n.js";
import { OfferPicker } from "./admin-offer.js";
import { act, applianceLabel, clockTime, el } from "./ui.js";

/** An escalation's reason in words (GET /api/admin/dispatch/waiting `attention[].reason`). */
export function reasonText(reason, { refusedBy = 0, createdAt } = {}) {
  if (reason === "declined") {
    return refusedBy ? t("board.reason.declined", { count: refusedBy }) : t("board.reason.declinedMany");
  }
  if (reason === "waiting") {
    return t("board.reason.waiting", { time: formatDuration((serverNow() - Date.parse(createdAt)) / 1000) });
  }
  if (reason === "no_master") return t("board.reason.noMaster");
  return reason;
}

/** Why an order with no offer waits: no one repairs it, no one is on shift, all are busy. */
function whyWaiting(entry) {
  const { declaring, onShift } = entry.masters;
  const lines = [];
  if (!declaring) lines.push(t("board.wait.nobodyRepairs"));
  else if (!onShift) lines.push(t("board.wait.noneOnShift", { count: declaring }));
  else lines.push(t("board.wait.allBusy", { count: onShift }));
  if (entry.refusedBy) lines.push(t("board.wait.refused", { count: entry.refusedBy }));
  return lines;
}

function holderLine(offer) {
  return el("li", {
    class: "holder", dataset: { masterId: offer.masterId, expiresAt: offer.expiresAt, delivered: String(Boolean(offer.deliveredAt)) },
  },
  el("span", { class: "holder-name" }, t("board.offer.to", { name: offer.name })),
  el("span", { class: "holder-time" }, ""),
  el("span", { class: `holder-delivery ${offer.deliveredAt ? "ok" : "pending"}` },
    t(offer.deliveredAt ? "board.offer.delivered" : "board.offer.notDelivered")));
}

/** One card, kept across refreshes (so a choice being made in its list survives them). */
class OrderCard {
  constructor({ item, directory, actions }) {
    this.actions = actions;
    this.picker = new OfferPicker({ order: item, directory, offer: actions.offer });
    this.age = el("span", { class: "age muted small" });
    this.title = el("h3", {});
    this.reasons = el("ul", { class: "reasons" });
    this.details = el("p", { class: "order-line" });
    this.holders = el("div", { class: "holders" });
    const timeline = el("button", {
      type: "button", class: "small secondary", onclick: () => actions.timeline(item.id),
    }, t("board.showTimeline"));
    const cancel = el("button", {
      type: "button", class: "small secondary danger", onclick: () => act(cancel, () => actions.cancel(item.id, cancel)),
    }, t("board.cancelOrder"));
    this.element = el("li", { class: "card board-order", dataset: { orderId: item.id } },
      el("div", { class: "card-head" }, this.title, this.age),
      this.reasons, this.details, this.holders,
      el("div", { class: "card-actions" }, this.picker.element, timeline, cancel));
  }

  update(item) {
    this.item = item;
    const entry = item.entry;
    this.element.dataset.attention = String(item.reasons.length > 0);
    this.title.replaceChildren(
      el("button", { type: "button", class: "link order-link", onclick: () => this.actions.timeline(item.id) },
        t("common.orderNumber", { id: item.id })),
      ` · ${applianceLabel(item.applianceType)}`);
    this.reasons.replaceChildren(...item.reasons.map((reason) => el("li", { class: "reason", dataset: { reason } },
      reasonText(reason, { refusedBy: entry?.refusedBy, createdAt: item.createdAt }))));
    this.details.replaceChildren(...[item.problem, item.address].filter(Boolean).map((text) => el("span", {}, text)));
    if (entry?.offers.length) {
      this.holders.replaceChildren(el("ul", { class: "holder-list" }, entry.offers.map(holderLine)));
    } else if (entry) {
      this.holders.replaceChildren(el("p", { class: "why" }, whyWaiting(entry).join(" ")));
    } else {
      this.holders.replaceChildren();
    }
    this.picker.order = item;
    this.picker.update();
    this.tick();
  }

  tick() {
    const now = serverNow();
    this.age.textContent = t("board.placedAgo", {
      time: formatDuration((now - Date.parse(this.item.createdAt)) / 1000), clock: clockTime(this.item.createdAt),
    });
    for (const holder of this.holders.querySelectorAll(".holder")) {
      const left = (Date.parse(holder.dataset.expiresAt) - now) / 1000;
      holder.querySelector(".holder-time").textContent = left > 0
        ? t("board.offer.left", { time: formatCountdown(left), clock: clockTime(holder.dataset.expiresAt) })
        : t("board.offer.ending");
    }
    this.reasons.querySelectorAll(".reason[data-reason=waiting]").forEach((node) => {
      node.textContent = reasonText("waiting", { createdAt: this.item.createdAt });
    });
  }
}

/** The cards of one list (`#attention` or `#waiting`), updated in place by order id. */
export class CardList {
  constructor({ list, empty, count, directory, actions }) {
    Object.assign(this, { list, empty, count, directory, actions, cards: new Map() });
  }

  render(items) {
    const seen = new Set();
    items.forEach((item, index) => {
      seen.add(item.id);
      let card = this.cards.get(item.id);
      if (!card) {
        card = new OrderCard({ item, directory: this.directory, actions: this.actions });
        this.cards.set(item.id, card);
      }
      card.update(item);
      if (this.list.children[index] !== card.element) this.list.insertBefore(card.element, this.list.children[index] ?? null);
    });
    for (const [id, card] of this.cards) {
      if (!seen.has(id)) { card.element.remove(); this.cards.delete(id); }
    }
    this.empty.hidden = items.length > 0;
    this.count.textContent = String(items.length);
    this.count.dataset.zero = String(items.length === 0);
  }

  tick() {
    for (const card of this.cards.values()) card.tick();
  }

  clear() {
    this.render([]);
  }
}

/**
 * The board's two lists from the API's answers: `attention` (GET /api/orders?needsAttention=true,
 * newest first) and `waiting` (GET /api/admin/dispatch/waiting, oldest first). Reasons come
 * from the waiting list's escalations, or from the events seen when an order is beyond it.
 */
export function boardItems({ attention, waiting, heard }) {
  const entries = new Map(waiting.map((entry) => [entry.orderId, entry]));
  const item = (id, fields, entry) => ({
    id, entry, ...fields,
    reasons: entry?.attention.length ? [...new Set(entry.attention.map((a) => a.reason))] : [...(heard.get(id) ?? [])],
  });
  const fromEntry = (entry) => item(entry.orderId, {
    applianceType: entry.applianceType, address: entry.address, createdAt: entry.createdAt,
  }, entry);
  const listed = new Set(attention.map((order) => order.id));
  const urgent = [
    ...attention.map((order) => item(order.id, {
      applianceType: order.applianceType, address: order.address, problem: order.problem, createdAt: order.createdAt,
    }, entries.get(order.id))),
    // Escalated between the two reads: on the waiting list already, not yet on the other.
    ...waiting.filter((entry) => entry.attention.length && !listed.has(entry.orderId)).map(fromEntry),
  ].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || a.id - b.id);
  const urgentIds = new Set(urgent.map((order) => order.id));
  const rest = waiting.filter((entry) => !urgentIds.has(entry.orderId)).map(fromEntry);
  return { urgent, rest };
}
