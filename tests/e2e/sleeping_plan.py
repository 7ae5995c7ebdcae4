"""A three-step shell plan for tests that kill the process running it mid-step.

Every step appends its name to ``counter``. On its first attempt step ``two`` leaves
``mark``, writes its shell's pid to ``pid`` and turns into ``sleep 60``; a later attempt
finds the mark and goes straight on. The counter then tells how often each step ran.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SleepingPlan"]

_PLAN = """
name: {name}
steps:
  one:
    tool: shell
    with: {{command: "echo one >> {counter}"}}
  two:
    needs: [one]
    tool: shell
    with:
      command: >-
        echo two >> {counter};
        if [ ! -f {mark} ]; then touch {mark}; echo $$ > {pid}; exec sleep 60; fi
  three:
    needs: [two]
    tool: shell
    with: {{command: "echo three >> {counter}"}}
"""


@dataclass(frozen=True)
class SleepingPlan:
    """The files of one sleeping plan: the step counter, step two's mark and its pid."""

    counter: Path
    mark: Path
    pid: Path

    @classmethod
    def in_dir(cls, folder: Path) -> SleepingPlan:
        return cls(folder / "counter.txt", folder / "mark", folder / "sleep.pid")

    def yaml(self, name: str) -> str:
        """The plan, named ``name``."""
        return _PLAN.format(name=name, counter=self.counter, mark=self.mark, pid=self.pid)

    def wait_for_step_two(self, proc: subprocess.Popen[bytes] | None = None) -> None:
        """Wait (60 s at most) until step two sleeps; fails early when ``proc`` exits."""
        deadline = time.monotonic() + 60
        while not self.pid.exists() or not self.pid.read_text().strip():
            if proc is not None:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "step 'two' never started"
            time.sleep(0.05)

    def kill_sleep(self) -> None:
        """Kill step two's ``sleep``, orphaned when the process that ran it was killed."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(self.pid.read_text()), signal.SIGKILL)
