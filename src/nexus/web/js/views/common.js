// Pieces shared by several views: progress bars, run status from events, errors.

import { h } from "../dom.js";

/** A labelled progress bar: done / total steps. */
export function progressBar(done, total, status) {
  const pct = total > 0 ? Math.round((100 * done) / total) : status === "succeeded" ? 100 : 0;
  const fill = h("div", { class: "progress-fill" });
  fill.style.width = `${pct}%`; // a CSSOM write: allowed by the page's style-src policy
  return h(
    "div",
    { class: `progress status-${status || ""}` },
    h(
      "div",
      {
        class: "progress-track",
        role: "progressbar",
        "aria-valuemin": "0",
        "aria-valuemax": String(total || 0),
        "aria-valuenow": String(done || 0),
        "aria-label": `${done} of ${total} steps finished`,
      },
      fill,
    ),
    h("span", { class: "progress-text" }, `${done}/${total}`),
  );
}

/** The run status an event moves a run to, or null. */
export function runStatusOf(type) {
  return (
    {
      "run.created": "created",
      "run.started": "running",
      "run.resumed": "running",
      "run.waiting_input": "waiting_input",
      "run.succeeded": "succeeded",
      "run.failed": "failed",
      "run.cancelled": "cancelled",
      "step.answered": "running",
    }[type] || null
  );
}

/** The step status an event moves a step to, or null. */
export function stepStatusOf(type) {
  return (
    {
      "step.started": "running",
      "step.retrying": "running",
      "step.succeeded": "succeeded",
      "step.failed": "failed",
      "step.skipped": "skipped",
      "step.waiting": "waiting_input",
      "step.answered": "succeeded",
      "step.cancelled": "cancelled",
    }[type] || null
  );
}

export const FINISHED_RUN = new Set(["succeeded", "failed", "cancelled"]);

/** A panel that says something could not be loaded. */
export function errorPanel(err) {
  return h(
    "section",
    { class: "panel", role: "alert" },
    h("h2", null, "Could not load this page"),
    h("p", { class: "error-text" }, err && err.message ? err.message : String(err)),
    err && err.status === 401
      ? h("p", null, "This server needs an API key: ", h("a", { href: "#/settings" }, "enter it in Settings"), ".")
      : null,
  );
}
