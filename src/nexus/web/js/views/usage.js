// Usage and cost: totals, run outcomes, and charts of cost and tokens over time and by
// agent and model (from /api/usage and /api/usage/summary). Refreshed live whenever a
// run on this server finishes.

import { get, follow } from "../api.js";
import { barChart, hbarChart } from "../charts.js";
import { debounce, h, mount } from "../dom.js";
import { fmtCost, fmtDuration, fmtPercent, fmtTokens } from "../format.js";
import { liveState } from "../ui.js";
import { errorPanel } from "./common.js";

const RANGES = [
  ["1", "last 24 hours", "hour"],
  ["7", "last 7 days", "day"],
  ["30", "last 30 days", "day"],
  ["90", "last 90 days", "week"],
  ["", "all time", "week"],
];

function bucketLabel(iso, groupBy) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  if (groupBy === "hour") return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

export function usageView(root) {
  const st = { range: "7", groupBy: "day" };
  const body = h("div", { id: "usage-body" }, h("p", { class: "hint" }, "Loading…"));
  const range = h(
    "select",
    { id: "usage-range" },
    RANGES.map(([v, label]) => h("option", { value: v, selected: v === st.range }, label)),
  );
  const grouping = h(
    "select",
    { id: "usage-group" },
    ["hour", "day", "week"].map((g) => h("option", { value: g, selected: g === st.groupBy }, `per ${g}`)),
  );
  range.addEventListener("change", () => {
    st.range = range.value;
    st.groupBy = RANGES.find((r) => r[0] === st.range)[2];
    grouping.value = st.groupBy;
    load();
  });
  grouping.addEventListener("change", () => {
    st.groupBy = grouping.value;
    load();
  });
  mount(
    root,
    h(
      "div",
      { class: "page-head" },
      h("div", null, h("h1", null, "Usage & cost"), h("p", { class: "sub" }, "Tokens, cost, duration and success of every agent and tool step.")),
      h(
        "div",
        { class: "actions" },
        h("label", { for: "usage-range", class: "sr-only" }, "Time range"),
        range,
        h("label", { for: "usage-group", class: "sr-only" }, "Group by"),
        grouping,
      ),
    ),
    body,
  );

  let ticket = 0;
  async function load() {
    const mine = ++ticket;
    const since = st.range ? String(Date.now() / 1000 - Number(st.range) * 86400) : undefined;
    let series;
    let byModel;
    let summary;
    try {
      [series, byModel, summary] = await Promise.all([
        get("/api/usage", { group_by: st.groupBy, by: "none", since }),
        get("/api/usage", { group_by: st.groupBy, by: "model", since }),
        get("/api/usage/summary", { since }),
      ]);
    } catch (err) {
      mount(body, errorPanel(err));
      return;
    }
    if (mine !== ticket) return;
    const t = summary.totals;
    const points = series.rows.map((r) => ({ label: bucketLabel(r.bucket, st.groupBy), cost: r.cost_usd, tokens: r.total_tokens }));
    const models = [...new Set(byModel.rows.map((r) => r.key))];
    const stat = (label, value, key) => h("div", null, h("dt", null, label), h("dd", { dataset: { figure: key } }, value));
    mount(
      body,
      h(
        "section",
        { class: "panel", "aria-label": "Totals" },
        h(
          "dl",
          { class: "stats", id: "usage-totals" },
          stat("cost", fmtCost(t.cost_usd), "cost"),
          stat("tokens", fmtTokens(t.total_tokens), "tokens"),
          stat("steps", String(t.steps), "steps"),
          stat("step success", t.success_rate === null ? "—" : fmtPercent(t.success_rate), "success"),
          stat("runs", String(summary.runs.total), "runs"),
          stat("run success", summary.runs.success_rate === null ? "—" : fmtPercent(summary.runs.success_rate), "run-success"),
          stat("mean run time", summary.runs.mean_duration_s ? fmtDuration(summary.runs.mean_duration_s) : "—", "duration"),
        ),
        summary.truncated || series.truncated ? h("p", { class: "hint" }, "Only the most recent runs were read; older usage is not shown.") : null,
      ),
      h(
        "section",
        { class: "panel", "aria-labelledby": "usage-time-title" },
        h("h2", { id: "usage-time-title" }, "Over time"),
        h(
          "div",
          { class: "charts" },
          barChart({ points: points.map((p) => ({ label: p.label, value: p.cost })), caption: `Cost per ${st.groupBy} (USD)`, format: fmtCost }),
          barChart({ points: points.map((p) => ({ label: p.label, value: p.tokens })), caption: `Tokens per ${st.groupBy}`, format: fmtTokens }),
        ),
      ),
      h(
        "section",
        { class: "panel", "aria-labelledby": "usage-by-title" },
        h("h2", { id: "usage-by-title" }, "By agent and model"),
        h(
          "div",
          { class: "charts" },
          hbarChart({
            rows: Object.entries(summary.by_agent).map(([label, v]) => ({ label, value: v.cost_usd })),
            caption: "Cost per agent or tool (USD)",
            format: fmtCost,
            labelHead: "agent",
          }),
          hbarChart({
            rows: Object.entries(summary.by_model).map(([label, v]) => ({ label, value: v.cost_usd })),
            caption: "Cost per model (USD)",
            format: fmtCost,
            labelHead: "model",
          }),
          hbarChart({
            rows: Object.entries(summary.by_model).map(([label, v]) => ({ label, value: v.total_tokens })),
            caption: "Tokens per model",
            format: fmtTokens,
            labelHead: "model",
          }),
        ),
        models.length ? modelTable(summary.by_model) : null,
      ),
    );
  }

  const reload = debounce(load, 1000);
  const stream = follow("/api/agents/stream", "/api/agents/ws", {
    onEvent: ({ type, data }) => {
      if (type === "run.progress" && data && /^(run\.(succeeded|failed|cancelled)|step\.(succeeded|failed))$/.test(data.type)) reload();
    },
    onState: liveState,
  });
  load();
  return { cleanup: () => stream.close() };
}

function modelTable(byModel) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "usage-models" },
      h(
        "thead",
        null,
        h("tr", null, ["Model", "Steps", "Success", "Input tokens", "Output tokens", "Cost", "Time"].map((c, i) => h("th", { scope: "col", class: i ? "num" : null }, c))),
      ),
      h(
        "tbody",
        null,
        Object.entries(byModel)
          .sort((a, b) => b[1].cost_usd - a[1].cost_usd)
          .map(([model, v]) =>
            h(
              "tr",
              null,
              h("th", { scope: "row", class: "mono" }, model),
              h("td", { class: "num" }, String(v.steps)),
              h("td", { class: "num" }, v.success_rate === null ? "—" : fmtPercent(v.success_rate)),
              h("td", { class: "num" }, fmtTokens(v.input_tokens)),
              h("td", { class: "num" }, fmtTokens(v.output_tokens)),
              h("td", { class: "num" }, fmtCost(v.cost_usd)),
              h("td", { class: "num" }, fmtDuration(v.duration_s)),
            ),
          ),
      ),
    ),
  );
}
