// Where the master is. The client's page shows his newest position (master_location frames, or
// master.location of the order), how long ago it came and how far it is from the order's
// address, drawn on a small local SVG: no map tiles, nothing fetched from elsewhere. The
// master's page shares his position while he is on a job (the browser's Geolocation API),
// once he says so, and stops when he says so or when the job ends.

import { formatAgo, formatDistance, t } from "./i18n.js";
import { el } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const EARTH_M = 6_371_000;
const RADIANS = Math.PI / 180;
const RING = 80; // the map's ring, in SVG units: the scale's distance
const MIN_SCALE_M = 250;

/** Metres between two points (haversine). */
export function distanceM(a, b) {
  const dLat = (b.lat - a.lat) * RADIANS;
  const dLon = (b.lon - a.lon) * RADIANS;
  const h = Math.sin(dLat / 2) ** 2
    + Math.cos(a.lat * RADIANS) * Math.cos(b.lat * RADIANS) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Metres east and north of `origin` (flat: fine for the distances a master drives). */
function offsetM(origin, point) {
  return {
    east: (point.lon - origin.lon) * RADIANS * EARTH_M * Math.cos(origin.lat * RADIANS),
    north: (point.lat - origin.lat) * RADIANS * EARTH_M,
  };
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

/** The client's view of his master: "updated 5 s ago", the distance, and the little map. */
export class MasterPosition {
  /** order: the order (its lat/lon are the address's, when given). */
  constructor(order) {
    this.address = Number.isFinite(order.lat) && Number.isFinite(order.lon)
      ? { lat: order.lat, lon: order.lon } : null;
    this.location = null;
    this.text = el("p", { class: "position-text" });
    this.distance = el("p", { class: "position-distance" });
    this.map = svg("svg", { class: "position-map", viewBox: "-100 -100 200 200", role: "img" });
    this.map.setAttribute("aria-label", t("location.mapLabel"));
    this.legend = el("p", { class: "position-legend muted small", "aria-hidden": "true" },
      el("span", { class: "key home" }), t("location.legendAddress"), " ",
      el("span", { class: "key master" }), order.master?.name ?? "");
    this.element = el("div", { class: "position", dataset: { orderId: order.id } },
      el("h4", {}, t("location.title")), this.text, this.distance, this.map, this.legend);
    this.set(order.master?.location ?? null);
  }

  /** A newer position ({lat, lon, at}); an older one than shown is ignored. */
  set(location) {
    if (location && this.location && Date.parse(location.at) < Date.parse(this.location.at)) return;
    this.location = location;
    this.element.dataset.lat = location?.lat ?? "";
    this.element.dataset.lon = location?.lon ?? "";
    this.draw();
    this.tick();
  }

  /** Once a second: how long ago the position came. */
  tick() {
    this.text.textContent = this.location
      ? t("location.updated", { ago: formatAgo(this.location.at) })
      : t("location.waiting");
  }

  draw() {
    const located = this.location && this.address;
    this.map.toggleAttribute("hidden", !located); // an SVG element has no `hidden` property
    this.legend.hidden = !located;
    if (!this.location) {
      this.distance.textContent = "";
      this.distance.hidden = true;
      return;
    }
    this.distance.hidden = false;
    if (!this.address) {
      this.distance.textContent = t("location.noAddressPoint");
      return;
    }
    const meters = distanceM(this.address, this.location);
    this.distance.textContent = t("location.distance", { distance: formatDistance(meters) });
    this.element.dataset.distanceM = String(Math.round(meters));
    this.drawMap(meters);
  }

  drawMap(meters) {
    const scale = Math.max(MIN_SCALE_M, meters * 1.25);
    const { east, north } = offsetM(this.address, this.location);
    const x = (east / scale) * RING;
    const y = (-north / scale) * RING;
    this.map.replaceChildren(
      svg("circle", { r: RING, class: "ring" }),
      svg("circle", { r: RING / 2, class: "ring inner" }),
      svg("line", { x1: 0, y1: 0, x2: x.toFixed(1), y2: y.toFixed(1), class: "route" }),
      svg("rect", { x: -7, y: -7, width: 14, height: 14, rx: 3, class: "home" }),
      svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 12, class: "master-halo" }),
      svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 7, class: "master-dot" }),
      Object.assign(svg("text", { x: 0, y: -RING - 6, class: "scale" }), {
        textContent: formatDistance(scale),
      }),
    );
  }
}

