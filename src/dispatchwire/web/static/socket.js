// The /ws protocol for the pages (docs/websocket-api.md): auth with resume, subscribe, ping,
// reconnect with capped, jittered backoff, and fallback polling while the socket is down.
// Every event is acked once the page has applied it (`"acks": true` on auth): one `ack` of the
// newest for all those applied in one go, so the server knows the offer reached the screen.

const DEFAULTS = { pingS: 45, pollS: 60, retryS: 1, retryCapS: 30, authTimeoutS: 10 };

/** Timings, overridable from the page's query string (`?pollS=1&retryCapS=0.5`). */
export function timings(defaults = {}) {
  const values = { ...DEFAULTS, ...defaults };
  const params = new URLSearchParams(location.search);
  for (const key of Object.keys(values)) {
    const value = Number.parseFloat(params.get(key) ?? "");
    if (Number.isFinite(value) && value > 0) values[key] = value;
  }
  return values;
}

export class LiveSocket {
  /**
   * options:
   *   token, userId        whose socket; userId keys the stored lastEventId
   *   sync()               async: reload the page's state over REST (after each connect, and
   *                        as the fallback poll); events that arrive meanwhile wait for it.
   *                        After a resume told `recovered: false` it is the whole catch-up
   *   onEvent(frame)       apply one event (a frame with an eventId), oldest first, once
   *   onTransient(frame)   a frame that is not stored (master_location): as it comes, never
   *                        replayed, nothing held back while a sync runs
   *   onState(state, info) "connecting" | "live" | "polling" | "replaced"
   *   onAuthFailed(msg)    the token was refused (close 4401): log in again
   *   onError(error, when) a sync failed ("connect" or "poll")
   *   wantsSubscription()  subscribe to assignments (masters on shift)
   *   timings              from timings()
   */
  constructor(options) {
    Object.assign(this, {
      wantsSubscription: () => false, onError: () => {}, onTransient: () => {}, ...options,
    });
    this.times = options.timings ?? timings();
    this.storageKey = `dispatchwire.lastEventId.${options.userId}`;
    this.ws = null;
    this.stopped = true;
    this.authed = false;
    this.attempt = 0;
    this.buffer = null; // events held while a sync runs
    this.syncs = Promise.resolve();
    this.timers = {};
    this.state = null;
    this.pollFailed = false;
    this.ackDue = false;
    this.wake = () => {
      if (document.visibilityState !== "hidden") this.reconnectNow(false);
    };
  }

  /** The newest eventId applied, kept per tab so that a reload resumes after it. */
  get lastEventId() {
    const value = Number.parseInt(sessionStorage.getItem(this.storageKey) ?? "", 10);
    return Number.isInteger(value) && value >= 0 ? value : null;
  }

