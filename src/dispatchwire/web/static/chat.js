// The chat of one order, on the client's and the master's pages: its history over REST
// (GET /api/orders/{id}/messages, in pages), new messages from the socket's chat_message events,
// and sending with a clientMessageId, so that a send retried after a lost answer never makes a
// second message. A panel keeps its own DOM: the page moves it between renders, never rebuilds
// it, so a half-written message survives every update.

import { ApiError } from "./api.js";
import { t } from "./i18n.js";
import { clockTime, el, handleError } from "./ui.js";

const PAGE = 100; // the API's largest page
const ROLE_NAMES = { client: "chat.client", master: "chat.master", admin: "chat.admin" };

function newMessageId() {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

export class ChatPanel {
  /**
   * session: the page's Session; orderId; userId: the reader (his messages show as "You");
   * names: { client, master }, the people of the order by name, for the other side's messages.
   */
  constructor({ session, orderId, userId, names = {} }) {
    Object.assign(this, { session, orderId, userId, names });
    this.messages = new Map(); // id -> message
    this.loaded = false;
    this.loading = null;
    this.pending = null; // { text, id }: a send whose answer never came; the same id is reused
    this.log = el("ol", { class: "chat-log", "aria-live": "polite", "aria-label": t("chat.title") });
    this.empty = el("p", { class: "empty small" }, t("chat.empty"));
    this.input = el("textarea", {
      name: "text", rows: 2, maxlength: 2000, required: true, placeholder: t("chat.placeholder"),
      "aria-label": t("chat.label"),
    });
    this.sendButton = el("button", { type: "submit", class: "primary small" }, t("chat.send"));
    this.form = el("form", { class: "chat-form" }, this.input, this.sendButton);
    this.note = el("p", { class: "muted small chat-closed" }, t("chat.readOnly"));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    this.element = el("section", { class: "chat", dataset: { orderId } },
      el("h4", {}, t("chat.title")), this.log, this.empty, this.form, this.note);
    this.setWritable(true);
  }

  /** Writing is for while the job is on; the history stays readable after. */
  setWritable(writable) {
    this.form.hidden = !writable;
    this.note.hidden = writable;
  }

  /** Read the messages after the newest one shown (all of them, the first time). */
  refresh() {
    this.loading ??= this.readAfter().finally(() => { this.loading = null; });
    return this.loading;
  }

  async readAfter() {
    for (;;) {
      const after = Math.max(0, ...this.messages.keys());
      const page = await this.session.call(
        `/api/orders/${this.orderId}/messages?after=${after}&limit=${PAGE}`);
      page.forEach((message) => this.add(message));
      if (page.length < PAGE) break;
    }
    this.loaded = true;
    this.render();
  }

  /** A message from the socket (or the answer to a send); each shows once. */
  receive(message) {
    const fresh = !this.messages.has(message.id);
    this.add(message);
    this.render();
    return fresh;
  }

  add(message) {
    this.messages.set(message.id, message);
  }

  author(message) {
    if (message.authorId === this.userId) return t("chat.you");
    const name = this.names[message.authorRole];
    return name ?? t(ROLE_NAMES[message.authorRole] ?? "chat.admin");
  }

  render() {
    const messages = [...this.messages.values()].sort((a, b) => a.id - b.id);
    const atBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 24;
    this.log.replaceChildren(...messages.map((message) => el("li", {
      class: `chat-message${message.authorId === this.userId ? " mine" : ""}`,
      dataset: { messageId: message.id, role: message.authorRole },
    },
    el("span", { class: "chat-meta" }, el("strong", {}, this.author(message)), " · ",
      el("time", { datetime: message.createdAt }, clockTime(message.createdAt))),
    el("span", { class: "chat-text" }, message.text))));
    this.empty.hidden = messages.length > 0 || !this.loaded;
    if (atBottom || messages.at(-1)?.authorId === this.userId) this.log.scrollTop = this.log.scrollHeight;
  }

  async send() {
    const text = this.input.value.trim();
    if (!text || this.sendButton.disabled) return;
    if (this.pending?.text !== text) this.pending = { text, id: newMessageId() };
    this.sendButton.disabled = true;
    try {
      const message = await this.session.call(`/api/orders/${this.orderId}/messages`, {
        method: "POST", body: { text, clientMessageId: this.pending.id },
      });
      this.pending = null;
      if (this.input.value.trim() === text) this.input.value = "";
      this.receive(message);
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) this.setWritable(false);
      handleError(error);
    } finally {
      this.sendButton.disabled = false;
    }
  }
}
