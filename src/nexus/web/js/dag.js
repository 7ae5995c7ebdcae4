// The plan's DAG as SVG: flatten the plan into scopes (groups nest), lay each scope out in
// layers top to bottom (longest path from the sources), and draw nodes coloured by the
// live state of their steps.

import { s } from "./dom.js";
import { statusIcon, statusText } from "./format.js";

export const NODE_KINDS = [
  "agent",
  "tool",
  "gate",
  "human",
  "condition",
  "loop",
  "parallel",
  "sequence",
  "transform",
];
const GROUP_KINDS = new Set(["loop", "parallel", "sequence"]);

const NODE_W = 196;
const NODE_H = 70;
const GAP_X = 22;
const GAP_Y = 40;
const PAD = 14;
const TITLE_H = 28;
const MARGIN = 12;

/** The kind of a plan node: its `kind` field, or the one kind key it carries. */
export function nodeKind(node) {
  if (node && typeof node.kind === "string") return node.kind;
  return NODE_KINDS.find((k) => node && k in node) || "tool";
}

function childSteps(node, kind) {
  const spec = node[kind];
  return spec && typeof spec === "object" && spec.steps ? spec.steps : null;
}

/** The plan node id of a step record's key: loop iterations fold into one node. */
export function planIdOf(stepKey) {
  return String(stepKey).replace(/\[\d+\]/g, "");
}

/** The loop iteration numbers in a step key, e.g. "validate[2]/test" -> [2]. */
export function iterationsOf(stepKey) {
  return [...String(stepKey).matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]));
}

function subtitle(kind, node) {
  if (kind === "agent") return `agent · ${node.agent ?? ""}`;
  if (kind === "tool") return `tool · ${node.tool ?? ""}`;
  return kind;
}

/** A scope: the items of one steps mapping and the edges between them. */
function buildScope(steps, prefix, kind) {
  const keys = Object.keys(steps || {});
  const items = keys.map((key) => {
    const node = steps[key] || {};
    const k = nodeKind(node);
    const id = prefix ? `${prefix}/${key}` : key;
    const children = GROUP_KINDS.has(k) ? childSteps(node, k) : null;
    return {
      id,
      key,
      kind: k,
      node,
      label: subtitle(k, node),
      scope: children ? buildScope(children, id, k) : null,
    };
  });
  const byKey = new Map(items.map((it) => [it.key, it]));
  const edges = [];
  const seen = new Set();
  const add = (from, to, type) => {
    const tag = `${from}->${to}`;
    if (from === to || seen.has(tag) || !byKey.has(from) || !byKey.has(to)) return;
    seen.add(tag);
    edges.push({ from, to, type });
  };
  items.forEach((it, i) => {
    const needs = Array.isArray(it.node.needs) ? it.node.needs : [];
    for (const n of needs) add(n, it.key, "needs");
    if (kind === "sequence" && needs.length === 0 && i > 0) add(items[i - 1].key, it.key, "order");
    if (it.kind === "condition") {
      for (const t of it.node.then || []) add(it.key, t, "then");
      for (const e of it.node.else || []) add(it.key, e, "else");
    }
  });
  return { items, edges, byKey };
}

function layers(scope) {
  const preds = new Map(scope.items.map((it) => [it.key, []]));
  for (const e of scope.edges) preds.get(e.to).push(e.from);
  const layer = new Map();
  const visiting = new Set();
  const depth = (key) => {
    if (layer.has(key)) return layer.get(key);
    if (visiting.has(key)) return 0; // a cycle (validation forbids it): break it here
    visiting.add(key);
    const d = Math.max(-1, ...preds.get(key).map(depth)) + 1;
    visiting.delete(key);
    layer.set(key, d);
    return d;
  };
  scope.items.forEach((it) => depth(it.key));
  return { layer, preds };
}

/** Positions (relative to the scope's top-left) and size of a scope, recursively. */
function layoutScope(scope) {
  for (const it of scope.items) {
    if (it.scope) {
      const inner = layoutScope(it.scope);
      it.w = Math.max(NODE_W, inner.width + 2 * PAD);
      it.h = inner.height + PAD + TITLE_H;
    } else {
      it.w = NODE_W;
      it.h = NODE_H;
    }
  }
  const { layer, preds } = layers(scope);
  const rowsOf = [];
  for (const it of scope.items) {
    const l = layer.get(it.key);
    (rowsOf[l] ||= []).push(it);
  }
  // Order each layer by the mean position of its predecessors (two downward sweeps).
  const order = new Map();
  for (let sweep = 0; sweep < 2; sweep++) {
    rowsOf.forEach((row) => {
      row.forEach((it, i) => {
        const p = preds.get(it.key).filter((k) => order.has(k));
        it._bary = p.length ? p.reduce((a, k) => a + order.get(k), 0) / p.length : i;
      });
      row.sort((a, b) => a._bary - b._bary);
      row.forEach((it, i) => order.set(it.key, i));
    });
  }
  const widths = rowsOf.map((row) => row.reduce((a, it) => a + it.w, 0) + GAP_X * (row.length - 1));
  const width = Math.max(0, ...widths);
  let y = 0;
  rowsOf.forEach((row, ri) => {
    const height = Math.max(...row.map((it) => it.h));
    let x = (width - widths[ri]) / 2;
    for (const it of row) {
      it.x = x;
      it.y = y;
      x += it.w + GAP_X;
    }
    y += height + GAP_Y;
  });
  scope.width = width;
  scope.height = Math.max(0, y - GAP_Y);
  return scope;
}

