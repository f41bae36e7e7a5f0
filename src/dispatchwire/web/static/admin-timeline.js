// /admin: an order's timeline (GET /api/admin/orders/{id}/timeline) told in words: what
// happened, when (with the date), to whom by name, and why.

import { formatDistance, lang, t } from "./i18n.js";
import { $, applianceLabel, el, statusBadge, statusLabel } from "./ui.js";

const dayFormat = new Intl.DateTimeFormat(lang, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
const timeFormat = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
const shortTime = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const shortDated = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

const TONES = {
  placed: "info", offered: "info", sent: "quiet", delivered: "ok", pushed: "quiet", accepted: "ok",
  rejected: "warn", expired: "warn", escalated: "bad", status: "info", message: "quiet",
};
const DELIVERED = {
  socket: "board.step.deliveredSocket", poll: "board.step.deliveredPoll",
  answer: "board.step.deliveredAnswer", pong: "board.step.deliveredPong",
};
const EXPIRED = {
  timeout: "board.step.expiredTimeout", undelivered: "board.step.expiredUndelivered",
  withdrawn: "board.step.expiredWithdrawn", taken: "board.step.expiredTaken",
};
const ESCALATED = {
  declined: "board.step.escalatedDeclined", waiting: "board.step.escalatedWaiting",
  no_master: "board.step.escalatedNoMaster",
};
const PUSH_OK = {
  offer: "board.step.pushed", offer_end: "board.step.pushedEnd", status: "board.step.pushedStatus",
};
const PUSH_FAILED = {
  gone: "board.step.pushGone", retry: "board.step.pushRetry", error: "board.step.pushFailed",
};
const AUTHOR = { client: "board.step.messageClient", master: "board.step.messageMaster", admin: "board.step.messageAdmin" };

/** A time of day near `reference` ("10:42"), with the day when it is another one. */
function clockNear(iso, reference) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toDateString() === reference.toDateString() ? shortTime.format(date) : shortDated.format(date);
}

/** Why a master was offered the order: the ranking's reasons in words, then his rank. */
function offerReasons(detail, at) {
  const reasons = [t(detail.live ? "board.why.live" : "board.why.notLive")];
  if (Number.isFinite(detail.distanceKm)) reasons.push(t("board.why.distance", { distance: formatDistance(detail.distanceKm * 1000) }));
  if (detail.idleSince) reasons.push(t("board.why.idleSince", { time: clockNear(detail.idleSince, at) }));
  const text = reasons.join(", "); // side by side, as in both languages; no "and" before the last
  if (!Number.isInteger(detail.rank)) return text;
  return `${text} (${detail.rank === 1 ? t("board.why.firstChoice") : t("board.why.rank", { rank: detail.rank })})`;
}

/**
 * One step in words. `names` knows people: master(id) and user(id) give a name, `order` is the
 * order (its client's name for who placed it).
 */
export function describeStep(step, names) {
  const detail = step.detail ?? {};
  const name = step.masterId ? names.master(step.masterId) : "";
  const at = new Date(step.at);
  switch (step.kind) {
    case "placed":
      return t("board.step.placed", { name: names.user(detail.by) });
    case "offered":
      if (detail.how === "manual") return t("board.step.offeredManual", { name, who: names.user(detail.by) });
      return t(detail.how === "free" ? "board.step.offeredFree" : "board.step.offered", { name, reasons: offerReasons(detail, at) });
    case "sent":
      return t("board.step.sent", { name });
    case "delivered":
      return t(DELIVERED[detail.via] ?? "board.step.delivered");
    case "pushed": {
      const count = step.count ?? 1;
      if (detail.result === "ok") return t(PUSH_OK[detail.push] ?? "board.step.pushed", { count });
      return t(PUSH_FAILED[detail.result] ?? "board.step.pushFailed", { count });
    }
    case "accepted":
      return t("board.step.accepted", { name });
    case "rejected":
      return t("board.step.rejected", { name });
    case "expired":
      return t(EXPIRED[detail.reason] ?? "board.step.expired", { name });
    case "escalated":
      return t(ESCALATED[detail.reason] ?? "board.step.escalated");
    case "status":
      if (detail.status === "assigned" && name) return t("board.step.assigned", { name });
      return detail.by
        ? t("board.step.statusBy", { status: statusLabel(detail.status), who: names.user(detail.by) })
        : t("board.step.status", { status: statusLabel(detail.status) });
    case "message":
      return t(AUTHOR[detail.authorRole] ?? "board.step.message");
    default:
      return step.kind;
  }
}

