// The runs list: every run with its live status and progress, a status filter, paging,
// and a form to start a run. Live updates come from the agents stream, which carries the
// progress events of every run executing on this server.

import { follow, get, post, rows } from "../api.js";
import { debounce, h, mount } from "../dom.js";
import { badge, fmtDuration, fmtTime, shortId } from "../format.js";
import { liveState, toast } from "../ui.js";
import { errorPanel, FINISHED_RUN, progressBar, runStatusOf } from "./common.js";

const PAGE = 25;
const STATUSES = ["", "created", "running", "waiting_input", "succeeded", "failed", "cancelled"];
const SAFETY_REFRESH_MS = 15000;

export function runsView(root) {
  const state = { offset: 0, status: "", runs: [], next: null, details: new Map() };
  const tbody = h("tbody");
  const pager = h("div", { class: "pager" });
  const filter = h(
    "select",
    { id: "run-status-filter", onChange: () => ((state.status = filter.value), (state.offset = 0), load()) },
    STATUSES.map((s) => h("option", { value: s }, s ? s.replace("_", " ") : "any status")),
  );
  const formBox = h("div", { hidden: true });
  const toggle = h(
    "button",
    { class: "primary", type: "button", "aria-expanded": "false", "aria-controls": "new-run" },
    "New run",
  );
  toggle.addEventListener("click", () => {
    formBox.hidden = !formBox.hidden;
    toggle.setAttribute("aria-expanded", String(!formBox.hidden));
    if (!formBox.hidden) formBox.querySelector("textarea, input")?.focus();
  });
  mount(formBox, newRunForm());

  mount(
    root,
    h(
      "div",
      { class: "page-head" },
      h("div", null, h("h1", null, "Runs"), h("p", { class: "sub" }, "Every run of a plan on this server, newest first.")),
      h("div", { class: "actions" }, h("label", { for: "run-status-filter", class: "sr-only" }, "Filter by status"), filter, toggle),
    ),
    formBox,
    h(
      "section",
      { class: "panel", "aria-label": "Runs" },
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { id: "runs-table" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Run", "Plan", "Status", "Progress", "Started", "Duration"].map((c) =>
                h("th", { scope: "col", class: c === "Duration" ? "num" : null }, c),
              ),
            ),
          ),
          tbody,
        ),
      ),
      pager,
    ),
  );

  function row(run) {
    const d = state.details.get(run.run_id);
    const status = d?.status || run.status;
    const duration = run.duration_s ?? (FINISHED_RUN.has(status) ? null : Date.now() / 1000 - run.created_at);
    return h(
      "tr",
      { dataset: { run: run.run_id, status } },
      h("td", null, h("a", { href: `#/runs/${encodeURIComponent(run.run_id)}`, class: "mono" }, shortId(run.run_id))),
      h("td", null, run.plan_name),
      h("td", null, badge(status)),
      h("td", null, d ? progressBar(d.steps_done, d.steps_total, status) : h("span", { class: "hint" }, "…")),
      h("td", null, fmtTime(run.created_at)),
      h("td", { class: "num" }, fmtDuration(duration)),
    );
  }

  function render() {
    if (!state.runs.length) {
      mount(tbody, h("tr", null, h("td", { colspan: "6", class: "empty" }, "No runs yet. Start one with “New run”, the CLI or the API.")));
    } else {
      mount(tbody, state.runs.map(row));
    }
    mount(
      pager,
      h("button", { type: "button", disabled: state.offset === 0, onClick: () => ((state.offset = Math.max(0, state.offset - PAGE)), load()) }, "Newer"),
      h("span", { class: "hint" }, state.runs.length ? `${state.offset + 1}–${state.offset + state.runs.length}` : ""),
      h("button", { type: "button", disabled: state.next === null, onClick: () => ((state.offset = state.next), load()) }, "Older"),
    );
  }

  async function loadDetail(runId) {
    try {
      const d = await get(`/api/runs/${encodeURIComponent(runId)}`);
      state.details.set(runId, d);
      const i = state.runs.findIndex((r) => r.run_id === runId);
      if (i >= 0) {
        state.runs[i] = { ...state.runs[i], status: d.status, duration_s: d.duration_s };
        const old = tbody.querySelector(`tr[data-run="${CSS.escape(runId)}"]`);
        if (old) old.replaceWith(row(state.runs[i]));
      }
    } catch (err) {
      if (err.status === 404) state.details.delete(runId);
    }
  }

  let loading = null;
  async function load() {
    const ticket = {};
    loading = ticket;
    let page;
    try {
      page = await get("/api/runs", { limit: PAGE, offset: state.offset, status: state.status });
    } catch (err) {
      mount(root, errorPanel(err));
      return;
    }
    if (loading !== ticket) return;
    state.runs = rows(page);
    state.next = page.next_offset ?? null;
    render();
    // Progress needs each run's detail, a few at a time; a finished run's never changes.
    const queue = state.runs
      .filter((r) => {
        const d = state.details.get(r.run_id);
        return !d || d.status !== r.status || !FINISHED_RUN.has(r.status);
      })
      .map((r) => r.run_id);
    const worker = async () => {
      while (queue.length && loading === ticket) await loadDetail(queue.shift());
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }

  const reload = debounce(load, 400);
  const refreshOne = new Map();
  function onProgress(data) {
    if (!data || !data.run_id) return;
    const known = state.runs.some((r) => r.run_id === data.run_id);
    if (!known) {
      if (state.offset === 0) reload();
      return;
    }
    const status = runStatusOf(data.type);
    if (status) {
      const i = state.runs.findIndex((r) => r.run_id === data.run_id);
      state.runs[i] = { ...state.runs[i], status };
      const d = state.details.get(data.run_id);
      if (d) d.status = status;
    }
    if (!refreshOne.has(data.run_id)) refreshOne.set(data.run_id, debounce(loadDetail, 250));
    refreshOne.get(data.run_id)(data.run_id);
  }

  const stream = follow("/api/agents/stream", "/api/agents/ws", {
    onEvent: (ev) => {
      if (ev.type === "run.progress") onProgress(ev.data);
    },
    onState: liveState,
  });
  // Runs executed by another server sharing the database are not on this server's
  // stream: look again now and then while the page is visible.
  const timer = setInterval(() => {
    if (document.visibilityState === "visible") load();
  }, SAFETY_REFRESH_MS);

  load();
  return {
    cleanup() {
      stream.close();
      clearInterval(timer);
      loading = null;
    },
  };
}