function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function edgePath(a, b) {
  const x1 = a.ax + a.w / 2;
  const y1 = a.ay + a.h;
  const x2 = b.ax + b.w / 2;
  const y2 = b.ay;
  const dy = Math.max(16, (y2 - y1) / 2);
  return `M${x1},${y1} C${x1},${y1 + dy} ${x2},${y2 - dy} ${x2},${y2}`;
}

/**
 * Draw a plan. Returns {svg, update(states), select(id), ids}. `states` maps a plan
 * node id to {status, iterations, attempts}; onSelect(id) is called on click / Enter.
 */
export function renderDag(plan, { onSelect } = {}) {
  const root = layoutScope(buildScope(plan?.steps || {}, "", null));
  const width = root.width + 2 * MARGIN;
  const height = root.height + 2 * MARGIN;
  const svg = s("svg", {
    class: "dag",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "group",
    "aria-label": `Plan graph of ${plan?.name ?? "the run"}`,
  });
  svg.append(
    s(
      "defs",
      null,
      s(
        "marker",
        {
          id: "dag-arrow",
          viewBox: "0 0 10 10",
          refX: "9",
          refY: "5",
          markerWidth: "7",
          markerHeight: "7",
          orient: "auto-start-reverse",
        },
        s("path", { d: "M0,0 L10,5 L0,10 z", class: "dag-arrowhead" }),
      ),
    ),
  );
  const edgeLayer = s("g", { class: "dag-edges", "aria-hidden": "true" });
  const nodeLayer = s("g", { class: "dag-nodes" });
  svg.append(edgeLayer, nodeLayer);
  const nodes = new Map();

  const drawScope = (scope, ox, oy) => {
    for (const it of scope.items) {
      it.ax = ox + it.x;
      it.ay = oy + it.y;
    }
    for (const e of scope.edges) {
      const a = scope.byKey.get(e.from);
      const b = scope.byKey.get(e.to);
      edgeLayer.append(
        s("path", {
          d: edgePath(a, b),
          class: `dag-edge edge-${e.type}`,
          "marker-end": "url(#dag-arrow)",
          dataset: { from: a.id, to: b.id },
        }),
      );
    }
    for (const it of scope.items) {
      const g = s("g", {
        class: `dag-node kind-${it.kind}${it.scope ? " dag-group" : ""} status-pending`,
        transform: `translate(${it.ax},${it.ay})`,
        tabindex: "0",
        role: "button",
        dataset: { step: it.id, status: "pending", kind: it.kind },
      });
      const title = s("title", null, it.id);
      const rect = s("rect", { class: "dag-box", width: it.w, height: it.h, rx: "8", ry: "8" });
      g.append(title, rect);
      if (it.scope) {
        g.append(
          s("text", { class: "dag-name", x: "12", y: "19" }, truncate(it.key, 18)),
          s("text", { class: "dag-sub", x: "12", y: "19", dx: `${Math.min(it.key.length, 18) * 8.4 + 8}` }, it.kind),
        );
      } else {
        g.append(
          s("text", { class: "dag-name", x: "12", y: "21" }, truncate(it.key, 22)),
          s("text", { class: "dag-sub", x: "12", y: "40" }, truncate(it.label, 28)),
        );
      }
      const state = it.scope
        ? s("text", { class: "dag-state", x: String(it.w - 12), y: "19", "text-anchor": "end" }, "○")
        : s("text", { class: "dag-state", x: "12", y: "59" }, "○");
      g.append(state);
      const activate = () => onSelect && onSelect(it.id);
      g.addEventListener("click", (ev) => {
        ev.stopPropagation();
        activate();
      });
      g.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          activate();
        }
      });
      nodeLayer.append(g);
      nodes.set(it.id, { g, state, title, item: it });
      if (it.scope) drawScope(it.scope, it.ax + PAD, it.ay + TITLE_H);
    }
  };
  drawScope(root, MARGIN, MARGIN);

  function update(states) {
    for (const [id, n] of nodes) {
      const st = states.get(id) || { status: "pending" };
      const status = st.status || "pending";
      n.g.setAttribute("class", n.g.getAttribute("class").replace(/status-[a-z_]+/, `status-${status}`));
      n.g.dataset.status = status;
      const extra = [];
      if (st.iterations > 1) extra.push(`×${st.iterations}`);
      if (st.attempts > 1) extra.push(`try ${st.attempts}`);
      n.state.textContent = `${extra.join(" ")}${extra.length ? " " : ""}${statusIcon(status)} ${statusText(status)}`;
      n.title.textContent = `${id}: ${statusText(status)}`;
      n.g.setAttribute("aria-label", `Step ${id}, ${n.item.label}: ${statusText(status)}`);
    }
  }

  function select(id) {
    for (const [nid, n] of nodes) {
      n.g.classList.toggle("selected", nid === id);
      if (nid === id) n.g.setAttribute("aria-pressed", "true");
      else n.g.removeAttribute("aria-pressed");
    }
  }

  update(new Map());
  return { svg, update, select, ids: [...nodes.keys()] };
}

/**
 * The state of each plan node from the step records: the latest loop iteration wins;
 * `iterations` counts them, `attempts` is the record's attempt number.
 */
export function stepStates(steps) {
  const states = new Map();
  for (const step of steps) {
    const id = planIdOf(step.step_key ?? step.key);
    const its = iterationsOf(step.step_key ?? step.key);
    const iter = its.length ? its[its.length - 1] : 0;
    const prev = states.get(id);
    if (!prev || iter >= prev._iter) {
      states.set(id, {
        status: step.status,
        attempts: step.attempt ?? step.attempts ?? 0,
        iterations: Math.max(iter, prev ? prev.iterations : 0),
        _iter: iter,
      });
    }
  }
  return states;
}
