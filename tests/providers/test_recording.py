"""Recording a cassette from another provider and replaying it offline."""

from __future__ import annotations

from pathlib import Path

from nexus.domain.messages import Message, ModelRequest
from nexus.providers import OfflineProvider, RecordingProvider, load_cassette
from nexus.testing import ScriptedModel, response, tool_call


def _request(step: str, turn: int, task: str = "Write docs") -> ModelRequest:
    return ModelRequest(
        model="scripted:any",
        messages=(Message.text("user", "go"),),
        agent_id="aria",
        step_key=step,
        metadata={"task": task, "turn": turn},
    )


async def test_recorded_answers_replay_offline(tmp_path: Path) -> None:
    inner = ScriptedModel(
        [
            tool_call("list_files", _usage={"input_tokens": 100, "output_tokens": 9}),
            response("Written.\nCONFIDENCE: 0.9", usage={"input_tokens": 150, "output_tokens": 8}),
        ]
    )
    path = tmp_path / "rec" / "docs.yaml"
    recorder = RecordingProvider(inner, path)
    await recorder.complete(_request("analyse", 1))
    await recorder.complete(_request("analyse", 2))

    cassette = load_cassette(path)
    assert cassette.task == "Write docs"
    assert cassette.model_label == "scripted:any"
    assert [(i.agent, i.step, i.turn) for i in cassette.interactions] == [
        ("aria", "analyse", 1),
        ("aria", "analyse", 2),
    ]
    assert cassette.interactions[0].response.usage.input_tokens == 100

    offline = OfflineProvider(cassette_dirs=[path.parent], include_bundled=False)
    replay = ModelRequest(
        model="offline:replay",
        messages=(Message.text("user", "go"),),
        agent_id="aria",
        step_key="analyse",
        metadata={"task": "write docs", "turn": 2},
    )
    answer = await offline.complete(replay)
    assert answer.message.text_content == "Written.\nCONFIDENCE: 0.9"
    assert answer.usage.output_tokens == 8


async def test_re_recording_replaces_and_other_tasks_are_kept_apart(tmp_path: Path) -> None:
    inner = ScriptedModel(["first", "second", "other task"])
    path = tmp_path / "c.yaml"
    recorder = RecordingProvider(inner, path)
    await recorder.complete(_request("analyse", 1))
    await recorder.complete(_request("analyse", 1))
    await recorder.complete(_request("analyse", 1, task="Something else"))
    cassette = load_cassette(path)
    assert [i.response.text for i in cassette.interactions] == ["second", "other task"]
    assert cassette.interactions[1].task == "Something else"


async def test_streamed_answers_are_recorded(tmp_path: Path) -> None:
    inner = ScriptedModel([response("streamed", usage={"input_tokens": 4})])
    path = tmp_path / "s.yaml"
    recorder = RecordingProvider(inner, path)
    chunks = [c async for c in recorder.stream(_request("analyse", 1))]
    assert chunks[0].text == "streamed"
    recorded = load_cassette(path).interactions[0].response
    assert recorded.text == "streamed"
    assert recorded.usage.input_tokens == 4
