"""``nexus router explain`` and ``nexus router stats``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from nexus.cli.app import app
from nexus.routing import NODES, Router

runner = CliRunner()
TASK = "Fix the failing test in slugify.py: TypeError when the title is None"


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def test_explain_json_shows_features_rule_scores_choice_and_reason() -> None:
    code, out, _ = invoke(
        "router", "explain", TASK, "--role", "developer", "--mode", "cost", "--json"
    )
    assert code == 0
    report = json.loads(out)
    assert report["features"]["task_type"] == "debug"
    assert (report["role"], report["mode"], report["rule"]) == ("developer", "cost", None)
    assert len(report["candidates"]) == 10
    first = report["candidates"][0]
    assert first["model"] == report["model"]
    assert set(NODES) | {"model", "total", "outcomes"} <= set(first)
    assert report["reason"].startswith(f"cost mode: {report['model']} scored")


def test_explain_table_for_people() -> None:
    code, out, _ = invoke("router", "explain", TASK, "--mode", "quality")
    assert code == 0
    for label in ("features", "debug · complexity", "rule", "none matched", "chosen", "reason"):
        assert label in out
    assert "candidates, best first" in out
    assert "anthropic:claude-opus-4-1" in out
    assert "offline:replay: last resort only" in out


def test_explain_shows_a_rule_from_the_users_catalog(nexus_home: Path) -> None:
    nexus_home.mkdir(parents=True, exist_ok=True)
    (nexus_home / "catalog.yaml").write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {
                        "name": "bugs-to-sonnet",
                        "if": {"task_type": "debug"},
                        "model": "anthropic:claude-sonnet-4-5",
                        "reason": "our bugs need Sonnet",
                    }
                ]
            }
        )
    )
    code, out, _ = invoke("router", "explain", TASK, "--json")
    report = json.loads(out)
    assert code == 0
    assert report["model"] == "anthropic:claude-sonnet-4-5"
    assert report["rule"] == "bugs-to-sonnet"
    assert report["reason"] == "rule bugs-to-sonnet: our bugs need Sonnet"
    code, out, _ = invoke("router", "explain", TASK)
    assert "bugs-to-sonnet: if task_type == debug → anthropic:claude-sonnet-4-5" in out


def test_explain_with_chosen_candidates_and_available_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, _ = invoke(
        "router", "explain", TASK, "-c", "openai:gpt-4.1", "-c", "openai:gpt-4.1-nano", "--json"
    )
    assert code == 0
    assert {r["model"] for r in json.loads(out)["candidates"]} == {
        "openai:gpt-4.1",
        "openai:gpt-4.1-nano",
    }
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:11434/v1")
    code, out, _ = invoke("router", "explain", TASK, "--available", "--json")
    assert {r["model"] for r in json.loads(out)["candidates"]} == {
        "ollama:qwen2.5-coder:7b",
        "ollama:llama3.1:8b",
    }


def test_explain_usage_errors() -> None:
    code, _out, err = invoke("router", "explain", TASK, "--mode", "fast")
    assert code == 2
    assert "unknown priority mode 'fast'" in err
    code, _out, err = invoke("router", "explain", TASK, "-c", "nobody:model")
    assert code == 2
    assert "'nobody:model' is not in the router catalog" in err


def test_stats_shows_what_was_learned(nexus_home: Path) -> None:
    code, out, _ = invoke("router", "stats")
    assert code == 0 and "no verified outcomes recorded yet" in out
    router = Router.open(nexus_home)
    for ok in (True, True, False):
        router.record_outcome(("developer", "debug", "openai:gpt-4.1-mini"), ok, 0.01, 9.0)
    router.close()
    code, out, _ = invoke("router", "stats", "--json")
    [arm] = json.loads(out)["arms"]
    assert (arm["model"], arm["n"], arm["successes"]) == ("openai:gpt-4.1-mini", 3.0, 2.0)
    code, out, _ = invoke("router", "stats")
    assert "openai:gpt-4.1-mini" in out and "67%" in out and "$0.0100" in out
    # and explain now says it learned
    code, out, _ = invoke(
        "router", "explain", TASK, "-c", "openai:gpt-4.1-mini", "-c", "openai:gpt-4.1", "--json"
    )
    rows = {r["model"]: r for r in json.loads(out)["candidates"]}
    assert rows["openai:gpt-4.1-mini"]["outcomes"] == 3.0
