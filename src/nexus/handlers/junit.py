"""Reading pytest's JUnit XML into counts, failures and a short report for people and agents."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "TestFailure",
    "TestSummary",
    "format_report",
    "node_id",
    "parse_junit_xml",
    "relevant_lines",
]

#: Characters of a failure's traceback kept in ``details`` (the tail: the assertion is last).
DETAILS_LIMIT = 4000
MESSAGE_LIMIT = 500
REPORT_FAILURES = 20
REPORT_LIMIT = 12000
_LOCATION = re.compile(r"^\S+\.py:\d+:")


@dataclass(slots=True)
class TestFailure:
    """One failed or errored test: its node id, the crash message and the traceback tail."""

    __test__ = False  # not a pytest test class

    test: str
    message: str
    details: str
    kind: str = "failure"  # "failure" or "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "message": self.message,
            "details": self.details,
            "kind": self.kind,
        }


@dataclass(slots=True)
class TestSummary:
    """Counts over every test case in a JUnit report, and the failures in order."""

    __test__ = False

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failures: list[TestFailure] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped


def parse_junit_xml(text: str | bytes) -> TestSummary:
    """Count the test cases of a pytest ``--junitxml`` report (``junit_family=xunit1``).

    A case with a ``failure`` is failed, else one with an ``error`` (setup,
    teardown or collection) is an error, else a ``skipped`` one (xfail included)
    is skipped, else it passed. Raises ``ET.ParseError`` on malformed XML.
    """
    root = ET.fromstring(text)
    summary = TestSummary()
    for case in root.iter("testcase"):
        failure = case.find("failure")
        error = case.find("error")
        if failure is not None:
            summary.failed += 1
            summary.failures.append(_failure(case, failure, "failure"))
        elif error is not None:
            summary.errors += 1
            summary.failures.append(_failure(case, error, "error"))
        elif case.find("skipped") is not None:
            summary.skipped += 1
        else:
            summary.passed += 1
    return summary


def node_id(case: ET.Element) -> str:
    """The pytest node id of a ``testcase`` element: ``tests/test_x.py::TestC::test_y``."""
    name = case.get("name", "")
    classname = case.get("classname", "")
    path = case.get("file", "")
    if not path:
        return f"{classname}::{name}" if classname else name
    module = path[:-3].replace("/", ".") if path.endswith(".py") else path
    if name == module and not classname:  # a collection error names the module
        return path
    parts = [path]
    if classname.startswith(module + "."):
        parts.extend(classname[len(module) + 1 :].split("."))
    elif classname and classname != module:
        parts.append(classname)
    parts.append(name)
    return "::".join(parts)


def _failure(case: ET.Element, element: ET.Element, kind: str) -> TestFailure:
    message = (element.get("message") or "").strip()
    details = (element.text or "").strip("\n")
    if not message and details:
        message = _crash_line(details)
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 1] + "…"
    if len(details) > DETAILS_LIMIT:
        cut = len(details) - DETAILS_LIMIT
        details = f"[… {cut} earlier characters truncated …]\n" + details[-DETAILS_LIMIT:]
    return TestFailure(test=node_id(case), message=message, details=details, kind=kind)


def _crash_line(details: str) -> str:
    for line in reversed(details.splitlines()):
        if line.startswith("E "):
            return line[1:].strip()
    lines = [line for line in details.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def relevant_lines(details: str, limit: int = 15) -> list[str]:
    """The lines of a traceback that say what failed: ``>`` source, ``E`` lines, the location."""
    lines = details.splitlines()
    picked: list[str] = []
    last = len(lines) - 3
    for index, line in enumerate(lines):
        located = index >= last and _LOCATION.match(line) is not None
        if (line.startswith((">", "E ")) and line.strip() != "E") or located:
            picked.append(line.rstrip())
    if not picked:
        picked = [line for line in lines if line.strip()][-8:]
    return picked[-limit:]


def format_report(summary: TestSummary, *, exit_code: int, duration_s: float) -> str:
    """A short plain-text report: the counts, then each failure with its assertion lines."""
    if summary.total == 0:
        head = f"pytest: no tests collected (exit code {exit_code})"
    else:
        head = (
            f"pytest: {summary.passed} passed, {summary.failed} failed, "
            f"{summary.errors} errors, {summary.skipped} skipped "
            f"({summary.total} total) in {duration_s:.2f}s, exit code {exit_code}"
        )
    blocks = [head]
    for failure in summary.failures[:REPORT_FAILURES]:
        label = "FAILED" if failure.kind == "failure" else "ERROR"
        first = failure.message.splitlines()[0] if failure.message else ""
        lines = [f"{label} {failure.test}" + (f" - {first}" if first else "")]
        lines.extend("    " + line for line in relevant_lines(failure.details))
        blocks.append("\n".join(lines))
    hidden = len(summary.failures) - REPORT_FAILURES
    if hidden > 0:
        blocks.append(f"… and {hidden} more failing tests")
    report = "\n\n".join(blocks)
    if len(report) > REPORT_LIMIT:
        report = report[: REPORT_LIMIT - 40].rstrip() + "\n[… report truncated …]"
    return report
