// What the run view derives from a run's steps and events: usage totals, test results,
// router decisions and the agent message timeline.

import { iterationsOf, planIdOf } from "../dag.js";

export const MESSAGE_TYPES = new Set(["agent.turn", "model.responded", "tool.called", "message.sent"]);

function usageOf(step) {
  const u = step.meta && typeof step.meta.usage === "object" && step.meta.usage ? step.meta.usage : {};
  return {
    input: Number(u.input_tokens || 0),
    output: Number(u.output_tokens || 0),
    cost: Number(step.meta?.cost_usd ?? u.cost_usd ?? 0) || 0,
  };
}

/**
 * Usage per step, model and agent. Steps that have not finished yet count the
 * usage.recorded events seen so far, so the totals move while an agent works.
 */
export function usageSummary(steps, events) {
  const perStep = new Map();
  const recorded = new Set();
  for (const step of steps) {
    const u = usageOf(step);
    if (u.input || u.output || u.cost || step.meta?.usage) {
      recorded.add(step.step_key);
      perStep.set(step.step_key, {
        ...u,
        model: step.meta?.model || null,
        agent: step.meta?.agent || null,
      });
    }
  }
  for (const ev of events) {
    if (ev.type !== "usage.recorded" || !ev.step_key || recorded.has(ev.step_key)) continue;
    const cur = perStep.get(ev.step_key) || { input: 0, output: 0, cost: 0, model: null, agent: null };
    cur.input += Number(ev.data.input_tokens || 0);
    cur.output += Number(ev.data.output_tokens || 0);
    cur.cost += Number(ev.data.cost_usd || 0);
    cur.model = ev.data.model || cur.model;
    cur.agent = ev.data.agent || cur.agent;
    perStep.set(ev.step_key, cur);
  }
  const totals = { input: 0, output: 0, cost: 0 };
  const byModel = new Map();
  const byAgent = new Map();
  for (const u of perStep.values()) {
    totals.input += u.input;
    totals.output += u.output;
    totals.cost += u.cost;
    if (u.model) byModel.set(u.model, (byModel.get(u.model) || 0) + u.cost);
    if (u.agent) byAgent.set(u.agent, (byAgent.get(u.agent) || 0) + u.cost);
  }
  return { perStep, totals, byModel, byAgent };
}

/** Test results of a step's output, if it ran tests ({passed, failed, errors, …}). */
export function testsOf(step) {
  const out = step.output;
  if (!out || typeof out !== "object") return null;
  if (out.tests && typeof out.tests === "object" && "passed" in out.tests) return out.tests;
  if ("passed" in out && "failed" in out && "total" in out) return out;
  return null;
}

/** Every test run of the run, in the order the steps finished. */
export function testRuns(steps) {
  return steps
    .map((step) => ({ step, tests: testsOf(step) }))
    .filter((r) => r.tests && r.step.kind !== "loop")
    .sort((a, b) => (a.step.finished_at || 0) - (b.step.finished_at || 0));
}

/** One row per step that called a model: which model, and why the router chose it. */
export function routerDecisions(steps) {
  return steps
    .filter((s) => s.meta && (s.meta.model || s.meta.route_reason || s.meta.route))
    .sort((a, b) => (a.started_at || 0) - (b.started_at || 0))
    .map((s) => {
      const extra = {};
      for (const [k, v] of Object.entries(s.meta)) {
        if (k.startsWith("route") && k !== "route_reason") extra[k] = v;
        if (k === "fallback" || k === "fallbacks" || k === "router") extra[k] = v;
      }
      return {
        step: s.step_key,
        agent: s.meta.agent || null,
        model: s.meta.model || null,
        reason: s.meta.route_reason || null,
        extra,
      };
    });
}

function textOfResponse(response) {
  const parts = response?.message?.parts;
  if (!Array.isArray(parts)) return "";
  return parts
    .filter((p) => p && p.type === "text" && p.text)
    .map((p) => p.text)
    .join("\n")
    .trim();
}

/** The agent message timeline: turns, what the model said, tool calls, messages. */
export function timeline(events) {
  const items = [];
  for (const ev of events) {
    const d = ev.data || {};
    if (ev.type === "message.sent") {
      items.push({
        seq: ev.seq,
        ts: ev.ts,
        step: ev.step_key,
        kind: "message",
        tag: `message · ${d.type || "info"}`,
        who: `${d.from || "?"} → ${d.to || "?"}`,
        text: typeof d.payload === "string" ? d.payload : JSON.stringify(d.payload),
        priority: d.priority,
      });
    } else if (ev.type === "tool.called") {
      const args = d.arguments && Object.keys(d.arguments).length ? JSON.stringify(d.arguments) : "";
      items.push({
        seq: ev.seq,
        ts: ev.ts,
        step: ev.step_key,
        kind: "tool",
        tag: `tool · ${d.tool}`,
        who: d.agent || "",
        text: d.summary || "",
        detail: args,
        ok: d.ok !== false,
      });
    } else if (ev.type === "model.responded") {
      const text = textOfResponse(d.response);
      if (!text) continue;
      items.push({
        seq: ev.seq,
        ts: ev.ts,
        step: ev.step_key,
        kind: "text",
        tag: `said · turn ${d.turn ?? ""}`,
        who: d.agent || "",
        text,
      });
    } else if (ev.type === "agent.turn") {
      items.push({
        seq: ev.seq,
        ts: ev.ts,
        step: ev.step_key,
        kind: "turn",
        tag: `turn ${d.turn ?? ""}`,
        who: d.agent || "",
        text: d.model ? `model ${d.model}` : "",
      });
    }
  }
  return items;
}

/** The step records that belong to a plan node (all loop iterations), oldest first. */
export function recordsOf(steps, planId) {
  return steps
    .filter((s) => planIdOf(s.step_key) === planId)
    .sort((a, b) => {
      const ia = iterationsOf(a.step_key);
      const ib = iterationsOf(b.step_key);
      for (let i = 0; i < Math.max(ia.length, ib.length); i++) {
        if ((ia[i] || 0) !== (ib[i] || 0)) return (ia[i] || 0) - (ib[i] || 0);
      }
      return 0;
    });
}
