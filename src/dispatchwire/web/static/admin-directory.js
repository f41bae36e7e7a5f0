// /admin: who is who, from the last refresh. Names for ids, what each master is busy with,
// and who can take an order now: the choice of a manual offer is made from this.

import { t } from "./i18n.js";
import { APPLIANCES } from "./ui.js";

export class Directory {
  constructor() {
    this.masters = new Map(); // masterId -> the admin's view of the master
    this.users = new Map(); // userId -> name
    this.busy = new Map(); // masterId -> { kind: "offer" | "job", orderId }
    this.types = [];
    this.version = "";
  }

  /** Take in a refresh: the masters, the waiting orders' offers, the jobs under way. */
  update({ me, masters, waiting, jobs, types }) {
    this.masters = new Map(masters.map((master) => [master.masterId, master]));
    this.users = new Map(masters.map((master) => [master.userId, master.name]));
    if (me) this.users.set(me.id, me.name);
    this.busy = new Map();
    for (const order of waiting) {
      for (const offer of order.offers) this.busy.set(offer.masterId, { kind: "offer", orderId: order.orderId });
    }
    for (const job of jobs) if (job.masterId) this.busy.set(job.masterId, { kind: "job", orderId: job.id });
    this.types = types;
    // What the choice of masters depends on: a picker is rebuilt only when this changes.
    this.version = JSON.stringify([...this.masters.values()].map((master) => [
      master.masterId, master.name, master.approved, master.active, master.onShift, master.connected,
      master.specializations, this.busy.get(master.masterId)]));
  }

  masterName(id) {
    return this.masters.get(id)?.name ?? t("board.masterNumber", { id });
  }

  userName(id) {
    return this.users.get(id) ?? t("board.someone");
  }

  /** Every appliance type worth offering in a choice: the known ones and those declared. */
  applianceTypes() {
    const types = new Set(APPLIANCES);
    for (const { type } of this.types) types.add(type);
    for (const master of this.masters.values()) master.specializations.forEach((type) => types.add(type));
    return [...types];
  }

  /** Why a master cannot take any order now, or null. */
  unavailable(master, orderId = null) {
    if (!master.active) return t("board.state.deactivated");
    if (!master.approved) return t("board.state.unapproved");
    if (!master.onShift) return t("board.state.offShift");
    const busy = this.busy.get(master.masterId);
    if (busy?.kind === "job") return t("board.busy.job", { orderId: busy.orderId });
    if (busy && busy.orderId !== orderId) return t("board.busy.offer", { orderId: busy.orderId });
    return null;
  }

  /**
   * The masters for a manual offer of `order`, in three groups: who can take it now (those
   * online first), who is free but does not repair its appliance, who cannot take it now.
   * Each as { master, note }.
   */
  candidates(order) {
    const groups = { ready: [], otherType: [], unavailable: [] };
    const masters = [...this.masters.values()].sort((a, b) =>
      Number(b.connected) - Number(a.connected) || a.name.localeCompare(b.name));
    for (const master of masters) {
      const why = this.unavailable(master, order.id);
      const repairs = !master.specializations.length || master.specializations.includes(order.applianceType);
      const holds = this.busy.get(master.masterId)?.orderId === order.id;
      if (why) groups.unavailable.push({ master, note: why });
      else if (!repairs) groups.otherType.push({ master, note: t(master.connected ? "board.online" : "board.appOffline") });
      else {
        const note = holds ? t("board.holdsThis") : t(master.connected ? "board.online" : "board.appOffline");
        groups.ready.push({ master, note });
      }
    }
    return groups;
  }
}