/** The "New run" form: a plan (YAML or JSON) or the built-in software team with a task. */
function newRunForm() {
  const planText = h("textarea", {
    id: "new-run-plan",
    rows: "10",
    spellcheck: "false",
    placeholder: "name: hello\nsteps:\n  greet: {tool: echo, with: {message: hi}}",
  });
  const task = h("input", { id: "new-run-task", type: "text", placeholder: "What the software team should build (built-in plan)" });
  const inputs = h("textarea", { id: "new-run-inputs", rows: "3", spellcheck: "false", placeholder: '{"name": "value"}' });
  const status = h("p", { class: "hint", role: "status" });
  const submit = h("button", { class: "primary", type: "submit" }, "Start run");
  const form = h(
    "form",
    { class: "panel", id: "new-run", "aria-labelledby": "new-run-title" },
    h("h2", { id: "new-run-title" }, "Start a run"),
    h("label", { for: "new-run-plan" }, "Plan (YAML or JSON)"),
    planText,
    h("p", { class: "hint" }, "Leave the plan empty to run the built-in software team on the task below."),
    h("label", { for: "new-run-task" }, "Task"),
    task,
    h("label", { for: "new-run-inputs" }, "Inputs (JSON object, optional)"),
    inputs,
    h("div", { class: "form-row" }, status, submit),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    if (planText.value.trim()) body.plan = planText.value;
    if (task.value.trim()) body.task = task.value.trim();
    if (inputs.value.trim()) {
      try {
        body.inputs = JSON.parse(inputs.value);
      } catch (err) {
        status.textContent = `Inputs are not JSON: ${err.message}`;
        status.className = "error-text";
        inputs.focus();
        return;
      }
    }
    if (!body.plan && !body.task) {
      status.textContent = "Give a plan, or a task for the built-in team.";
      status.className = "error-text";
      return;
    }
    submit.disabled = true;
    status.className = "hint";
    status.textContent = "Starting…";
    try {
      const run = await post("/api/runs", body);
      location.hash = `#/runs/${encodeURIComponent(run.run_id)}`;
    } catch (err) {
      status.className = "error-text";
      status.textContent = err.message;
      toast(err.message);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
