// The agent board: every agent in a column by its live state (idle, processing, error),
// with what it works on and its track record. Live from the agents stream.

import { follow, get } from "../api.js";
import { debounce, h, mount } from "../dom.js";
import { badge, fmtCost, fmtDuration, fmtPercent } from "../format.js";
import { liveState } from "../ui.js";
import { errorPanel } from "./common.js";

const COLUMNS = [
  ["processing", "Processing"],
  ["idle", "Idle"],
  ["error", "Error"],
];

/** One agent in one shape, from /api/agents/status, a snapshot row or a status change. */
function normalise(row, previous = {}) {
  const live = row.status && typeof row.status === "object" ? row.status : null;
  return {
    ...previous,
    id: row.id ?? row.agent_id ?? previous.id,
    name: row.name ?? previous.name,
    role: row.role ?? previous.role,
    model: row.model ?? previous.model,
    state: live ? live.state : row.state ?? (typeof row.status === "string" ? row.status : previous.state) ?? "idle",
    steps: (live ? live.steps : row.steps) ?? previous.steps ?? [],
    current_step: (live ? live.current_step : row.current_step) ?? null,
    since: (live ? live.since : row.since) ?? previous.since,
    last_error: (live ? live.last_error : row.last_error) ?? null,
    stats: row.stats ?? previous.stats ?? {},
  };
}

function stepLink(entry) {
  const [runId, ...rest] = String(entry).split("/");
  const key = rest.join("/");
  return h("a", { href: `#/runs/${encodeURIComponent(runId)}/steps/${encodeURIComponent(key)}`, class: "mono" }, `${runId.slice(0, 8)}/${key}`);
}

function card(agent) {
  const st = agent.stats || {};
  return h(
    "li",
    { class: `agent-card state-${agent.state}`, dataset: { agent: agent.id, state: agent.state } },
    h("h3", null, h("span", null, agent.name || agent.id), badge(agent.state)),
    h("p", null, [agent.role, agent.model ? `model ${agent.model}` : null].filter(Boolean).join(" · ")),
    agent.steps && agent.steps.length ? h("p", null, "Working on ", agent.steps.map((s, i) => [i ? ", " : "", stepLink(s)])) : null,
    agent.state === "error" && agent.last_error ? h("p", { class: "error-text" }, agent.last_error) : null,
    h(
      "p",
      null,
      `${st.steps ?? 0} steps`,
      st.success_rate !== null && st.success_rate !== undefined ? ` · ${fmtPercent(st.success_rate)} succeeded` : "",
      st.mean_confidence !== null && st.mean_confidence !== undefined ? ` · confidence ${Number(st.mean_confidence).toFixed(2)}` : "",
      st.mean_latency_s ? ` · ${fmtDuration(st.mean_latency_s)} per step` : "",
      st.total_cost_usd ? ` · ${fmtCost(st.total_cost_usd)}` : "",
    ),
  );
}

export function agentsView(root) {
  const agents = new Map();
  const board = h("div", { class: "board", id: "agent-board" });
  mount(
    root,
    h(
      "div",
      { class: "page-head" },
      h("div", null, h("h1", null, "Agents"), h("p", { class: "sub" }, "What each agent is doing right now, and how it has done so far.")),
    ),
    board,
  );

  const render = debounce(() => {
    const byState = new Map(COLUMNS.map(([s]) => [s, []]));
    for (const a of agents.values()) (byState.get(a.state) || byState.get("idle")).push(a);
    mount(
      board,
      COLUMNS.map(([state, title]) => {
        const list = byState.get(state).sort((a, b) => a.id.localeCompare(b.id));
        return h(
          "section",
          { class: "board-col", "aria-labelledby": `col-${state}`, dataset: { column: state } },
          h("h2", { id: `col-${state}` }, title, h("span", { class: "hint" }, String(list.length))),
          list.length ? h("ul", null, list.map(card)) : h("p", { class: "empty" }, "none"),
        );
      }),
    );
  }, 50);

  // Stats change when a step ends: read them again shortly after.
  const refreshStats = debounce(async () => {
    try {
      const data = await get("/api/agents/status");
      for (const row of Array.isArray(data) ? data : Object.values(data)) {
        const a = normalise(row, agents.get(row.id));
        agents.set(a.id, a);
      }
      render();
    } catch {
      // the stream keeps the states current
    }
  }, 500);

  get("/api/agents/status")
    .then((data) => {
      for (const row of Array.isArray(data) ? data : Object.values(data)) {
        const a = normalise(row);
        agents.set(a.id, a);
      }
      render();
    })
    .catch((err) => mount(root, errorPanel(err)));

  const stream = follow("/api/agents/stream", "/api/agents/ws", {
    onEvent: ({ type, data }) => {
      if (type === "snapshot" && data && Array.isArray(data.agents)) {
        for (const row of data.agents) {
          const a = normalise(row, agents.get(row.id));
          agents.set(a.id, a);
        }
        render();
      } else if (type === "agent.status" && data) {
        const id = data.agent_id ?? data.id;
        agents.set(id, normalise({ ...data, id }, agents.get(id)));
        render();
        if (data.state !== "processing") refreshStats();
      }
    },
    onState: liveState,
  });
  return { cleanup: () => stream.close() };
}
