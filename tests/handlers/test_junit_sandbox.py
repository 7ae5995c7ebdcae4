"""JUnit XML parsing and environment scrubbing, on their own."""

from __future__ import annotations

from nexus.handlers.junit import format_report, parse_junit_xml, relevant_lines
from nexus.handlers.sandbox import scrub_env

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5">
<testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py" line="1" time="0.001"/>
<testcase classname="tests.test_a.TestK" name="test_m[1.5-x]" file="tests/test_a.py" line="9">
  <failure message="assert 1 == 2">def test_m():
&gt;       assert 1 == 2
E       assert 1 == 2

tests/test_a.py:11: AssertionError</failure>
</testcase>
<testcase classname="" name="tests.test_b" file="tests/test_b.py" time="0.0">
  <error message="collection failure">E   SyntaxError: invalid syntax</error>
</testcase>
<testcase classname="tests.test_a" name="test_skip" file="tests/test_a.py" line="20">
  <skipped type="pytest.skip" message="later">skipped</skipped>
</testcase>
<testcase classname="tests.test_a" name="test_ok2" file="tests/test_a.py" line="30"/>
</testsuite></testsuites>
"""


def test_parse_counts_and_node_ids() -> None:
    summary = parse_junit_xml(REPORT)
    assert (summary.passed, summary.failed, summary.errors, summary.skipped) == (2, 1, 1, 1)
    assert summary.total == 5
    assert [(f.test, f.kind, f.message) for f in summary.failures] == [
        ("tests/test_a.py::TestK::test_m[1.5-x]", "failure", "assert 1 == 2"),
        ("tests/test_b.py", "error", "collection failure"),
    ]


def test_report_shows_assertion_lines() -> None:
    report = format_report(parse_junit_xml(REPORT), exit_code=1, duration_s=0.25)
    assert report.splitlines() == [
        "pytest: 2 passed, 1 failed, 1 errors, 1 skipped (5 total) in 0.25s, exit code 1",
        "",
        "FAILED tests/test_a.py::TestK::test_m[1.5-x] - assert 1 == 2",
        "    >       assert 1 == 2",
        "    E       assert 1 == 2",
        "    tests/test_a.py:11: AssertionError",
        "",
        "ERROR tests/test_b.py - collection failure",
        "    E   SyntaxError: invalid syntax",
    ]


def test_relevant_lines_fall_back_to_the_tail() -> None:
    details = "\n".join(f"line {i}" for i in range(20))
    assert relevant_lines(details) == [f"line {i}" for i in range(12, 20)]


def test_scrub_env() -> None:
    base = {
        "PATH": "/bin",
        "OPENAI_API_KEY": "sk",
        "Slack_Token": "t",
        "AWS_SECRET_ACCESS_KEY": "s",
        "PGPASSWORD": "p",
        "GOOGLE_APPLICATION_CREDENTIALS": "/c.json",
        "DATABASE_URL": "postgresql://u:pw@h/db",
        "PLAIN_URL": "https://example.invalid/path",
    }
    assert scrub_env(base) == {"PATH": "/bin", "PLAIN_URL": "https://example.invalid/path"}
    assert scrub_env(base, allow=["PGPASSWORD"], extra={"MODE": "x"}) == {
        "PATH": "/bin",
        "PLAIN_URL": "https://example.invalid/path",
        "PGPASSWORD": "p",
        "MODE": "x",
    }
