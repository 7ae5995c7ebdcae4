// The run view: header with live status and progress, questions waiting for an answer,
// the plan's DAG with live step states, the step panel, and tabs for agent messages,
// scratchpads and diffs, tests, usage and cost, router decisions and the event log.
//
// Live updates: the stored events are read first, then the run's stream is followed
// from the last seq (reconnects resume from there, so nothing is missed). Each event
// updates what it touches at once; steps, run and artifacts are re-read shortly after.

import { follow, get, post } from "../api.js";
import { planIdOf, renderDag, stepStates } from "../dag.js";
import { debounce, h, mount } from "../dom.js";
import { badge, fmtCost, fmtDuration, fmtTime, fmtTokens, shortId } from "../format.js";
import { liveState, toast } from "../ui.js";
import { errorPanel, FINISHED_RUN, progressBar, runStatusOf, stepStatusOf } from "./common.js";
import { MESSAGE_TYPES, testRuns, usageSummary } from "./run_data.js";
import {
  artifactsPanel,
  eventsPanel,
  messagesPanel,
  routerPanel,
  runFacts,
  testsPanel,
  usagePanel,
} from "./run_panels.js";
import { answerForm, stepPanel } from "./step.js";

const TABS = [
  ["messages", "Agent messages"],
  ["artifacts", "Scratchpads & diffs"],
  ["tests", "Tests"],
  ["usage", "Usage & cost"],
  ["router", "Router decisions"],
  ["events", "Events"],
  ["details", "Run details"],
];

function findNode(plan, planId) {
  let steps = plan?.steps || {};
  let node = null;
  for (const part of planId.split("/")) {
    node = steps[part];
    if (!node) return null;
    const group = node.loop || node.parallel || node.sequence;
    steps = group && group.steps ? group.steps : {};
  }
  return node;
}

