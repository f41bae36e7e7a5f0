// /admin: the masters (GET /api/admin/masters): who they are, what they repair, whether they
// may work and are at work now, today's figures of their offers; approve, deactivate or
// reactivate, change what they repair (PATCH), and make a new one (POST).

import { formatDuration, formatList, formatNumber, lang, t } from "./i18n.js";
import { $, act, ago, applianceLabel, el, showNotice } from "./ui.js";
import { serverNow } from "./api.js";

const TYPE_PATTERN = /^[a-z][a-z0-9_]{0,49}$/;
const FIGURES = ["offers", "accepted", "rejected", "expired", "undelivered"];
const FIGURE_LABELS = {
  offers: "board.colOffers", accepted: "board.colAccepted", rejected: "board.colDeclined",
  expired: "board.colExpired", undelivered: "board.colUndelivered",
};

/** A master's state in words, and a class for its colour. */
function masterState(master, directory) {
  if (!master.active) return ["off", t("board.state.deactivated")];
  if (!master.approved) return ["waiting", t("board.state.unapproved")];
  if (!master.onShift) return ["idle", t("board.state.offShift")];
  const busy = directory.busy.get(master.masterId);
  if (busy?.kind === "job") return ["busy", t("board.busy.job", { orderId: busy.orderId })];
  if (busy) return ["busy", t("board.busy.offer", { orderId: busy.orderId })];
  return ["free", t("board.state.free")];
}

function seen(master) {
  if (master.connected) return el("span", { class: "presence online" }, t("board.online"));
  return el("span", { class: "presence" }, master.lastSeenAt
    ? t("board.lastSeen", { ago: ago(master.lastSeenAt, serverNow()) }) : t("board.neverSeen"));
}

function repairsText(specializations) {
  return specializations.length ? formatList(specializations.map(applianceLabel)) : t("board.anyAppliance");
}

/** Checkboxes of appliance types (none ticked: any), and a field for a type not listed. */
export function repairsChoice(fieldset, types, chosen = []) {
  const legend = fieldset.querySelector("legend");
  const all = [...new Set([...types, ...chosen])].sort((a, b) => applianceLabel(a).localeCompare(applianceLabel(b), lang));
  fieldset.replaceChildren(...[legend].filter(Boolean),
    el("div", { class: "checks" }, all.map((type) => el("label", { class: "check" },
      el("input", { type: "checkbox", name: "type", value: type, checked: chosen.includes(type) }),
      el("span", {}, applianceLabel(type))))),
    el("label", { class: "other-type" }, el("span", {}, t("board.otherType")),
      el("input", { name: "otherType", pattern: TYPE_PATTERN.source, maxlength: 50, placeholder: "coffee_machine", autocomplete: "off" })),
    el("p", { class: "hint" }, t("board.noneMeansAny")));
}

function chosenTypes(fieldset) {
  const types = [...fieldset.querySelectorAll("input[name=type]:checked")].map((box) => box.value);
  const other = fieldset.querySelector("input[name=otherType]").value.trim();
  if (other) types.push(...other.split(/[\s,]+/).filter(Boolean));
  return [...new Set(types)];
}

