"""``nexus run`` on a terminal (a pseudo-terminal): the live table and the interactive question."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

HUMAN = """\
name: release
steps:
  build: {tool: echo, with: {message: built}}
  approve: {needs: [build], human: "Ship it?", options: ["yes", "no"]}
  report:
    needs: [approve]
    transform: {answer: "${{ steps.approve.output.answer }}"}
"""

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A command run on a pseudo-terminal; collects what it prints, types answers."""

    def __init__(self, *args: str) -> None:
        self.master, slave = os.openpty()
        env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from nexus.cli.app import main; main()", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        self.output = ""

    def read_until(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.plain:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{text!r} not printed; got:\n{self.plain}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the command ended and closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"{text!r} not printed before the end:\n{self.plain}")
                self.output += chunk.decode(errors="replace")
        return self.plain

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.master, 65536).decode(errors="replace")
                except OSError:
                    break
        code = self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        os.close(self.master)
        return code

    @property
    def plain(self) -> str:
        return _ANSI.sub("", self.output).replace("\r", "")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_a_question_is_asked_on_the_terminal_and_the_run_continues(tmp_path: Path) -> None:
    plan = tmp_path / "human.yaml"
    plan.write_text(HUMAN)
    term = Terminal("run", str(plan))
    term.read_until("Ship it? [yes/no]")
    # the live table was shown while the run executed
    assert re.search(r"step\s+┃\s+agent/tool\s+┃\s+status\s+┃\s+try\s+┃\s+time", term.plain)
    term.type("maybe\r")
    term.read_until("Please select one of the available options")
    term.type("yes\r")
    term.read_until("git log")
    assert term.finish() == 0
    summary = term.plain.split("Please select one of the available options")[-1]
    assert re.search(r"run \w+  release  succeeded", summary)
    rows = {line.split()[0]: line for line in summary.splitlines() if line.strip()}
    assert "succeeded" in rows["approve"] and re.search(r"answer\W+yes", rows["approve"])
    assert "succeeded" in rows["report"]
