"""The dashboard follows a real run live: the software team's demo plan (offline model
answers from the demo's cassettes, real files, real pytest) started through the API
while the runs list, the agent board and the usage page are open in a real browser.

One run is watched (module fixture ``watched``); each test checks one view of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.web.conftest import PageErrors, Server, new_page, screenshot, slugify_plan

pytestmark = pytest.mark.slow

# Records every change of a DAG node's state and every agent card drawn, with a
# marker that a reload would lose.
RECORDER = """() => {
  window.__noReload = true;
  window.__dagLog = [];
  window.__cards = [];
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      const target = m.target;
      if (m.type === "attributes" && target.classList && target.classList.contains("dag-node")) {
        window.__dagLog.push([target.dataset.step, target.dataset.status]);
      }
      for (const node of m.addedNodes || []) {
        if (!(node instanceof Element)) continue;
        const cards = node.matches(".agent-card") ? [node] : node.querySelectorAll(".agent-card");
        for (const card of cards) {
          window.__cards.push([card.dataset.agent, card.dataset.state]);
        }
      }
    }
  }).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"],
  });
}"""

TOP_LEVEL = ["settle", "analyse", "implement", "write_tests", "validate", "verdict", "all_green"]


def held_slugify_plan() -> dict[str, Any]:
    """The demo plan behind a short first step, so that the run's page is open and following
    before the agents start (the replayed run itself takes only a few seconds)."""
    plan = slugify_plan()
    plan["steps"] = {
        "settle": {"tool": "shell", "with": {"command": "sleep 3"}},
        **plan["steps"],
    }
    plan["steps"]["analyse"] = {**plan["steps"]["analyse"], "needs": ["settle"]}
    return plan


@dataclass
class Watched:
    server: Server
    run_id: str
    runs_page: Any  # runs list, then the run's page after a click
    board_page: Any
    usage_page: Any
    errors: PageErrors
    usage_cost_before: str


@pytest.fixture(scope="module")
def watched(browser: Any, server: Server) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    errors = PageErrors([])
    runs_page, board_page, usage_page = (new_page(context, errors) for _ in range(3))
    runs_page.goto(server.url + "/#/runs")
    board_page.goto(server.url + "/#/agents")
    usage_page.goto(server.url + "/#/usage")
    for page in (runs_page, board_page, usage_page):
        page.wait_for_selector("#live-state[data-state='live']")
        page.evaluate(RECORDER)
    board_page.wait_for_selector(".agent-card[data-agent='beta']")
    usage_page.wait_for_selector("#usage-totals")
    before = usage_page.inner_text("#usage-totals [data-figure='cost']")

    run_id = server.start_run(held_slugify_plan())
    runs_page.wait_for_selector(f"#runs-table tr[data-run='{run_id}']", timeout=10_000)
    runs_page.click(f"#runs-table tr[data-run='{run_id}'] a")
    runs_page.wait_for_selector("#dag svg .dag-node[data-step='implement']")
    runs_page.wait_for_selector("#run-status .status-succeeded", timeout=90_000)
    try:
        yield Watched(server, run_id, runs_page, board_page, usage_page, errors, before)
    finally:
        context.close()


def test_runs_list_shows_the_new_run_without_a_reload(watched: Watched) -> None:
    page = watched.runs_page
    page.bring_to_front()
    page.goto(watched.server.url + "/#/runs")  # a hash change: the app stays loaded
    row = f"#runs-table tr[data-run='{watched.run_id}']"
    # Rows are redrawn as progress arrives: read them through selectors, not handles.
    page.wait_for_selector(
        f"{row}[data-status='succeeded'] [role='progressbar'][aria-valuenow='7']"
    )
    assert page.get_attribute(f"{row} [role='progressbar']", "aria-valuemax") == "7"
    assert page.inner_text(f"{row} .badge").endswith("succeeded")
    assert page.inner_text(f"{row} td:nth-child(2)") == "slugify-demo"
    assert page.evaluate("window.__noReload") is True
    screenshot(page, "runs-list")
    watched.errors.check()


def test_dag_steps_turn_green_as_the_run_goes(watched: Watched) -> None:
    page = watched.runs_page
    page.bring_to_front()
    page.goto(f"{watched.server.url}/#/runs/{watched.run_id}")
    page.wait_for_selector("#dag .dag-node[data-step='all_green'][data-status='succeeded']")
    assert page.evaluate("window.__noReload") is True
    log = [tuple(x) for x in page.evaluate("window.__dagLog")]
    # The validation loop was seen running, then succeeded: the page followed the run.
    seen_test = [status for step, status in log if step == "validate/test"]
    assert "running" in seen_test
    assert seen_test.index("running") < len(seen_test) - 1 - seen_test[::-1].index("succeeded")
    final = {
        node.get_attribute("data-step"): node.get_attribute("data-status")
        for node in page.query_selector_all("#dag .dag-node")
    }
    assert final == {
        **dict.fromkeys(TOP_LEVEL, "succeeded"),
        "validate/test": "succeeded",
        "validate/fix": "skipped",
    }
    # Green for real: the box of a succeeded step is filled with the success colour.
    fill = page.eval_on_selector(
        "#dag .dag-node[data-step='implement'] > .dag-box", "el => getComputedStyle(el).fill"
    )
    assert fill == "rgb(220, 245, 227)"
    label = page.get_attribute("#dag .dag-node[data-step='validate/test']", "aria-label")
    assert label == "Step validate/test, agent · beta: succeeded"
    assert "×2" in page.text_content("#dag .dag-node[data-step='validate/test'] .dag-state")
    stats = page.inner_text("#run-stats [data-figure='steps']")
    assert stats == "7 / 7"
    watched.errors.check()


def test_a_click_on_a_step_opens_its_detail(watched: Watched) -> None:
    page = watched.runs_page
    page.bring_to_front()
    page.goto(f"{watched.server.url}/#/runs/{watched.run_id}")
    page.click("#dag .dag-node[data-step='implement']")
    page.wait_for_selector("#step-panel[data-step='implement']")
    assert page.url.endswith(f"#/runs/{watched.run_id}/steps/implement")
    with httpx.Client(base_url=watched.server.url) as client:
        steps = {s["step_key"]: s for s in client.get(f"/api/runs/{watched.run_id}/steps").json()}
    implement = steps["implement"]
    panel = page.inner_text("#step-panel")
    assert "offline:replay" in panel
    assert implement["meta"]["commit"][:10] in panel
    assert implement["output"]["text"][:60] in panel
    assert f"{implement['meta']['usage']['output_tokens']:,}" in panel.replace("\u202f", ",")
    # A loop step lists each iteration with its own test result.
    page.click("#dag .dag-node[data-step='validate/test']")
    page.wait_for_selector("#step-panel[data-step='validate/test']")
    records = page.query_selector_all("#step-panel .step-record")
    assert [r.get_attribute("data-key") for r in records] == [
        "validate[1]/test",
        "validate[2]/test",
    ]
    assert "14 passed, 1 failed" in records[0].inner_text()
    assert "15 passed, 0 failed" in records[1].inner_text()
    screenshot(page, "run-step-detail")
    watched.errors.check()


def test_tabs_show_messages_diffs_tests_usage_and_router(watched: Watched) -> None:
    page = watched.runs_page
    page.bring_to_front()
    page.goto(f"{watched.server.url}/#/runs/{watched.run_id}")
    page.wait_for_selector("#messages")
    message = page.inner_text("#messages li[data-kind='message']")
    assert "beta → aria" in message
    assert "all 15 tests pass" in message

    page.click("#tab-artifacts")
    page.wait_for_selector(".artifact.scratchpad[data-path='scratchpads/aria_to_code.md']")
    paths = [e.get_attribute("data-path") for e in page.query_selector_all(".scratchpad")]
    assert "scratchpads/beta_to_aria.md" in paths
    diff = page.query_selector(".diff-of-step[data-step='implement']")
    diff.query_selector("summary").click()
    assert "textkit/slug.py" in diff.inner_text()
    assert diff.query_selector(".add") is not None

    page.click("#tab-tests")
    rows = page.query_selector_all("#tests-table tbody tr")
    assert [r.get_attribute("data-step") for r in rows] == ["validate[1]/test", "validate[2]/test"]
    cells = [c.inner_text() for c in rows[-1].query_selector_all("td")]
    assert cells[:5] == ["15", "0", "0", "0", "15"]

    with httpx.Client(base_url=watched.server.url) as client:
        steps = client.get(f"/api/runs/{watched.run_id}/steps").json()
    cost = sum(float(s["meta"].get("cost_usd") or 0) for s in steps)
    page.click("#tab-usage")
    assert page.inner_text("#run-usage [data-figure='cost']") == f"${cost:.3f}"
    assert page.inner_text("#run-stats [data-figure='cost']") == f"${cost:.3f}"
    agents = {s["meta"]["agent"] for s in steps if s["meta"].get("agent")}
    bars = page.query_selector_all("#run-tabpanel figure:nth-of-type(3) rect.bar")
    assert len(bars) == len(agents) == 4
    page.locator("#run-tabpanel").scroll_into_view_if_needed()
    screenshot(page, "run-usage")

    page.click("#tab-router")
    router_rows = page.query_selector_all("#router-table tbody tr")
    assert len(router_rows) == sum(1 for s in steps if s["meta"].get("model"))
    assert all("offline:replay" in r.inner_text() for r in router_rows)
    watched.errors.check()


def test_agent_board_followed_the_run(watched: Watched) -> None:
    page = watched.board_page
    page.bring_to_front()
    page.wait_for_selector("[data-column='idle'] .agent-card[data-agent='beta']")
    cards = [tuple(c) for c in page.evaluate("window.__cards")]
    # Beta ran the tests for seconds: the board showed it processing, and idle again after.
    # (Steps of a few milliseconds may come and go between two paints.)
    assert ("beta", "processing") in cards
    assert cards.index(("beta", "processing")) < len(cards) - 1 - cards[::-1].index(
        ("beta", "idle")
    )
    assert page.query_selector_all("[data-column='processing'] .agent-card") == []
    assert page.evaluate("window.__noReload") is True
    page.wait_for_function(
        "() => document.querySelector(\"[data-agent='code']\").innerText.includes('2 steps')"
    )
    beta = page.inner_text(".agent-card[data-agent='beta']")
    assert "3 steps" in beta
    assert "100 % succeeded" in beta
    screenshot(page, "agent-board")
    watched.errors.check()


def test_usage_charts_refresh_when_the_run_ends(watched: Watched) -> None:
    page = watched.usage_page
    page.bring_to_front()
    with httpx.Client(base_url=watched.server.url) as client:
        summary = client.get("/api/usage/summary").json()
    cost = summary["totals"]["cost_usd"]
    assert cost > 0
    expected = f"${cost:.3f}"
    page.wait_for_function(
        "(want) => document.querySelector(\"#usage-totals [data-figure='cost']\")"
        ".innerText === want",
        arg=expected,
    )
    assert watched.usage_cost_before != expected
    assert page.evaluate("window.__noReload") is True
    models = page.query_selector_all("#usage-models tbody tr")
    assert {m.query_selector("th").inner_text() for m in models} == set(summary["by_model"])
    assert len(page.query_selector_all("figure svg rect.bar")) >= 2
    screenshot(page, "usage")
    watched.errors.check()
