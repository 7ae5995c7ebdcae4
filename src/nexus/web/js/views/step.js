// The step panel (one plan node: every attempt and loop iteration of it) and the form
// that answers a step waiting for a human.

import { post } from "../api.js";
import { codeBlock, facts, h } from "../dom.js";
import { badge, fmtCost, fmtDuration, fmtTime, fmtTokens } from "../format.js";
import { toast } from "../ui.js";
import { recordsOf, testsOf, timeline } from "./run_data.js";

/**
 * A form answering `question` ({step, question, options, default}). With options it is a
 * radio group, otherwise a text field. onAnswered() runs after the server accepted it;
 * `place` keeps element ids unique when the same question shows twice.
 */
export function answerForm(runId, question, onAnswered, place = "top") {
  const id = `answer-${place}-${question.step.replace(/[^a-zA-Z0-9_-]/g, "_")}`;
  const status = h("p", { class: "hint", role: "status" });
  const submit = h("button", { class: "primary", type: "submit" }, "Send answer");
  let field;
  let read;
  if (question.options && question.options.length) {
    const radios = question.options.map((opt, i) =>
      h(
        "label",
        null,
        h("input", {
          type: "radio",
          name: id,
          value: opt,
          checked: question.default ? opt === question.default : i === 0,
        }),
        opt,
      ),
    );
    field = h("fieldset", null, h("legend", { class: "sr-only" }, question.question), radios);
    read = () => field.querySelector("input:checked")?.value;
  } else {
    field = h(
      "div",
      null,
      h("label", { for: `${id}-text` }, "Your answer"),
      h("textarea", { id: `${id}-text`, name: "answer", rows: "3", value: question.default || "" }),
    );
    read = () => field.querySelector("textarea").value;
  }
  const form = h(
    "form",
    { class: "question", "aria-labelledby": `${id}-title`, dataset: { step: question.step } },
    h("h2", { id: `${id}-title` }, "Waiting for your answer · ", h("span", { class: "mono" }, question.step)),
    h("p", { class: "ask" }, question.question),
    field,
    h("div", { class: "form-row" }, status, submit),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const value = read();
    if (value === undefined || value === "") {
      status.textContent = "Choose or write an answer first.";
      status.className = "error-text";
      return;
    }
    submit.disabled = true;
    status.className = "hint";
    status.textContent = "Sending…";
    try {
      await post(`/api/runs/${encodeURIComponent(runId)}/answers`, { step: question.step, value });
      status.textContent = "Answer sent; the run continues.";
      onAnswered && onAnswered(question.step, value);
    } catch (err) {
      submit.disabled = false;
      status.className = "error-text";
      status.textContent = err.message;
      toast(err.message);
    }
  });
  return form;
}

function record(step, events) {
  const u = step.meta?.usage || {};
  const tests = testsOf(step);
  const out = step.output;
  const text = out && typeof out === "object" && typeof out.text === "string" ? out.text : null;
  const items = timeline(events.filter((e) => e.step_key === step.step_key)).filter((i) => i.kind !== "turn");
  return h(
    "article",
    { class: "step-record", dataset: { key: step.step_key, status: step.status } },
    h("h3", null, h("span", { class: "mono" }, step.step_key), " ", badge(step.status)),
    facts([
      ["kind", step.kind],
      ["agent", step.meta?.agent],
      ["attempt", step.attempt > 1 ? String(step.attempt) : null],
      ["started", fmtTime(step.started_at)],
      ["took", fmtDuration(step.duration_s)],
      ["model", step.meta?.model ? h("span", { class: "mono" }, step.meta.model) : null],
      ["route reason", step.meta?.route_reason],
      ["confidence", step.meta?.confidence ?? null],
      ["tokens", u.input_tokens || u.output_tokens ? `${fmtTokens(u.input_tokens)} in · ${fmtTokens(u.output_tokens)} out` : null],
      ["cost", step.meta?.cost_usd ? fmtCost(step.meta.cost_usd) : null],
      ["tool calls", step.meta?.tool_calls ?? null],
      ["commit", step.meta?.commit ? h("span", { class: "mono" }, step.meta.commit.slice(0, 10)) : null],
      ["tests", tests ? `${tests.passed} passed, ${tests.failed} failed, ${tests.errors ?? 0} errors` : null],
    ]),
    step.error ? h("div", null, h("h4", null, "Error"), codeBlock(step.error)) : null,
    text ? h("div", null, h("h4", null, "Answer"), h("div", { class: "md" }, text)) : null,
    out !== null && out !== undefined && !text ? h("div", null, h("h4", null, "Output"), codeBlock(out)) : null,
    step.input !== null && step.input !== undefined
      ? h("details", null, h("summary", null, "Input"), codeBlock(step.input))
      : null,
    items.length
      ? h(
          "details",
          null,
          h("summary", null, `Activity (${items.length})`),
          h(
            "ul",
            { class: "kv-small" },
            items.map((i) => h("li", null, h("strong", null, i.tag), " ", i.text.length > 240 ? `${i.text.slice(0, 239)}…` : i.text)),
          ),
        )
      : null,
  );
}

/** The panel of one plan node: its records (attempts, iterations) and, if it waits, the form. */
export function stepPanel({ run, planId, node, steps, events, waiting, onClose, onAnswered }) {
  const records = recordsOf(steps, planId);
  const question = (waiting || []).find((q) => q.step === planId || records.some((r) => r.step_key === q.step));
  const kindLine = node
    ? [node.agent ? `agent ${node.agent}` : null, node.tool ? `tool ${node.tool}` : null, node.description]
        .filter(Boolean)
        .join(" · ")
    : "";
  return h(
    "aside",
    { class: "panel step-panel", id: "step-panel", "aria-labelledby": "step-panel-title", dataset: { step: planId } },
    h("button", { type: "button", class: "close", onClick: onClose, "aria-label": "Close step details" }, "✕"),
    h("h2", { id: "step-panel-title" }, "Step ", h("span", { class: "mono" }, planId)),
    kindLine ? h("p", { class: "hint" }, kindLine) : null,
    question ? answerForm(run.run_id, question, onAnswered, "panel") : null,
    records.length ? records.map((r) => record(r, events)) : h("p", { class: "empty" }, "This step has not started yet."),
  );
}
