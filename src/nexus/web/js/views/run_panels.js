// The tabs of the run view: agent messages, scratchpads and diffs, tests, usage and cost,
// router decisions and the raw event log. Each renderer returns a fresh element.

import { hbarChart } from "../charts.js";
import { codeBlock, facts, h } from "../dom.js";
import { fmtClock, fmtCost, fmtDuration, fmtTokens } from "../format.js";
import { routerDecisions, testRuns, timeline, usageSummary } from "./run_data.js";

const TEXT_LIMIT = 700;

function longText(text, cls = "md") {
  if (text.length <= TEXT_LIMIT) return h("div", { class: cls }, text);
  return h(
    "details",
    null,
    h("summary", { class: cls }, `${text.slice(0, TEXT_LIMIT)}…`),
    h("div", { class: cls }, text),
  );
}

/** Agent messages: turns, what each model said, tool calls and messages between agents. */
export function messagesPanel(events, { step = "", kinds = new Set(["message", "tool", "text"]), onFilter }) {
  const all = timeline(events);
  const steps = [...new Set(all.map((i) => i.step).filter(Boolean))];
  const items = all.filter((i) => kinds.has(i.kind) && (!step || i.step === step));
  const stepSelect = h(
    "select",
    { id: "msg-step", onChange: () => onFilter({ step: stepSelect.value, kinds }) },
    h("option", { value: "" }, "all steps"),
    steps.map((k) => h("option", { value: k, selected: k === step }, k)),
  );
  const kindBoxes = [
    ["message", "messages"],
    ["text", "model replies"],
    ["tool", "tool calls"],
    ["turn", "turns"],
  ].map(([kind, label]) => {
    const box = h("input", { type: "checkbox", checked: kinds.has(kind), value: kind });
    box.addEventListener("change", () => {
      const next = new Set(kinds);
      if (box.checked) next.add(kind);
      else next.delete(kind);
      onFilter({ step, kinds: next });
    });
    return h("label", null, box, label);
  });
  return h(
    "div",
    null,
    h(
      "div",
      { class: "form-row" },
      h("div", null, h("label", { for: "msg-step" }, "Step"), stepSelect),
      h("fieldset", null, h("legend", null, "Show"), h("div", { class: "form-row" }, kindBoxes)),
    ),
    items.length
      ? h(
          "ol",
          { class: "timeline", id: "messages", "aria-label": "Agent messages" },
          items.map((i) =>
            h(
              "li",
              { class: `kind-${i.kind}`, dataset: { seq: String(i.seq), kind: i.kind } },
              h("time", { datetime: new Date(i.ts * 1000).toISOString() }, fmtClock(i.ts)),
              h("span", { class: "who" }, i.who, h("br"), h("span", { class: "hint mono" }, i.step || "")),
              h(
                "div",
                { class: `what${i.ok === false ? " failed-call" : ""}` },
                h("span", { class: "tag" }, i.tag),
                i.ok === false ? h("strong", null, "failed: ") : null,
                longText(i.text || ""),
                i.detail ? h("details", null, h("summary", { class: "hint" }, "arguments"), codeBlock(i.detail)) : null,
              ),
            ),
          ),
        )
      : h("p", { class: "empty" }, "No agent messages yet."),
  );
}

function diffBlock(text) {
  const pre = h("pre", { class: "code diff", tabindex: "0" });
  const code = h("code");
  for (const line of text.split("\n")) {
    let cls = null;
    if (line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff --git")) cls = "file";
    else if (line.startsWith("+")) cls = "add";
    else if (line.startsWith("-")) cls = "del";
    else if (line.startsWith("@@")) cls = "hunk";
    code.append(cls ? h("span", { class: cls }, line) : line, "\n");
  }
  pre.append(code);
  return pre;
}

/** Scratchpads the agents wrote and the workspace diff of every committed step. */
export function artifactsPanel(artifacts) {
  if (!artifacts) return h("p", { class: "empty" }, "Loading artifacts…");
  if (artifacts.error) return h("p", { class: "error-text" }, artifacts.error);
  if (!artifacts.available) return h("p", { class: "empty" }, "This run has no workspace on this server.");
  return h(
    "div",
    null,
    h("h3", null, `Scratchpads (${artifacts.scratchpads.length})`),
    artifacts.scratchpads.length
      ? artifacts.scratchpads.map((p) =>
          h(
            "details",
            { class: "artifact scratchpad", dataset: { path: p.path } },
            h("summary", null, p.path, h("span", { class: "hint" }, ` · ${p.size} bytes${p.truncated ? ", truncated" : ""}`)),
            h("div", { class: "md" }, p.content),
          ),
        )
      : h("p", { class: "empty" }, "No scratchpads yet."),
    h("h3", null, `Workspace changes (${artifacts.diffs.length} commits)`),
    artifacts.diffs.length
      ? artifacts.diffs.map((d) =>
          h(
            "details",
            { class: "artifact diff-of-step", dataset: { step: d.step_key } },
            h(
              "summary",
              null,
              d.step_key,
              h("span", { class: "hint" }, ` · ${d.files.length} file${d.files.length === 1 ? "" : "s"} · ${d.commit.slice(0, 8)}`),
            ),
            h("ul", { class: "files" }, d.files.map((f) => h("li", { class: "mono" }, f))),
            diffBlock(d.diff),
            d.truncated ? h("p", { class: "hint" }, "Diff truncated.") : null,
          ),
        )
      : h("p", { class: "empty" }, "No committed changes yet."),
  );
}

/** Every test run: passed / failed / errors per step, and the last report. */
export function testsPanel(steps) {
  const runs = testRuns(steps);
  if (!runs.length) return h("p", { class: "empty" }, "No tests have run yet.");
  const last = runs[runs.length - 1];
  const report = last.tests.report || last.tests.output || null;
  return h(
    "div",
    null,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { id: "tests-table" },
        h(
          "thead",
          null,
          h("tr", null, ["Step", "Passed", "Failed", "Errors", "Skipped", "Total", "Took"].map((c, i) => h("th", { scope: "col", class: i ? "num" : null }, c))),
        ),
        h(
          "tbody",
          null,
          runs.map(({ step, tests }) =>
            h(
              "tr",
              { dataset: { step: step.step_key } },
              h("th", { scope: "row", class: "mono" }, step.step_key),
              h("td", { class: "num" }, String(tests.passed ?? "")),
              h("td", { class: `num${tests.failed ? " error-text" : ""}` }, String(tests.failed ?? "")),
              h("td", { class: `num${tests.errors ? " error-text" : ""}` }, String(tests.errors ?? "")),
              h("td", { class: "num" }, String(tests.skipped ?? "")),
              h("td", { class: "num" }, String(tests.total ?? "")),
              h("td", { class: "num" }, fmtDuration(step.duration_s)),
            ),
          ),
        ),
      ),
    ),
    report ? h("div", null, h("h3", null, `Last report (${last.step.step_key})`), codeBlock(String(report))) : null,
  );
}