/**
 * The master's side: shares his position on the socket while `active` (he has a job) and he
 * chose to. `send(frame)` writes a frame on the socket and says whether it could (false while
 * the socket is down: the position goes as soon as it is back); `everyS` is the least time
 * between two positions sent (the server keeps one an interval anyway); a position that does
 * not change is sent again every `resendS`, so that the client's "updated N s ago" stays true.
 */
export class LocationSharer {
  constructor({ send, everyS = 2, resendS = 15, storageKey = "dispatchwire.master.shareLocation" }) {
    Object.assign(this, { send, everyS, resendS, storageKey });
    this.active = false;
    this.watch = null;
    this.latest = null; // { lat, lon }
    this.unsent = false; // `latest` has not gone out yet
    this.sentAt = 0;
    this.problem = null; // an i18n key
    this.resender = null;
    this.state = el("p", { class: "location-state", role: "status" });
    this.button = el("button", { type: "button", class: "primary", onclick: () => this.toggle() });
    this.element = el("section", { class: "card location-share", "aria-labelledby": "location-title" },
      el("h2", { id: "location-title" }, t("master.locationTitle")),
      el("p", { class: "muted small" }, t("master.locationExplain")),
      this.state, el("div", { class: "actions" }, this.button));
    this.element.hidden = true;
    this.render();
  }

  get wanted() {
    try {
      return localStorage.getItem(this.storageKey) === "on";
    } catch {
      return false;
    }
  }

  set wanted(on) {
    try {
      if (on) localStorage.setItem(this.storageKey, "on");
      else localStorage.removeItem(this.storageKey);
    } catch {
      // storage refused: the choice lasts while the page is open
    }
    this.wantedNow = on;
  }

  get sharing() {
    return this.watch !== null;
  }

  /** Whether the master has a job now: sharing runs only then. */
  setActive(active) {
    this.active = active;
    this.element.hidden = !active;
    if (active && (this.wantedNow ?? this.wanted)) this.start();
    if (!active) this.stopWatching();
    this.render();
  }

  toggle() {
    if (this.sharing) {
      this.wanted = false;
      this.stopWatching();
    } else {
      this.wanted = true;
      this.start();
    }
    this.render();
  }

  start() {
    if (this.sharing || !this.active) return;
    if (!("geolocation" in navigator) || !window.isSecureContext) {
      this.problem = "location.unsupported";
      return;
    }
    this.problem = null;
    this.watch = navigator.geolocation.watchPosition(
      (position) => this.position(position.coords), (error) => this.failed(error),
      { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 });
    this.resender = setInterval(() => this.flush(), 1000);
  }

  stopWatching() {
    if (this.watch !== null) navigator.geolocation.clearWatch(this.watch);
    clearInterval(this.resender);
    Object.assign(this, { watch: null, resender: null, latest: null, unsent: false, sentAt: 0 });
  }

  position(coords) {
    Object.assign(this, { latest: { lat: coords.latitude, lon: coords.longitude }, unsent: true });
    this.problem = null;
    this.flush();
    this.render();
  }

  /** Send the newest position if it is time: a new one after `everyS`, the same after `resendS`. */
  flush() {
    if (!this.latest || !this.active) return;
    const since = (Date.now() - this.sentAt) / 1000;
    if (since < (this.unsent ? this.everyS : this.resendS)) return;
    if (this.send({ type: "location", ...this.latest }) === false) return;
    Object.assign(this, { sentAt: Date.now(), unsent: false });
    this.render();
  }

  failed(error) {
    this.problem = error.code === error.PERMISSION_DENIED ? "location.denied" : "location.unavailable";
    if (error.code === error.PERMISSION_DENIED) this.stopWatching();
    this.render();
  }

  /** The state line; called once a second for "sent N s ago". */
  render() {
    this.element.dataset.sharing = String(this.sharing);
    this.button.textContent = t(this.sharing ? "master.locationStop" : "master.locationStart");
    this.button.className = this.sharing ? "secondary" : "primary";
    let text;
    if (this.problem) text = t(this.problem);
    else if (!this.sharing) text = t("master.locationOff");
    else if (!this.sentAt) text = t("master.locationWaiting");
    else text = t("master.locationSharing", { ago: formatAgo(new Date(this.sentAt).toISOString()) });
    this.state.textContent = text;
    this.state.classList.toggle("problem", Boolean(this.problem));
  }
}
