"""What the router learned survives a restart and adds up across processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from nexus.errors import StoreError
from nexus.routing import Router, TaskFeatures
from nexus.routing.catalog import Catalog
from nexus.routing.state import RouterState

FEATURES = TaskFeatures("test", 0.4, True, 1_000)


def test_outcomes_survive_a_restart(nexus_home: Path, three_models: Catalog) -> None:
    router = Router.open(nexus_home, catalog=three_models)
    before = router.decide(FEATURES, "tester", "balance")
    for _ in range(12):
        router.record_outcome(("tester", "test", before.model), False, 0.02, 4.0, confidence=0.3)
    after = router.decide(FEATURES, "tester", "balance")
    assert after.model != before.model
    router.close()
    assert (nexus_home / "router" / "state.db").is_file()

    again = Router.open(nexus_home, catalog=three_models)
    assert again.decide(FEATURES, "tester", "balance").model == after.model
    [row] = [r for r in again.arms("tester") if r["model"] == before.model]
    assert (row["n"], row["successes"], row["confidence_n"]) == (12.0, 0.0, 12.0)
    assert row["cost_usd"] == pytest.approx(0.24)
    assert row["expected_successes"] > 0
    assert again.state is not None and again.state.outcome_count() == 12
    again.close()


def test_routers_sharing_a_home_add_up(nexus_home: Path, three_models: Catalog) -> None:
    first = Router.open(nexus_home, catalog=three_models)
    second = Router.open(nexus_home, catalog=three_models)
    first.record_outcome(("dev", "code", "test:mid"), True, 0.01, 1.0)
    second.record_outcome(("dev", "code", "test:mid"), False, 0.03, 3.0)
    first.reload()
    [row] = first.arms("dev")
    assert (row["n"], row["successes"], row["cost_usd"]) == (2.0, 1.0, pytest.approx(0.04))
    first.close()
    second.close()


def test_another_process_records_into_the_same_file(nexus_home: Path) -> None:
    code = (
        "import sys\n"
        "from nexus.routing import Router\n"
        "r = Router.open(sys.argv[1])\n"
        "for _ in range(5):\n"
        "    r.record_outcome(('dev', 'code', 'openai:gpt-4.1-mini'), True, 0.01, 2.0)\n"
        "r.close()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(nexus_home)], check=True, timeout=60)
    router = Router.open(nexus_home)
    [row] = router.arms("dev")
    assert (row["model"], row["n"], row["successes"]) == ("openai:gpt-4.1-mini", 5.0, 5.0)
    router.close()


def test_a_newer_state_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    RouterState(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        RouterState(path)


def test_an_unusable_state_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot be opened"):
        RouterState(blocker / "router" / "state.db")
