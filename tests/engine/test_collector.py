"""The engine's collector settings: once per process, and never over the process's own."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from nexus.engine import collector


@pytest.fixture(autouse=True)
def _restore_collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    thresholds = gc.get_threshold()
    monkeypatch.setattr(collector, "_tuned", False)
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def test_default_thresholds_are_raised_once_and_what_exists_is_frozen() -> None:
    gc.set_threshold(collector.DEFAULT_GEN0_THRESHOLD, 10, 10)
    assert collector.tune_for_runs() is True
    assert gc.get_threshold() == (collector.GEN0_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > 0
    gc.set_threshold(collector.DEFAULT_GEN0_THRESHOLD, 10, 10)
    assert collector.tune_for_runs() is False  # once per process
    assert gc.get_threshold() == (collector.DEFAULT_GEN0_THRESHOLD, 10, 10)


def test_a_threshold_the_process_chose_is_kept() -> None:
    gc.set_threshold(1234, 5, 5)
    assert collector.tune_for_runs() is True
    assert gc.get_threshold() == (1234, 5, 5)
