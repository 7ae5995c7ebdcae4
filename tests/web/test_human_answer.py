"""A run started from the page waits for a human; the question is answered in the page
and the run goes on to the end, all without a reload."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.web.conftest import PageErrors, Server, new_page, screenshot

pytestmark = pytest.mark.slow

PLAN = """\
name: release-review
steps:
  prepare:
    tool: shell
    with: {command: "sleep 0.3 && echo built"}
  approve:
    needs: [prepare]
    human: Ship release 1.2 to production?
    options: [ship, hold]
    default: hold
  announce:
    needs: [approve]
    tool: echo
    with: {decision: "${{ steps.approve.output.answer }}"}
"""


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_answer_a_waiting_question_in_the_page(
    browser: Any, server: Server, transport: str
) -> None:
    """With live updates over Server-Sent Events, and over WebSocket (Settings)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(f"localStorage.setItem('nexus.transport', '{transport}')")
    errors = PageErrors([])
    page = new_page(context, errors)
    try:
        page.goto(server.url + "/#/runs")
        page.evaluate("window.__noReload = true")
        page.click("button[aria-controls='new-run']")
        page.fill("#new-run-plan", PLAN)
        page.click("#new-run button[type='submit']")

        # The page moves to the new run, which parks on the question.
        form = "#questions form.question[data-step='approve']"
        page.wait_for_selector(form)
        run_id = page.url.split("#/runs/")[1]
        assert "Ship release 1.2 to production?" in page.inner_text(form)
        options = page.eval_on_selector_all(
            f"{form} input[type='radio']", "l => l.map(e => e.value)"
        )
        assert options == ["ship", "hold"]
        assert page.is_checked(f"{form} input[value='hold']")  # the default
        page.wait_for_selector("#dag .dag-node[data-step='approve'][data-status='waiting_input']")
        assert page.get_attribute("#dag .dag-node[data-step='prepare']", "data-status") == (
            "succeeded"
        )
        assert page.get_attribute("#dag .dag-node[data-step='announce']", "data-status") == (
            "pending"
        )
        assert page.inner_text("#run-status").strip().endswith("waiting for input")
        page.wait_for_selector("#live-state[data-state='live']")
        screenshot(page, f"human-question-{transport}")

        # The step panel offers the same question.
        page.click("#dag .dag-node[data-step='approve']")
        page.wait_for_selector("#step-panel form.question[data-step='approve']")

        page.check(f"{form} input[value='ship']")
        page.click(f"{form} button[type='submit']")
        page.wait_for_selector("#dag .dag-node[data-step='announce'][data-status='succeeded']")
        page.wait_for_selector("#run-status .status-succeeded")
        assert page.query_selector("#questions form.question") is None
        assert page.get_attribute("#dag .dag-node[data-step='approve']", "data-status") == (
            "succeeded"
        )
        assert page.evaluate("window.__noReload") is True

        with httpx.Client(base_url=server.url) as client:
            run = client.get(f"/api/runs/{run_id}").json()
            steps = {s["step_key"]: s for s in client.get(f"/api/runs/{run_id}/steps").json()}
        assert run["status"] == "succeeded"
        assert run["plan_name"] == "release-review"
        assert steps["approve"]["output"] == {"answer": "ship"}
        assert steps["announce"]["output"] == {"decision": "ship"}

        page.click("#dag .dag-node[data-step='announce']")
        page.wait_for_selector("#step-panel[data-step='announce'] .step-record")
        # The record fills in from the refresh that follows the last events (debounced).
        page.wait_for_function(
            """() => (document.querySelector('#step-panel')?.innerText || '')
                .includes('"decision": "ship"')""",
            timeout=15_000,
        )
        screenshot(page, f"human-answered-{transport}")
        # The events after the answer came over the stream (stored ones are read only once).
        page.click("#tab-events")
        types = page.eval_on_selector_all(
            "#events-table tbody td:nth-child(3)", "cells => cells.map(c => c.innerText)"
        )
        after = types[types.index("step.answered") :]
        assert after[-1] == "run.succeeded"
        assert "step.succeeded" in after  # announce
        errors.check()
    finally:
        context.close()


def test_cancel_a_waiting_run_from_its_page(browser: Any, server: Server) -> None:
    run_id = server.start_run(PLAN)
    server.wait_run(run_id, ("waiting_input",))
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    errors = PageErrors([])
    page = new_page(context, errors)
    asked: list[str] = []

    def confirm(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)
    try:
        page.goto(f"{server.url}/#/runs/{run_id}")
        page.wait_for_selector("#questions form.question[data-step='approve']")
        page.click("#cancel-run")
        page.wait_for_selector("#run-status .status-cancelled")
        assert asked == [f"Cancel run {run_id}? Steps that are running are stopped."]
        assert page.query_selector("#cancel-run") is None
        assert page.query_selector("#questions form.question") is None
        assert server.wait_run(run_id)["status"] == "cancelled"
        errors.check()
    finally:
        context.close()