/** Pushes of one offer recorded together (one per device) read as one step: "to 2 devices". */
export function groupPushes(steps) {
  const grouped = [];
  for (const step of steps) {
    const last = grouped.at(-1);
    if (step.kind === "pushed" && last?.kind === "pushed" && last.at === step.at
        && last.assignmentId === step.assignmentId && last.detail?.result === step.detail?.result
        && last.detail?.push === step.detail?.push) {
      last.count += 1;
    } else {
      grouped.push(step.kind === "pushed" ? { ...step, count: 1 } : step);
    }
  }
  return grouped;
}

/** The steps, a heading for each day. */
function renderSteps(steps, names) {
  const items = [];
  let day = null;
  for (const step of groupPushes(steps)) {
    const at = new Date(step.at);
    if (at.toDateString() !== day) {
      day = at.toDateString();
      items.push(el("li", { class: "day" }, dayFormat.format(at)));
    }
    items.push(el("li", { class: `step tone-${TONES[step.kind] ?? "info"}`, dataset: { kind: step.kind } },
      el("time", { datetime: step.at, title: `${dayFormat.format(at)} ${timeFormat.format(at)}` }, timeFormat.format(at)),
      el("span", { class: "step-text" }, describeStep(step, names))));
  }
  return items;
}

/** The dialog: opened on an order, read again while it stays open. */
export class TimelineDialog {
  constructor({ session, directory }) {
    Object.assign(this, { session, directory, orderId: null, loading: null });
    this.dialog = $("#timeline-dialog");
    $("#timeline-close").addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("close", () => { this.orderId = null; });
    // A click on the backdrop (outside the dialog's box) closes it too.
    this.dialog.addEventListener("click", (event) => { if (event.target === this.dialog) this.dialog.close(); });
  }

  get isOpen() {
    return this.dialog.open && this.orderId !== null;
  }

  async open(orderId) {
    this.orderId = orderId;
    $("#timeline-title").textContent = t("common.orderNumber", { id: orderId });
    $("#timeline-order").replaceChildren();
    $("#timeline").replaceChildren();
    $("#timeline-empty").hidden = false;
    this.dialog.dataset.orderId = String(orderId);
    if (!this.dialog.open) this.dialog.showModal();
    await this.refresh();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  async refresh() {
    const orderId = this.orderId;
    if (orderId === null) return;
    const [order, steps] = await Promise.all([
      this.session.call(`/api/orders/${orderId}`),
      this.session.call(`/api/admin/orders/${orderId}/timeline`),
    ]);
    if (orderId !== this.orderId) return; // another order was opened meanwhile
    const names = {
      master: (id) => this.directory.masterName(id),
      user: (id) => (id === order.clientId ? order.client.name : this.directory.userName(id)),
    };
    $("#timeline-title").textContent = t("board.timelineTitle", { id: order.id, appliance: applianceLabel(order.applianceType) });
    $("#timeline-order").replaceChildren(
      statusBadge(order.status),
      el("span", {}, order.problem),
      el("span", { class: "muted" }, order.address),
      el("span", { class: "muted" }, t("board.placedBy", { name: order.client.name })));
    $("#timeline").replaceChildren(...renderSteps(steps, names));
    $("#timeline-empty").hidden = true;
    this.dialog.dataset.loaded = String(steps.length);
  }
}