export class MastersTable {
  constructor({ session, directory, changed }) {
    Object.assign(this, { session, directory, changed, rows: new Map(), medians: new Map() });
    const form = $("#master-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(form.querySelector("button[type=submit]"), () => this.create(form));
    });
    $("#add-master").addEventListener("toggle", () => this.fillCreateForm());
  }

  clear() {
    this.rows = new Map();
    $("#masters").replaceChildren();
  }

  fillCreateForm() {
    const fieldset = $("#master-form [data-repairs]");
    if (!fieldset.querySelector(".checks")) repairsChoice(fieldset, this.directory.applianceTypes());
  }

  async create(form) {
    const fields = new FormData(form);
    const master = await this.session.call("/api/admin/masters", {
      method: "POST",
      body: {
        name: fields.get("name"), email: fields.get("email"), password: fields.get("password"),
        phone: fields.get("phone") || null, specializations: chosenTypes($("[data-repairs]", form)),
      },
    });
    form.reset();
    showNotice(t("board.masterAdded", { name: master.name }));
    await this.changed();
  }

  async patch(master, body, notice) {
    await this.session.call(`/api/admin/masters/${master.masterId}`, { method: "PATCH", body });
    showNotice(t(notice, { name: master.name }));
    await this.changed();
  }

  render(masters, medians) {
    this.medians = new Map(medians.map((row) => [row.masterId, row.medianAnswerS]));
    const body = $("#masters");
    const seenIds = new Set();
    let index = 0;
    for (const master of masters) {
      seenIds.add(master.masterId);
      let row = this.rows.get(master.masterId);
      if (!row) {
        row = { tr: el("tr", { dataset: { masterId: master.masterId } }), editor: null };
        this.rows.set(master.masterId, row);
      }
      this.fill(row, master);
      for (const tr of [row.tr, row.editor].filter(Boolean)) {
        if (body.children[index] !== tr) body.insertBefore(tr, body.children[index] ?? null);
        index += 1;
      }
    }
    for (const [id, row] of this.rows) {
      if (!seenIds.has(id)) { row.tr.remove(); row.editor?.remove(); this.rows.delete(id); }
    }
    $("#masters-empty").hidden = masters.length > 0;
    const onShift = masters.filter((master) => master.onShift).length;
    const online = masters.filter((master) => master.connected && master.onShift).length;
    $("#masters-online").textContent = t("board.mastersSummary", { count: masters.length, onShift, online });
  }

  renderTypes(types) {
    $("#types").replaceChildren(...types.map((type) => el("li", { class: "chip", dataset: { type: type.type } },
      el("strong", {}, applianceLabel(type.type)), " ",
      t("board.typeMasters", { count: type.masters, onShift: type.onShift }))));
  }

  /** Fill a master's row in place: the buttons are made again only when what they offer
   * changes, so a "click again to confirm" survives the refreshes. */
  fill(row, master) {
    const [state, stateText] = masterState(master, this.directory);
    row.master = master;
    if (!row.cells) {
      // Labels for a phone's screen, where each row is a card of its own (style.css).
      const label = (key) => ({ label: t(key) });
      row.cells = {
        who: el("td", { class: "who" }),
        repairs: el("td", { class: "repairs-cell", dataset: label("board.colRepairs") }),
        state: el("td", { class: "state", dataset: label("board.colState") }),
        figures: FIGURES.map((key) => el("td", { class: `num fig-${key}`, dataset: label(FIGURE_LABELS[key]) })),
        median: el("td", { class: "num fig-median", dataset: label("board.colMedian") }),
        actions: el("td", { class: "actions-cell" }),
      };
      const { who, repairs, figures, median, actions } = row.cells;
      row.tr.append(who, repairs, row.cells.state, ...figures, median, actions);
    }
    const cells = row.cells;
    row.tr.dataset.state = state;
    cells.who.replaceChildren(...[el("strong", {}, master.name), el("span", { class: "muted small" }, master.email),
      master.phone && el("span", { class: "muted small" }, master.phone)].filter(Boolean));
    cells.repairs.textContent = repairsText(master.specializations);
    cells.state.replaceChildren(el("span", { class: `state-badge state-${state}` }, stateText), seen(master));
    FIGURES.forEach((key, index) => { cells.figures[index].textContent = formatNumber(master[key]); });
    const median = this.medians.get(master.masterId);
    cells.median.textContent = median === null || median === undefined ? "–" : formatDuration(median);
    const offered = JSON.stringify([master.approved, master.active, Boolean(row.editor)]);
    if (row.offered !== offered) {
      row.offered = offered;
      cells.actions.replaceChildren(el("div", { class: "row-actions" }, this.actions(row)));
    }
  }

  actions(row) {
    const master = row.master;
    const buttons = [];
    if (!master.approved) {
      const approve = el("button", { type: "button", class: "small primary", onclick: () => act(approve,
        () => this.patch(row.master, { approved: true }, "board.approved")) }, t("board.approve"));
      buttons.push(approve);
    }
    if (master.active) {
      const off = el("button", { type: "button", class: "small secondary danger", onclick: () => act(off, async () => {
        if (off.dataset.confirm !== "yes") { // a second click within 4 s confirms
          off.dataset.confirm = "yes";
          off.textContent = t("board.deactivateConfirm");
          setTimeout(() => { delete off.dataset.confirm; off.textContent = t("board.deactivate"); }, 4000);
          return;
        }
        await this.patch(row.master, { active: false }, "board.deactivated");
      }) }, t("board.deactivate"));
      buttons.push(off);
    } else {
      const on = el("button", { type: "button", class: "small secondary", onclick: () => act(on,
        () => this.patch(row.master, { active: true }, "board.reactivated")) }, t("board.reactivate"));
      buttons.push(on);
    }
    const edit = el("button", {
      type: "button", class: "small secondary", "aria-expanded": String(Boolean(row.editor)),
      onclick: () => this.toggleEditor(row),
    }, t("board.editRepairs"));
    buttons.push(edit);
    return buttons;
  }

  toggleEditor(row) {
    if (row.editor) {
      row.editor.remove();
      row.editor = null;
      this.fill(row, row.master);
      return;
    }
    const master = row.master;
    const fieldset = el("fieldset", { class: "repairs" }, el("legend", {}, t("board.repairsOf", { name: master.name })));
    repairsChoice(fieldset, this.directory.applianceTypes(), master.specializations);
    const save = el("button", { type: "submit", class: "small primary" }, t("board.save"));
    const cancel = el("button", { type: "button", class: "small secondary", onclick: () => this.toggleEditor(row) }, t("board.cancelEdit"));
    const form = el("form", { class: "repairs-editor" }, fieldset, el("div", { class: "row-actions" }, save, cancel));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(save, async () => {
        await this.patch(row.master, { specializations: chosenTypes(fieldset) }, "board.repairsSaved");
        if (row.editor) this.toggleEditor(row);
      });
    });
    row.editor = el("tr", { class: "editor-row", dataset: { editorOf: master.masterId } }, el("td", { colspan: 10 }, form));
    row.tr.after(row.editor);
    this.fill(row, master);
  }
}
