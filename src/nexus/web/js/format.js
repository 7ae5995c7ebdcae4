// Formatting of times, durations, money, tokens and statuses for display.

import { h } from "./dom.js";

export function fmtTime(ts) {
  if (ts === undefined || ts === null) return "";
  const d = new Date(typeof ts === "number" ? ts * 1000 : ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  return d.toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

export function fmtClock(ts) {
  if (ts === undefined || ts === null) return "";
  const d = new Date(ts * 1000);
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function fmtDuration(seconds) {
  if (seconds === undefined || seconds === null || Number.isNaN(seconds)) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtCost(usd) {
  const v = Number(usd || 0);
  if (v === 0) return "$0";
  if (v < 0.01) return `$${v.toFixed(4)}`;
  return `$${v.toFixed(v < 10 ? 3 : 2)}`;
}

export function fmtTokens(n) {
  const v = Number(n || 0);
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(1)} k`;
  return v.toLocaleString();
}

export function fmtPercent(x) {
  if (x === undefined || x === null) return "";
  return `${Math.round(x * 100)} %`;
}

const STATUS_TEXT = {
  created: "created",
  pending: "pending",
  queued: "queued",
  running: "running",
  processing: "processing",
  waiting_input: "waiting for input",
  succeeded: "succeeded",
  failed: "failed",
  skipped: "skipped",
  cancelled: "cancelled",
  idle: "idle",
  error: "error",
};

const STATUS_ICON = {
  succeeded: "✓",
  failed: "✗",
  error: "✗",
  running: "●",
  processing: "●",
  waiting_input: "?",
  skipped: "–",
  cancelled: "⊘",
  pending: "○",
  queued: "○",
  created: "○",
  idle: "○",
};

export function statusText(status) {
  return STATUS_TEXT[status] || status || "unknown";
}

export function statusIcon(status) {
  return STATUS_ICON[status] || "○";
}

/** A status badge: icon + words, never colour alone. */
export function badge(status) {
  return h(
    "span",
    { class: `badge status-${status}`, dataset: { status: status || "" } },
    h("span", { "aria-hidden": "true" }, statusIcon(status)),
    " ",
    statusText(status),
  );
}

/** Short run id for tables. */
export function shortId(id) {
  return id && id.length > 10 ? id.slice(0, 10) : id || "";
}
