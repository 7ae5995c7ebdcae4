"""The DAG module (``dag.js``) in the browser: layers, nesting, edges and step states."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.conftest import PageErrors, Server, new_page

# Draw a plan with the dashboard's own module and report each node's box and the edges.
DRAW = """async (plan) => {
  const dag = await import("/ui/js/dag.js");
  const drawn = dag.renderDag(plan, {});
  document.body.replaceChildren(drawn.svg);
  const boxes = {};
  for (const g of drawn.svg.querySelectorAll(".dag-node")) {
    const r = g.querySelector(".dag-box").getBoundingClientRect();
    boxes[g.dataset.step] = {x: r.x, y: r.y, w: r.width, h: r.height, kind: g.dataset.kind};
  }
  const edges = [...drawn.svg.querySelectorAll(".dag-edge")].map(
    (e) => [e.dataset.from, e.dataset.to, e.getAttribute("class").split(" ")[1]]);
  return {boxes, edges};
}"""


@pytest.fixture(scope="module")
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 1200})
    errors = PageErrors([])
    page = new_page(context, errors)
    page.goto(server.url + "/")
    page.wait_for_selector("#runs-table")
    yield page
    errors.check()
    context.close()


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and (a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])
    )


def inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        outer["x"] <= inner["x"]
        and inner["x"] + inner["w"] <= outer["x"] + outer["w"]
        and outer["y"] <= inner["y"]
        and inner["y"] + inner["h"] <= outer["y"] + outer["h"]
    )


def test_a_diamond_is_laid_out_in_three_layers(page: Any) -> None:
    plan = {
        "name": "diamond",
        "steps": {
            "d": {"tool": "echo", "needs": ["b", "c"]},
            "c": {"tool": "echo", "needs": ["a"]},
            "b": {"agent": "code", "prompt": "x", "needs": ["a"]},
            "a": {"tool": "shell", "with": {"command": "true"}},
        },
    }
    out = page.evaluate(DRAW, plan)
    box = out["boxes"]
    assert box["a"]["y"] < box["b"]["y"] == box["c"]["y"] < box["d"]["y"]
    assert box["a"]["kind"] == "tool" and box["b"]["kind"] == "agent"
    # a and d are centred over the row of b and c
    middle = (box["b"]["x"] + box["c"]["x"] + box["c"]["w"]) / 2
    assert abs(box["a"]["x"] + box["a"]["w"] / 2 - middle) < 1
    assert abs(box["d"]["x"] + box["d"]["w"] / 2 - middle) < 1
    assert not overlaps(box["b"], box["c"])
    assert sorted(out["edges"]) == [
        ["a", "b", "edge-needs"],
        ["a", "c", "edge-needs"],
        ["b", "d", "edge-needs"],
        ["c", "d", "edge-needs"],
    ]


def test_groups_nest_their_steps_and_sequences_chain_them(page: Any) -> None:
    plan = {
        "name": "groups",
        "steps": {
            "build": {"tool": "echo"},
            "checks": {
                "needs": ["build"],
                "parallel": {"steps": {"lint": {"tool": "echo"}, "types": {"tool": "echo"}}},
            },
            "release": {
                "needs": ["checks"],
                "sequence": {"steps": {"tag": {"tool": "echo"}, "push": {"tool": "echo"}}},
            },
            "fixloop": {
                "needs": ["checks"],
                "loop": {
                    "max": 2,
                    "steps": {
                        "test": {"tool": "echo"},
                        "fix": {"tool": "echo", "needs": ["test"]},
                    },
                },
            },
        },
    }
    out = page.evaluate(DRAW, plan)
    box = out["boxes"]
    for group, children in {
        "checks": ["checks/lint", "checks/types"],
        "release": ["release/tag", "release/push"],
        "fixloop": ["fixloop/test", "fixloop/fix"],
    }.items():
        for child in children:
            assert inside(box[child], box[group]), (child, group)
    # parallel children side by side; sequence and loop children one below the other
    assert box["checks/lint"]["y"] == box["checks/types"]["y"]
    assert box["release/tag"]["y"] < box["release/push"]["y"]
    assert box["fixloop/test"]["y"] < box["fixloop/fix"]["y"]
    # the two groups that need checks sit side by side below it, without overlapping
    assert box["release"]["y"] == box["fixloop"]["y"] > box["checks"]["y"] + box["checks"]["h"]
    assert not overlaps(box["release"], box["fixloop"])
    edges = {(a, b): kind for a, b, kind in out["edges"]}
    assert edges == {
        ("build", "checks"): "edge-needs",
        ("checks", "release"): "edge-needs",
        ("checks", "fixloop"): "edge-needs",
        ("release/tag", "release/push"): "edge-order",
        ("fixloop/test", "fixloop/fix"): "edge-needs",
    }


def test_condition_branches_are_drawn_as_dashed_edges(page: Any) -> None:
    plan = {
        "name": "branches",
        "steps": {
            "decide": {"condition": "${{ true }}", "then": ["yes"], "else": ["no"]},
            "yes": {"tool": "echo"},
            "no": {"tool": "echo"},
        },
    }
    out = page.evaluate(DRAW, plan)
    assert sorted(out["edges"]) == [["decide", "no", "edge-else"], ["decide", "yes", "edge-then"]]
    assert out["boxes"]["decide"]["y"] < out["boxes"]["yes"]["y"] == out["boxes"]["no"]["y"]
    dashed = page.eval_on_selector(".edge-then", "e => getComputedStyle(e).strokeDasharray")
    assert dashed not in ("none", "")


def test_step_states_take_the_latest_loop_iteration(page: Any) -> None:
    steps = [
        {"step_key": "build", "status": "succeeded", "attempt": 2},
        {"step_key": "fixloop[1]/test", "status": "failed", "attempt": 1},
        {"step_key": "fixloop[2]/test", "status": "running", "attempt": 1},
        {"step_key": "fixloop[1]/fix", "status": "succeeded", "attempt": 1},
    ]
    states = page.evaluate(
        """async (steps) => {
          const dag = await import("/ui/js/dag.js");
          const out = {};
          for (const [id, st] of dag.stepStates(steps)) {
            out[id] = [st.status, st.iterations, st.attempts];
          }
          return out;
        }""",
        steps,
    )
    assert states == {
        "build": ["succeeded", 0, 2],
        "fixloop/test": ["running", 2, 1],
        "fixloop/fix": ["succeeded", 1, 1],
    }