/** Tokens and cost: totals, per step, per model and per agent. */
export function usagePanel(steps, events) {
  const u = usageSummary(steps, events);
  const stepRows = [...u.perStep.entries()].map(([k, v]) => ({ label: k, value: v.cost }));
  return h(
    "div",
    null,
    h(
      "dl",
      { class: "stats", id: "run-usage" },
      h("div", null, h("dt", null, "cost"), h("dd", { dataset: { figure: "cost" } }, fmtCost(u.totals.cost))),
      h("div", null, h("dt", null, "input tokens"), h("dd", null, fmtTokens(u.totals.input))),
      h("div", null, h("dt", null, "output tokens"), h("dd", null, fmtTokens(u.totals.output))),
      h("div", null, h("dt", null, "model calls"), h("dd", null, String(events.filter((e) => e.type === "usage.recorded").length))),
    ),
    h(
      "div",
      { class: "charts" },
      hbarChart({ rows: stepRows, caption: "Cost per step (USD)", format: fmtCost, labelHead: "step" }),
      hbarChart({
        rows: [...u.byModel.entries()].map(([label, value]) => ({ label, value })),
        caption: "Cost per model (USD)",
        format: fmtCost,
        labelHead: "model",
      }),
      hbarChart({
        rows: [...u.byAgent.entries()].map(([label, value]) => ({ label, value })),
        caption: "Cost per agent (USD)",
        format: fmtCost,
        labelHead: "agent",
      }),
    ),
  );
}

/** Which model each step used and why the router chose it. */
export function routerPanel(steps) {
  const rows = routerDecisions(steps);
  if (!rows.length) return h("p", { class: "empty" }, "No model calls yet.");
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "router-table" },
      h("thead", null, h("tr", null, ["Step", "Agent", "Model", "Why"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        null,
        rows.map((r) =>
          h(
            "tr",
            null,
            h("th", { scope: "row", class: "mono" }, r.step),
            h("td", null, r.agent || ""),
            h("td", { class: "mono" }, r.model || ""),
            h(
              "td",
              null,
              r.reason || h("span", { class: "hint" }, "the agent's configured model (no routing rule)"),
              Object.keys(r.extra).length ? h("details", null, h("summary", { class: "hint" }, "scores"), codeBlock(r.extra)) : null,
            ),
          ),
        ),
      ),
    ),
  );
}

/** The raw event log, newest last (the latest 300). */
export function eventsPanel(events) {
  const shown = events.slice(-300);
  return h(
    "div",
    { class: "table-wrap" },
    events.length > shown.length ? h("p", { class: "hint" }, `Showing the latest ${shown.length} of ${events.length} events.`) : null,
    h(
      "table",
      { id: "events-table", class: "kv-small" },
      h("thead", null, h("tr", null, ["#", "Time", "Type", "Step", "Data"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        null,
        shown.map((e) =>
          h(
            "tr",
            null,
            h("td", { class: "num" }, String(e.seq)),
            h("td", null, fmtClock(e.ts)),
            h("td", { class: "mono" }, e.type),
            h("td", { class: "mono" }, e.step_key || ""),
            h("td", { class: "mono" }, JSON.stringify(e.data).slice(0, 160)),
          ),
        ),
      ),
    ),
  );
}

/** The run's inputs and lineage, for the summary panel. */
export function runFacts(run) {
  return facts([
    ["run id", h("span", { class: "mono" }, run.run_id)],
    ["correlation id", h("span", { class: "mono" }, run.correlation_id)],
    ["tenant", run.tenant_id],
    ["parent run", run.parent_run_id ? h("a", { href: `#/runs/${encodeURIComponent(run.parent_run_id)}`, class: "mono" }, run.parent_run_id) : null],
    ["forked from step", run.forked_from_step],
    ["workspace", run.workspace ? h("span", { class: "mono" }, run.workspace) : null],
    ["inputs", Object.keys(run.inputs || {}).length ? codeBlock(run.inputs) : null],
    ["error", run.error ? codeBlock(run.error) : null],
  ]);
}