  set lastEventId(value) {
    sessionStorage.setItem(this.storageKey, String(value));
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.wake);
    document.addEventListener("visibilitychange", this.wake);
    this.setState("connecting");
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.wake);
    document.removeEventListener("visibilitychange", this.wake);
    for (const timer of Object.values(this.timers)) clearTimeout(timer);
    clearInterval(this.timers.poll);
    clearInterval(this.timers.ping);
    this.timers = {};
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "page closed");
  }

  /** Connect now instead of waiting for the next attempt; `force` also after a 4409. */
  reconnectNow(force = true) {
    if (this.stopped || this.ws || (this.state === "replaced" && !force)) return;
    this.connect();
  }

  /** Subscribe to assignments, or stop, on the open socket (the next one asks wantsSubscription). */
  setSubscribed(on) {
    if (this.authed) this.send({ type: on ? "subscribe_assignments" : "unsubscribe_assignments" });
  }

  send(frame) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  setState(state) {
    this.state = state;
    this.onState(state, { pollS: this.times.pollS, pollFailed: this.pollFailed });
  }

  connect() {
    clearTimeout(this.timers.retry);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    Object.assign(this, { ws, authed: false, buffer: [] });
    // A connection that never gets to auth_success (a proxy holding it, a stuck server) is retried.
    this.timers.auth = setTimeout(() => ws.close(4000, "no auth_success"),
      this.times.authTimeoutS * 1000);
    ws.onopen = () => {
      // lastEventId is the newest event applied: with `acks` the server takes it as handled.
      const auth = { type: "auth", token: this.token, acks: true };
      if (this.lastEventId !== null) auth.lastEventId = this.lastEventId;
      ws.send(JSON.stringify(auth));
    };
    ws.onmessage = (message) => {
      if (ws === this.ws) this.receive(message.data);
    };
    ws.onclose = (event) => {
      if (ws === this.ws) this.closed(event.code);
    };
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame.type) {
      case "auth_success":
        clearTimeout(this.timers.auth);
        // `recovered: false`: what was missed since lastEventId is older than the server keeps,
        // and nothing is replayed. The sync that follows every auth (below) is the reload by
        // REST that calls for: the pending offers and the user's orders as they are now.
        if (frame.recovered === false) console.info("dispatchwire: missed events are gone from the server; reloading");
        Object.assign(this, { authed: true, attempt: 0 });
        clearInterval(this.timers.ping);
        this.timers.ping = setInterval(() => this.send({ type: "ping" }), this.times.pingS * 1000);
        if (this.wantsSubscription()) this.send({ type: "subscribe_assignments" });
        else this.runSync(this.ws);
        return;
      case "subscribed_assignments": // offers made before the subscription come from the sync
        this.runSync(this.ws);
        return;
      case "auth_error":
        this.authError = frame.message;
        return;
      case "error":
        console.warn("dispatchwire socket:", frame.code, frame.message);
        return;
      default:
        if (Number.isInteger(frame.eventId)) this.deliver(frame);
        else if (this.authed) this.transient(frame);
    }
  }

  transient(frame) {
    try {
      this.onTransient(frame);
    } catch (error) {
      console.error("dispatchwire: a frame could not be shown", frame, error);
    }
  }

  deliver(frame) {
    if (this.buffer) this.buffer.push(frame);
    else this.apply(frame);
  }

  apply(frame) {
    const last = this.lastEventId;
    if (last !== null && frame.eventId <= last) return; // delivery is at least once
    try {
      this.onEvent(frame);
    } catch (error) {
      console.error("dispatchwire: an event could not be shown", frame, error);
    }
    this.lastEventId = frame.eventId;
    this.ackSoon();
  }

  /** Ack the newest applied event once the events applied now are all done (cumulative). */
  ackSoon() {
    if (this.ackDue) return;
    this.ackDue = true;
    queueMicrotask(() => {
      this.ackDue = false;
      const eventId = this.lastEventId;
      if (eventId !== null && this.authed) this.send({ type: "ack", eventId });
    });
  }

  runSync(ws) {
    this.buffer ??= [];
    this.syncs = this.syncs.then(async () => {
      try {
        await this.sync();
      } catch (error) {
        this.onError(error, "connect");
      }
      if (ws !== this.ws || !this.authed) return; // dropped meanwhile: the next connect syncs
      const held = this.buffer ?? [];
      this.buffer = null;
      held.forEach((frame) => this.apply(frame));
      clearInterval(this.timers.poll);
      delete this.timers.poll;
      this.pollFailed = false;
      this.setState("live");
    });
  }

  closed(code) {
    clearTimeout(this.timers.auth);
    clearInterval(this.timers.ping);
    Object.assign(this, { ws: null, authed: false, buffer: null });
    if (this.stopped) return;
    if (code === 4401) {
      this.stop();
      this.onAuthFailed(this.authError ?? "token is invalid");
      return;
    }
    this.startPolling();
    if (code === 4409) { // a newer socket of this user took over: never fight it automatically
      this.setState("replaced");
      return;
    }
    this.setState("polling");
    const cap = Math.min(this.times.retryCapS, this.times.retryS * 2 ** this.attempt);
    this.attempt += 1;
    this.timers.retry = setTimeout(() => this.connect(), Math.random() * cap * 1000);
  }

  startPolling() {
    if (this.timers.poll) return;
    const poll = async () => {
      try {
        await this.sync();
        this.pollFailed = false;
      } catch (error) {
        this.pollFailed = true;
        this.onError(error, "poll");
      }
      if (this.timers.poll && this.state !== "live") this.setState(this.state);
    };
    this.timers.poll = setInterval(poll, this.times.pollS * 1000);
    poll(); // catch up at once, then every pollS
  }
}
