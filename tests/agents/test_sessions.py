"""Agent sessions: the chain of provider session ids per (run, agent), on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus.agents.sessions import AgentSession, SessionStore
from nexus.errors import ConfigError, StoreError


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> SessionStore:
    return SessionStore(tmp_path / "sessions", clock=clock)


def test_each_call_adds_the_new_session_id_to_the_chain(store: SessionStore) -> None:
    assert store.load("run1", "code") is None
    first = store.record_call("run1", "code", "s-1", provider="claude_code", timeout_s=600)
    assert first.chain == ["s-1"] and first.current == "s-1" and first.calls == 1

    store.record_call("run1", "code", "s-2", provider="claude_code", total_cost_usd=0.5)
    same = store.record_call("run1", "code", "s-2", provider="claude_code", total_cost_usd=0.7)

    assert same.chain == ["s-1", "s-2"]  # an unchanged id is not added twice
    assert same.current == "s-2"
    assert same.calls == 3
    assert same.total_cost_usd == 0.7
    assert same.timeout_s == 600  # kept from the first call


def test_sessions_survive_a_new_store_on_the_same_folder(tmp_path: Path, clock: Clock) -> None:
    SessionStore(tmp_path, clock=clock).record_call(
        "run1", "code", "s-1", provider="claude_code", model="claude_code:sonnet", cwd="/w"
    )
    SessionStore(tmp_path, clock=clock).record_call("run1", "code", "s-2", provider="claude_code")

    again = SessionStore(tmp_path, clock=clock).load("run1", "code")

    assert again is not None
    assert again.chain == ["s-1", "s-2"]
    assert (again.model, again.cwd) == ("claude_code:sonnet", "/w")
    path = tmp_path / "run1" / "code.json"
    assert json.loads(path.read_text())["chain"] == ["s-1", "s-2"]
    assert [p.name for p in path.parent.iterdir()] == ["code.json"]  # no temporary files left


def test_sessions_are_kept_per_run_and_agent(store: SessionStore) -> None:
    store.record_call("run1", "code", "a", provider="claude_code")
    store.record_call("run1", "beta", "b", provider="claude_code")
    store.record_call("run2", "code", "c", provider="claude_code")

    assert store.load("run1", "code").chain == ["a"]  # type: ignore[union-attr]
    assert store.load("run2", "code").chain == ["c"]  # type: ignore[union-attr]
    assert sorted(s.agent_id for s in store.list_sessions("run1")) == ["beta", "code"]
    assert len(store.list_sessions()) == 3


def test_a_session_expires_its_timeout_after_the_last_call(
    store: SessionStore, clock: Clock
) -> None:
    store.record_call("run1", "code", "s-1", provider="claude_code", timeout_s=60)
    clock.now += 50
    store.record_call("run1", "code", "s-2", provider="claude_code")  # restarts the timeout
    clock.now += 59
    assert store.active("run1", "code") is not None

    clock.now += 1
    assert store.active("run1", "code") is None
    assert store.load("run1", "code") is not None  # kept until cleaned up

    restarted = store.record_call("run1", "code", "s-3", provider="claude_code", timeout_s=60)
    assert restarted.chain == ["s-3"]  # a call after expiry starts a new chain
    assert restarted.calls == 1


def test_cleanup_removes_only_expired_sessions_and_empty_folders(
    store: SessionStore, clock: Clock
) -> None:
    store.record_call("run1", "code", "old", provider="claude_code", timeout_s=10)
    store.record_call("run2", "code", "young", provider="claude_code", timeout_s=100)
    clock.now += 20

    removed = store.cleanup()

    assert [s.chain for s in removed] == [["old"]]
    assert not (store.root / "run1").exists()
    assert store.load("run2", "code") is not None
    assert store.cleanup() == []


def test_delete_forgets_a_session(store: SessionStore) -> None:
    store.record_call("run1", "code", "s-1", provider="claude_code")
    assert store.delete("run1", "code") is True
    assert store.delete("run1", "code") is False
    assert store.load("run1", "code") is None


def test_a_damaged_session_file_is_reported_with_its_path(store: SessionStore) -> None:
    path = store.path("run1", "code")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")

    with pytest.raises(StoreError, match=r"code\.json is not a valid session"):
        store.load("run1", "code")
    assert store.list_sessions() == []  # listing skips it


@pytest.mark.parametrize(("run_id", "agent_id"), [("../x", "code"), ("run1", "a/b"), ("..", "x")])
def test_ids_that_are_not_file_names_are_refused(
    store: SessionStore, run_id: str, agent_id: str
) -> None:
    with pytest.raises(ConfigError, match="cannot name a session file"):
        store.path(run_id, agent_id)


def test_expiry_is_measured_from_the_last_update() -> None:
    session = AgentSession(
        run_id="r", agent_id="a", provider="p", updated_at=100.0, timeout_s=10, chain=["x"]
    )
    assert session.expires_at == 110.0
    assert not session.expired(109.9)
    assert session.expired(110.0)
