// /admin: today's figures (GET /api/admin/dispatch/stats and /dispatch/accept-times since the
// local midnight): orders placed and taken, time to accept, offers by how they ended, and a
// small chart of time to accept drawn as inline SVG (no library, nothing fetched).

import { formatDuration, formatNumber, lang, t } from "./i18n.js";
import { $, el } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
// How offers ended, in the order of the bar, each with its key in the catalogue.
const OUTCOMES = [
  ["accepted", "board.outcome.accepted"], ["rejected", "board.outcome.rejected"],
  ["expired", "board.outcome.expired"], ["undelivered", "board.outcome.undelivered"],
  ["taken", "board.outcome.taken"], ["withdrawn", "board.outcome.withdrawn"], ["open", "board.outcome.open"],
];

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  node.append(...children);
  return node;
}

/** Midnight today, local time, as the API's `since`. */
export function startOfToday() {
  const now = new Date();
  return new Date(now.getFullYear(), now.getMonth(), now.getDate()).toISOString();
}

const seconds = (value) => (value === null || value === undefined ? "–" : formatDuration(value));

const narrowSeconds = new Intl.NumberFormat(lang, { style: "unit", unit: "second", unitDisplay: "narrow" });
const narrowMinutes = new Intl.NumberFormat(lang, { style: "unit", unit: "minute", unitDisplay: "narrow" });

/** A bucket's label under its bar, short to fit: "≤ 30s", "≤ 2m", the last "longer". */
function bucketLabel(bucket) {
  if (bucket.upToS === null) return t("board.chart.longer");
  const time = bucket.upToS < 60 ? narrowSeconds.format(bucket.upToS) : narrowMinutes.format(bucket.upToS / 60);
  return t("board.chart.upTo", { time });
}

/** The histogram as a bar per bucket, side by side down the card: its label on the left, the
 * count at the bar's end (room for the labels of any language, on a phone too). */
function acceptChart(buckets) {
  const width = 360;
  const row = 17;
  const labelWidth = 62;
  const countWidth = 30;
  const height = row * buckets.length + 16;
  const tallest = Math.max(1, ...buckets.map((bucket) => bucket.count));
  const total = buckets.reduce((sum, bucket) => sum + bucket.count, 0);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "img", class: "accept-chart",
    "aria-label": t("board.chart.label", { count: total }),
  });
  chart.append(svg("line", { x1: labelWidth + 4, x2: labelWidth + 4, y1: 0, y2: row * buckets.length, class: "axis" }));
  buckets.forEach((bucket, index) => {
    const length = ((width - labelWidth - countWidth - 8) * bucket.count) / tallest;
    const y = index * row;
    const label = bucketLabel(bucket);
    chart.append(svg("g", { class: "bucket", "data-count": bucket.count, "data-up-to": bucket.upToS ?? "" },
      svg("title", {}, t("board.chart.bar", { label, count: bucket.count })),
      svg("text", { x: labelWidth, y: y + row / 2 + 3.5, class: "label" }, label),
      svg("rect", { x: labelWidth + 4, y: y + 3, width: length, height: row - 6, rx: 2, class: "bar" }),
      svg("text", { x: labelWidth + 8 + length, y: y + row / 2 + 3.5, class: "count" }, formatNumber(bucket.count))));
  });
  chart.append(svg("text", { x: labelWidth + 4, y: height - 3, class: "caption" }, t("board.chart.caption")));
  if (!total) {
    chart.append(svg("text", { x: (width + labelWidth) / 2, y: (row * buckets.length) / 2, class: "nothing" }, t("board.chart.nothing")));
  }
  return chart;
}

/** One bar of all the offers made, a segment per way they ended, and the legend. */
function outcomes(offers) {
  const ended = OUTCOMES.slice(0, -1).reduce((sum, [key]) => sum + offers[key], 0);
  const counts = { ...offers, open: Math.max(0, offers.made - ended) };
  const total = Math.max(1, offers.made);
  const bar = svg("svg", { viewBox: "0 0 100 6", preserveAspectRatio: "none", class: "offer-bar-svg" });
  let x = 0;
  for (const [key] of OUTCOMES) {
    const share = (100 * counts[key]) / total;
    if (share > 0) bar.append(svg("rect", { x, y: 0, width: share, height: 6, class: `segment outcome-${key}` }));
    x += share;
  }
  if (!offers.made) bar.append(svg("rect", { x: 0, y: 0, width: 100, height: 6, class: "segment none" }));
  const legend = OUTCOMES.filter(([key]) => key !== "open" || counts.open).map(([key, message]) =>
    el("li", { dataset: { outcome: key }, class: counts[key] ? "" : "zero" },
      el("span", { class: `key outcome-${key}`, "aria-hidden": "true" }),
      el("span", { class: "what" }, t(message)), el("span", { class: "n" }, formatNumber(counts[key]))));
  return { bar, legend };
}

export function renderFigures(stats, acceptTimes) {
  $("[data-figure=ordersPlaced]").textContent = formatNumber(stats.ordersPlaced);
  $("[data-figure=ordersAssigned]").textContent = formatNumber(stats.ordersAssigned);
  for (const key of ["p50", "p90", "max"]) $(`[data-figure=${key}]`).textContent = seconds(stats.timeToAcceptS[key]);
  $("#accept-chart").replaceChildren(acceptChart(acceptTimes.buckets));
  const { bar, legend } = outcomes(stats.offers);
  $("#offer-bar").replaceChildren(bar);
  $("#offer-outcomes").replaceChildren(
    el("li", { class: "made", dataset: { outcome: "made" } }, el("span", { class: "what" }, t("board.outcome.made")),
      el("span", { class: "n" }, formatNumber(stats.offers.made))),
    ...legend);
}