export function runView(root, runId, stepKey) {
  const st = {
    run: null,
    steps: [],
    events: [],
    seqs: new Set(),
    lastSeq: 0,
    artifacts: null,
    selected: stepKey ? planIdOf(stepKey) : null,
    tab: "messages",
    msgFilter: { step: "", kinds: new Set(["message", "tool", "text"]) },
    answered: new Set(),
    closed: false,
    versions: { steps: 0, events: 0, artifacts: 0 },
    drawn: {},
  };
  let dag = null;
  let stream = null;
  const base = `/api/runs/${encodeURIComponent(runId)}`;

  const head = h("div", { class: "page-head" });
  const questions = h("div", { id: "questions" });
  const stats = h("dl", { class: "stats", id: "run-stats" });
  const dagBox = h("div", { class: "dag-wrap", id: "dag" });
  const side = h("div", { id: "side" });
  const tabList = h("div", { role: "tablist", "aria-label": "Run views" });
  const tabPanel = h("div", { role: "tabpanel", id: "run-tabpanel", tabindex: "0", "aria-labelledby": "tab-messages" });
  const tabButtons = new Map();
  for (const [id, label] of TABS) {
    const b = h(
      "button",
      { type: "button", role: "tab", id: `tab-${id}`, "aria-controls": "run-tabpanel", "aria-selected": String(id === st.tab), tabindex: id === st.tab ? "0" : "-1" },
      label,
      h("span", { class: "count" }),
    );
    b.addEventListener("click", () => selectTab(id));
    b.addEventListener("keydown", (ev) => {
      const ids = TABS.map((t) => t[0]);
      const i = ids.indexOf(id);
      if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
        const next = ids[(i + (ev.key === "ArrowRight" ? 1 : ids.length - 1)) % ids.length];
        selectTab(next);
        tabButtons.get(next).focus();
      }
    });
    tabButtons.set(id, b);
    tabList.append(b);
  }

  mount(
    root,
    head,
    questions,
    h("section", { class: "panel", "aria-label": "Summary" }, stats),
    h(
      "div",
      { class: "grid-2" },
      h(
        "section",
        { class: "panel", "aria-labelledby": "dag-title" },
        h("h2", { id: "dag-title" }, "Plan"),
        h("p", { class: "hint" }, "Select a step to see its details. Colours and words show each step's state as it changes."),
        dagBox,
      ),
      side,
    ),
    h("section", { class: "panel", "aria-label": "Run activity" }, tabList, tabPanel),
  );

  function selectTab(id) {
    st.tab = id;
    for (const [tid, b] of tabButtons) {
      b.setAttribute("aria-selected", String(tid === id));
      b.tabIndex = tid === id ? 0 : -1;
    }
    tabPanel.setAttribute("aria-labelledby", `tab-${id}`);
    st.drawn.tab = null;
    if (id === "artifacts") loadArtifacts();
    renderTab();
  }

  // rendering -------------------------------------------------------------------
  function renderHead() {
    const run = st.run;
    const status = run.status;
    mount(
      head,
      h(
        "div",
        null,
        h("p", { class: "sub" }, h("a", { href: "#/runs" }, "Runs"), " / ", h("span", { class: "mono" }, shortId(run.run_id))),
        h("h1", null, run.plan_name, " ", h("span", { id: "run-status" }, badge(status))),
        h("p", { class: "sub" }, `Started ${fmtTime(run.created_at)}`),
      ),
      h(
        "div",
        { class: "actions", id: "run-progress" },
        progressBar(run.steps_done ?? 0, run.steps_total ?? 0, status),
        FINISHED_RUN.has(status) ? null : h("button", { type: "button", id: "cancel-run", onClick: cancelRun }, "Cancel run"),
      ),
    );
  }

  async function cancelRun(ev) {
    if (!window.confirm(`Cancel run ${runId}? Steps that are running are stopped.`)) return;
    ev.target.disabled = true;
    try {
      await post(`${base}/cancel`);
      refresh();
    } catch (err) {
      ev.target.disabled = false;
      toast(err.message);
    }
  }

  function renderStats() {
    const run = st.run;
    const u = usageSummary(st.steps, st.events);
    const tests = testRuns(st.steps);
    const last = tests.length ? tests[tests.length - 1].tests : null;
    const end = run.finished_at || (FINISHED_RUN.has(run.status) ? run.updated_at : Date.now() / 1000);
    const cell = (label, value, key) => h("div", null, h("dt", null, label), h("dd", { dataset: { figure: key } }, value));
    mount(
      stats,
      cell("status", badge(run.status), "status"),
      cell("steps done", `${run.steps_done ?? 0} / ${run.steps_total ?? 0}`, "steps"),
      cell("duration", fmtDuration(end - run.created_at), "duration"),
      cell("tokens", fmtTokens(u.totals.input + u.totals.output), "tokens"),
      cell("cost", fmtCost(u.totals.cost), "cost"),
      cell("tests", last ? `${last.passed} passed · ${last.failed} failed` : "—", "tests"),
    );
  }

  /** Questions still to answer (none once the run has ended, e.g. cancelled). */
  function openQuestions() {
    if (FINISHED_RUN.has(st.run.status)) return [];
    return (st.run.waiting || []).filter((q) => !st.answered.has(q.step));
  }

  function renderQuestions() {
    const waiting = openQuestions();
    const key = JSON.stringify(waiting);
    if (st.drawn.questions === key) return;
    const steps = JSON.stringify(waiting.map((q) => q.step));
    // Someone is answering: do not redraw the form under them for a detail that changed.
    if (questions.contains(document.activeElement) && st.drawn.questionSteps === steps) return;
    st.drawn.questionSteps = steps;
    st.drawn.questions = key;
    mount(questions, waiting.map((q) => answerForm(runId, q, onAnswered)));
  }

  function renderDagStates() {
    if (!dag) {
      dag = renderDag(st.run.plan, { onSelect: (id) => (location.hash = `#/runs/${encodeURIComponent(runId)}/steps/${encodeURIComponent(id)}`) });
      mount(dagBox, dag.svg);
    }
    dag.update(stepStates(st.steps));
    dag.select(st.selected);
  }

  function renderSide() {
    const key = `${st.selected}|${st.versions.steps}|${st.selected ? st.events.length : 0}|${JSON.stringify(openQuestions())}`;
    if (st.drawn.side === key) return;
    const focusInside = side.contains(document.activeElement) && document.activeElement.tagName !== "BUTTON";
    if (focusInside) return; // do not pull a form away from someone typing in it
    st.drawn.side = key;
    if (!st.selected) {
      mount(side, h("aside", { class: "panel step-panel hint", id: "step-panel-empty" }, "Select a step in the plan to see its input, output, model, cost and activity."));
      return;
    }
    mount(
      side,
      stepPanel({
        run: st.run,
        planId: st.selected,
        node: findNode(st.run.plan, st.selected),
        steps: st.steps,
        events: st.events,
        waiting: openQuestions(),
        onClose: () => (location.hash = `#/runs/${encodeURIComponent(runId)}`),
        onAnswered,
      }),
    );
  }

  function renderTab() {
    const key = `${st.tab}|${st.versions.steps}|${st.versions.events}|${st.versions.artifacts}|${st.msgFilter.step}|${[...st.msgFilter.kinds].join()}`;
    if (st.drawn.tab === key) return;
    st.drawn.tab = key;
    const msgs = st.events.filter((e) => e.type === "message.sent").length;
    tabButtons.get("messages").querySelector(".count").textContent = msgs ? `(${msgs})` : "";
    const tests = testRuns(st.steps).length;
    tabButtons.get("tests").querySelector(".count").textContent = tests ? `(${tests})` : "";
    let content;
    switch (st.tab) {
      case "messages":
        content = messagesPanel(st.events.filter((e) => MESSAGE_TYPES.has(e.type)), {
          ...st.msgFilter,
          onFilter: (f) => {
            st.msgFilter = f;
            renderTab();
          },
        });
        break;
      case "artifacts":
        content = artifactsPanel(st.artifacts);
        break;
      case "tests":
        content = testsPanel(st.steps);
        break;
      case "usage":
        content = usagePanel(st.steps, st.events);
        break;
      case "router":
        content = routerPanel(st.steps);
        break;
      case "events":
        content = eventsPanel(st.events);
        break;
      default:
        content = runFacts(st.run);
    }
    mount(tabPanel, content);
  }

  const render = debounce(() => {
    if (st.closed || !st.run) return;
    renderHead();
    renderQuestions();
    renderStats();
    renderDagStates();
    renderSide();
    renderTab();
  }, 60);

  // data ------------------------------------------------------------------------
  async function loadRun() {
    st.run = { ...(st.run || {}), ...(await get(base)) };
  }

  async function loadSteps() {
    st.steps = await get(`${base}/steps`);
    st.versions.steps++;
  }

  async function loadArtifacts() {
    try {
      st.artifacts = await get(`${base}/artifacts`);
    } catch (err) {
      st.artifacts = { error: err.message };
    }
    st.versions.artifacts++;
    render();
  }

  function addEvent(ev) {
    if (st.seqs.has(ev.seq)) return false;
    st.seqs.add(ev.seq);
    st.events.push(ev);
    st.lastSeq = Math.max(st.lastSeq, ev.seq);
    st.versions.events++;
    return true;
  }

  async function loadEvents() {
    for (;;) {
      const page = await get(`${base}/events`, { after_seq: st.lastSeq, limit: 1000 });
      for (const ev of page.events) addEvent(ev);
      if (!page.has_more) break;
    }
  }

  const refresh = debounce(async () => {
    if (st.closed) return;
    try {
      await Promise.all([loadRun(), loadSteps()]);
    } catch {
      return; // the stream goes on; the next event refreshes again
    }
    render();
  }, 250);
  const refreshArtifacts = debounce(() => {
    if (st.tab === "artifacts" && !st.closed) loadArtifacts();
  }, 600);

  function applyEvent(ev) {
    const runStatus = runStatusOf(ev.type);
    if (runStatus && ev.type !== "step.answered") st.run.status = runStatus;
    const stepStatus = stepStatusOf(ev.type);
    if (stepStatus && ev.step_key) {
      const rec = st.steps.find((s) => s.step_key === ev.step_key);
      if (rec) rec.status = stepStatus;
      else st.steps.push({ step_key: ev.step_key, kind: ev.data.kind || "", status: stepStatus, attempt: ev.data.attempt || 1, meta: {} });
      st.versions.steps++;
    }
    if (ev.type === "step.waiting" && ev.step_key) {
      const waiting = (st.run.waiting || []).filter((q) => q.step !== ev.step_key);
      const node = findNode(st.run.plan, planIdOf(ev.step_key));
      waiting.push({
        step: ev.step_key,
        question: ev.data.question,
        options: ev.data.options?.length ? ev.data.options : null,
        default: node?.default ?? null,
      });
      st.run.waiting = waiting;
      st.answered.delete(ev.step_key);
    }
    if (ev.type === "step.answered" && ev.step_key) {
      st.run.waiting = (st.run.waiting || []).filter((q) => q.step !== ev.step_key);
    }
    if (ev.type.startsWith("step.") || ev.type.startsWith("run.")) refresh();
    if (ev.type === "workspace.committed" || ev.type === "workspace.rolled_back" || ev.type === "step.succeeded") {
      refreshArtifacts();
    }
  }

  function onAnswered(step) {
    st.answered.add(step);
    st.drawn.questions = null;
    st.drawn.side = null;
    render();
    refresh();
  }

  function startStream() {
    stream = follow(`${base}/stream`, `${base}/ws`, {
      lastId: st.lastSeq,
      onEvent: ({ type, data }) => {
        if (type === "end") {
          stream.close();
          liveState("");
          return;
        }
        if (!data || typeof data !== "object" || typeof data.seq !== "number") return;
        if (addEvent(data)) {
          applyEvent(data);
          render();
        }
      },
      onState: (s) => liveState(s === "closed" && FINISHED_RUN.has(st.run?.status) ? "" : s),
      shouldReconnect: () => !st.closed && !FINISHED_RUN.has(st.run?.status),
    });
  }

  const ticker = setInterval(() => {
    if (st.run && !FINISHED_RUN.has(st.run.status) && !st.closed) renderStats();
  }, 1000);

  (async () => {
    try {
      await Promise.all([loadRun(), loadSteps(), loadEvents()]);
    } catch (err) {
      mount(root, errorPanel(err));
      return;
    }
    if (st.closed) return;
    render();
    if (!FINISHED_RUN.has(st.run.status)) startStream();
  })();

  return {
    update(_runId, key) {
      st.selected = key ? planIdOf(key) : null;
      st.drawn.side = null;
      render();
    },
    cleanup() {
      st.closed = true;
      clearInterval(ticker);
      if (stream) stream.close();
    },
  };
}
