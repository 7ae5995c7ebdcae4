// Small SVG charts: vertical bars over time and horizontal bars by category. Each chart
// is a <figure> with a caption and the same figures as a table, for screen readers.

import { h, s } from "./dom.js";

/** A round upper bound for the axis and the number of equal steps up to it. */
function niceScale(v) {
  if (!(v > 0)) return { max: 1, ticks: 4 };
  const exp = 10 ** Math.floor(Math.log10(v));
  const f = v / exp;
  const [nice, ticks] = f <= 1 ? [1, 5] : f <= 2 ? [2, 4] : f <= 2.5 ? [2.5, 5] : f <= 5 ? [5, 5] : [10, 5];
  return { max: nice * exp, ticks };
}

function dataTable(rows, labelHead, valueHead, format) {
  return h(
    "details",
    { class: "chart-data" },
    h("summary", null, "Show figures"),
    h(
      "table",
      null,
      h("thead", null, h("tr", null, h("th", { scope: "col" }, labelHead), h("th", { scope: "col" }, valueHead))),
      h(
        "tbody",
        null,
        rows.map((r) => h("tr", null, h("th", { scope: "row" }, r.label), h("td", null, format(r.value)))),
      ),
    ),
  );
}

/**
 * Vertical bars, one per point: points = [{label, value}]. The x labels are thinned to
 * stay readable; every bar carries a tooltip with its exact figure.
 */
export function barChart({ points, caption, format = String, unit = "", height = 200, labelHead = "period" }) {
  const width = Math.max(320, Math.min(900, points.length * 34 + 70));
  const left = 58;
  const bottom = 34;
  const top = 12;
  const plotH = height - bottom - top;
  const plotW = width - left - 10;
  const { max, ticks } = niceScale(Math.max(0, ...points.map((p) => p.value)));
  const svg = s("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": caption,
  });
  svg.style.maxWidth = `${width}px`;
  for (let i = 0; i <= ticks; i++) {
    const y = top + plotH - (plotH * i) / ticks;
    svg.append(
      s("line", { class: "grid", x1: left, x2: left + plotW, y1: y, y2: y }),
      s("text", { class: "axis", x: left - 6, y: y + 4, "text-anchor": "end" }, format((max * i) / ticks)),
    );
  }
  const slot = points.length ? plotW / points.length : plotW;
  const bw = Math.max(4, Math.min(28, slot * 0.7));
  const every = Math.ceil(points.length / Math.max(1, Math.floor(plotW / 70)));
  points.forEach((p, i) => {
    const bh = (plotH * p.value) / max;
    const x = left + i * slot + (slot - bw) / 2;
    svg.append(
      s(
        "rect",
        { class: "bar", x, y: top + plotH - bh, width: bw, height: Math.max(0, bh), rx: 2 },
        s("title", null, `${p.label}: ${format(p.value)}${unit}`),
      ),
    );
    if (i % every === 0) {
      svg.append(
        s("text", { class: "axis", x: x + bw / 2, y: height - 12, "text-anchor": "middle" }, p.label),
      );
    }
  });
  if (!points.length) {
    svg.append(s("text", { class: "axis", x: width / 2, y: height / 2, "text-anchor": "middle" }, "no data yet"));
  }
  return h(
    "figure",
    { class: "chart-figure" },
    h("figcaption", null, caption),
    svg,
    dataTable(points, labelHead, caption, format),
  );
}

/** Horizontal bars by category: rows = [{label, value, note}], largest first. */
export function hbarChart({ rows, caption, format = String, labelHead = "name" }) {
  const sorted = [...rows].sort((a, b) => b.value - a.value);
  const rowH = 26;
  const labelW = 130;
  const width = 440;
  const height = Math.max(rowH, sorted.length * rowH) + 8;
  const max = Math.max(0, ...sorted.map((r) => r.value)) || 1;
  const plotW = width - labelW - 70;
  const svg = s("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": caption,
  });
  svg.style.maxWidth = `${width}px`;
  sorted.forEach((r, i) => {
    const y = 4 + i * rowH;
    const bw = (plotW * r.value) / max;
    svg.append(
      s("text", { class: "axis label", x: labelW - 8, y: y + 16, "text-anchor": "end" }, r.label.length > 19 ? `${r.label.slice(0, 18)}…` : r.label),
      s("rect", { class: "bar", x: labelW, y: y + 4, width: Math.max(1, bw), height: rowH - 10, rx: 2 }, s("title", null, `${r.label}: ${format(r.value)}`)),
      s("text", { class: "axis", x: labelW + bw + 6, y: y + 16 }, format(r.value)),
    );
  });
  if (!sorted.length) {
    svg.append(s("text", { class: "axis", x: width / 2, y: 18, "text-anchor": "middle" }, "no data yet"));
  }
  return h(
    "figure",
    { class: "chart-figure" },
    h("figcaption", null, caption),
    svg,
    dataTable(sorted, labelHead, caption, format),
  );
}
