"""Cassette files: parsing, errors that name the file, writing, and the library index."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.domain.messages import Usage
from nexus.errors import ConfigError
from nexus.providers.cassette import (
    Cassette,
    CassetteLibrary,
    Interaction,
    InteractionKey,
    RecordedResponse,
    RecordedToolCall,
    dump_cassette,
    load_cassette,
    normalize_task,
    response_from_record,
)

CASSETTE = """\
task: "Add   a Greeting"
model_label: openai:gpt-4o
interactions:
  - agent: code
    step: implement
    turn: 1
    response:
      text: "Reading first."
      tool_calls: [{name: read_file, arguments: {path: a.py}}]
      usage: {input_tokens: 120, output_tokens: 30}
  - agent: code
    step: implement
    turn: 2
    response:
      text: "Done.\\nCONFIDENCE: 0.8"
      usage: {input_tokens: 200, output_tokens: 12}
"""


def test_normalize_task() -> None:
    assert normalize_task("  Add   a\nGreeting ") == "add a greeting"
    assert normalize_task(None) == ""


def test_load_and_index(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text(CASSETTE)
    cassette = load_cassette(file)
    assert cassette.model_label == "openai:gpt-4o"
    assert len(cassette.interactions) == 2
    library = CassetteLibrary([tmp_path])
    found = library.find(InteractionKey.of("add a GREETING", "code", "implement", 2))
    assert found is not None
    assert found[2].response.text.startswith("Done.")
    assert library.find(InteractionKey.of("add a greeting", "code", "implement", 3)) is None
    assert library.has_task("ADD A GREETING") and not library.has_task("other")


def test_response_from_record_builds_tool_calls_with_ids() -> None:
    record = RecordedResponse(
        text="Two reads.",
        tool_calls=(
            RecordedToolCall(name="read_file", arguments={"path": "a"}),
            RecordedToolCall(name="read_file", arguments={"path": "b"}, id="mine"),
        ),
        usage=Usage(input_tokens=5),
    )
    response = response_from_record(record, "offline:replay", turn=3)
    assert [c.id for c in response.message.tool_calls] == ["call_3_1", "mine"]
    assert response.stop_reason == "tool_use"
    assert response.usage.input_tokens == 5


def test_library_skips_other_yaml_and_reads_cassettes_subdir(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text("version: 1\nname: p\nsteps: {}\n")
    (tmp_path / "cassettes").mkdir()
    (tmp_path / "cassettes" / "c.yml").write_text(CASSETTE)
    library = CassetteLibrary([tmp_path])
    assert [f.name for f in library.files] == ["c.yml"]
    assert len(library) == 2


def test_earlier_source_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "c.yaml").write_text(CASSETTE)
    (second / "c.yaml").write_text(CASSETTE.replace("Reading first.", "Other."))
    found = CassetteLibrary([second, first]).find(
        InteractionKey.of("add a greeting", "code", "implement", 1)
    )
    assert found is not None and found[2].response.text == "Other."


def test_duplicate_key_names_file_and_key(tmp_path: Path) -> None:
    file = tmp_path / "dup.yaml"
    file.write_text(CASSETTE.replace("turn: 2", "turn: 1"))
    with pytest.raises(ConfigError) as info:
        load_cassette(file)
    assert "dup.yaml" in info.value.message
    assert "agent 'code', step 'implement', turn 1" in info.value.message


def test_invalid_interaction_names_it(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(CASSETTE.replace("turn: 2", "turn: 0"))
    with pytest.raises(ConfigError) as info:
        load_cassette(file)
    assert "bad.yaml" in info.value.message
    assert "interaction 2 (agent 'code', step 'implement', turn 0)" in info.value.message


def test_dump_round_trip_keeps_multiline_text(tmp_path: Path) -> None:
    cassette = Cassette(
        task="t",
        interactions=[
            Interaction(
                agent="a",
                step="s",
                turn=1,
                response=RecordedResponse(
                    text="line one\nline two\n",
                    tool_calls=(
                        RecordedToolCall(
                            name="write_file", arguments={"path": "x.py", "content": "a = 1\n"}
                        ),
                    ),
                    usage=Usage(input_tokens=9, output_tokens=4),
                ),
            )
        ],
    )
    path = tmp_path / "out" / "rt.yaml"
    dump_cassette(cassette, path)
    text = path.read_text()
    assert "text: |" in text  # block scalar, readable
    again = load_cassette(path)
    assert again.interactions[0].response == cassette.interactions[0].response
