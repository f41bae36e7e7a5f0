// /admin: a manual offer, made by choosing a master from a list (POST /api/admin/assignments).
// Those who can take the order now come first; the others are marked with why not (the server
// has the last word, and its refusal is shown).

import { t } from "./i18n.js";
import { act, applianceLabel, el, showNotice } from "./ui.js";

const GROUPS = [
  ["ready", "board.group.ready"], ["otherType", "board.group.otherType"], ["unavailable", "board.group.unavailable"],
];

export class OfferPicker {
  /** `order`: { id, applianceType }; `offer(orderId, masterId)` makes the offer. */
  constructor({ order, directory, offer }) {
    Object.assign(this, { order, directory, offer, version: null });
    this.select = el("select", {
      name: "masterId", required: true, "aria-label": t("board.chooseFor", { id: order.id }),
    });
    this.button = el("button", { type: "submit", class: "small primary" }, t("admin.offer"));
    this.element = el("form", { class: "inline offer-form" }, this.select, this.button);
    this.element.addEventListener("submit", (event) => {
      event.preventDefault();
      act(this.button, () => this.submit());
    });
    this.update();
  }

  /** Rebuild the list when who can take what has changed; the choice made is kept. */
  update() {
    if (this.version === this.directory.version) return;
    this.version = this.directory.version;
    const chosen = this.select.value;
    const groups = this.directory.candidates(this.order);
    const appliance = applianceLabel(this.order.applianceType);
    const options = [el("option", { value: "" }, t("board.choose"))];
    for (const [group, key] of GROUPS) {
      if (!groups[group].length) continue;
      options.push(el("optgroup", { label: t(key, { appliance }), dataset: { group } },
        groups[group].map(({ master, note }) => el("option", {
          value: master.masterId, dataset: { group },
        }, t("board.option", { name: master.name, note })))));
    }
    this.select.replaceChildren(...options);
    if ([...this.select.options].some((option) => option.value === chosen)) this.select.value = chosen;
  }

  async submit() {
    const masterId = Number(this.select.value);
    await this.offer(this.order.id, masterId);
    showNotice(t("admin.offered", { orderId: this.order.id, name: this.directory.masterName(masterId) }));
    this.select.value = "";
  }
}
