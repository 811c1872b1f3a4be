"""Context-window fitting, approvals, structured output, sessions and transcripts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pydantic import BaseModel
from runtime_fixtures import agent_with, call, final, scripted

from agentoss import Agent, Limits, RunError, function_tool
from agentoss.runtime.context import ELISION_MARKER
from agentoss.runtime.transcript import read_transcript
from agentoss.testing.script import Script


@function_tool
def read_page(n: int) -> str:
    """Read a long page."""
    return f"page {n}: " + "lorem ipsum dolor sit amet " * 150


async def test_oldest_tool_outputs_are_elided_to_fit_the_window() -> None:
    script = Script.from_replies(
        [call("functions.read_page", f'{{"n": {i}}}') for i in range(4)] + [final("done")]
    )
    backend = scripted(script, context_window=3000)
    agent = Agent(
        backend, tools=[read_page], limits=Limits(reserve_output_tokens=200, max_output_tokens_per_call=200)
    )
    result = await agent.run("go")
    assert result.stop_reason == "final", result.diagnostics
    assert all(len(c.prompt) + 1 <= 3000 for c in backend.calls)
    tool_messages = [m for m in result.messages if m.role == "tool"]
    assert tool_messages[0].content.startswith(ELISION_MARKER)
    assert not tool_messages[-1].content.startswith(ELISION_MARKER)
    assert any(d.startswith("elided") for d in result.diagnostics)
    # The records keep what the tool really returned.
    assert result.tool_calls[0].output.startswith("page 0")


async def test_context_length_when_nothing_can_be_elided() -> None:
    backend = scripted([final("never")], context_window=400)
    agent = Agent(backend, limits=Limits(reserve_output_tokens=100))
    result = await agent.run("word " * 500)
    assert result.stop_reason == "context_length"
    assert backend.calls == []


async def test_max_tokens_is_shrunk_to_the_window() -> None:
    backend = scripted([final("short")], context_window=1000)
    await Agent(backend, limits=Limits(reserve_output_tokens=10)).run("hi")
    (sent,) = backend.calls
    assert len(sent.prompt) + sent.params.max_tokens == 1000


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_approval_hook_can_deny_with_a_reason(asynchronous: bool) -> None:
    seen = []

    def decide(tool_call):  # type: ignore[no-untyped-def]
        seen.append(tool_call.recipient)
        return True if len(seen) == 1 else "not on weekends"

    async def decide_async(tool_call):  # type: ignore[no-untyped-def]
        return decide(tool_call)

    agent = agent_with(
        [call("functions.read_page", '{"n": 1}'), call("functions.read_page", '{"n": 2}'), final("ok")],
        tools=[read_page],
        approve=decide_async if asynchronous else decide,
    )
    result = await agent.run("go")
    assert seen == ["functions.read_page", "functions.read_page"]
    assert not result.tool_calls[0].is_error
    assert result.tool_calls[1].is_error
    assert result.tool_calls[1].output == "Tool call denied: not on weekends"


async def test_denied_call_never_runs_the_tool() -> None:
    ran = []

    @function_tool
    def danger() -> str:
        """Does something."""
        ran.append(1)
        return "done"

    agent = agent_with([call("functions.danger", "{}"), final("ok")], tools=[danger], approve=lambda c: False)
    result = await agent.run("go")
    assert ran == []
    assert result.tool_calls[0].output == "Tool call denied: The user denied this tool call."


class Answer(BaseModel):
    """The answer and how sure the model is."""

    value: int
    confidence: float


async def test_structured_output_is_declared_and_validated() -> None:
    backend = scripted([final('{"value": 4, "confidence": 0.9}')])
    result = await Agent(backend, output_type=Answer).run("2+2?")
    assert result.output == Answer(value=4, confidence=0.9)
    from agentoss.harmony import decode

    prompt = decode(backend.calls[0].prompt)
    assert "# Response Formats" in prompt and "## Answer" in prompt


async def test_invalid_structured_output_is_retried_with_the_error() -> None:
    backend = scripted([final('{"value": "four"}'), final('{"value": 4, "confidence": 1}')])
    result = await Agent(backend, output_type=Answer).run("2+2?")
    assert result.stop_reason == "final"
    assert result.output == Answer(value=4, confidence=1.0)
    from agentoss.harmony import decode

    retry_prompt = decode(backend.calls[1].prompt)
    assert "does not match the response format Answer" in retry_prompt and "confidence" in retry_prompt


async def test_structured_output_gives_up_after_the_retry_limit() -> None:
    agent = agent_with([final("not json")] * 5, output_type=Answer, limits=Limits(max_output_retries=1))
    result = await agent.run("go")
    assert result.stop_reason == "error"
    assert result.output is None and result.turns == 2


async def test_session_drops_reasoning_of_completed_turns() -> None:
    backend = scripted([final("first answer", analysis="SECRET-ONE"), final("second", analysis="SECRET-TWO")])
    session = Agent(backend).session()
    await session.send("one")
    second = await session.send("two")
    from agentoss.harmony import decode

    prompt = decode(backend.calls[1].prompt)
    assert "first answer" in prompt and "SECRET-ONE" not in prompt
    assert second.final_text == "second"
    assert len(session.results) == 2


async def test_transcript_has_one_flushed_record_per_event(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    agent = agent_with(
        [call("functions.read_page", '{"n": 3}'), final("ok")], tools=[read_page], transcript=path
    )
    seen_mid_run = []
    async for event in agent.stream("go"):
        if event.type == "tool_call.finished":
            seen_mid_run = [r["event"] for r in read_transcript(path)]
    await agent.aclose()
    assert seen_mid_run[-1] == "tool_call"  # already on disk before the run ended
    records = list(read_transcript(path))
    assert [r["event"] for r in records] == [
        "run_started",
        "request",
        "completion",
        "tool_call",
        "request",
        "completion",
        "run_finished",
    ]
    completion = records[2]
    assert completion["sampled"][-1] == 200012 and completion["finish_reason"] == "stop"
    assert completion["messages"][-1]["recipient"] == "functions.read_page"
    assert records[1]["prompt_tokens"] > 0
    assert records[3]["output"].startswith("page 3") and records[3]["duration_s"] >= 0
    assert records[-1]["stop_reason"] == "final" and records[-1]["usage"]["completion_tokens"] > 0


async def test_transcript_survives_cancellation(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    agent = agent_with([final("x " * 400)], transcript=path, backend_options={"delay": 0.02, "chunk_size": 1})
    task = asyncio.create_task(agent.run("go"))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    records = list(read_transcript(path))
    assert records[-1]["event"] == "run_finished" and records[-1]["stop_reason"] == "cancelled"
    assert json.loads(path.read_text().splitlines()[0])["task"] == "go"


def test_run_sync() -> None:
    result = agent_with([final("sync ok")]).run_sync("go")
    assert result.final_text == "sync ok"


async def test_a_failing_approval_hook_ends_the_run_as_run_error() -> None:
    def broken_hook(tool_call):  # type: ignore[no-untyped-def]
        raise KeyError("bug in the hook")

    agent = agent_with(
        [call("functions.read_page", '{"n": 1}'), final("ok")], tools=[read_page], approve=broken_hook
    )
    with pytest.raises(RunError) as info:
        await agent.run("go")
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.stop_reason == "error"


async def test_concurrent_runs_sharing_a_transcript_are_told_apart(tmp_path: Path) -> None:
    path = tmp_path / "shared.jsonl"
    agent = agent_with(Script.from_replies([final("ok")]), transcript=path)
    await asyncio.gather(agent.run("one"), agent.run("two"))
    await agent.aclose()
    runs: dict[str, list[str]] = {}
    for record in read_transcript(path):
        runs.setdefault(record["run"], []).append(record["event"])
    assert len(runs) == 2
    assert all(events == ["run_started", "request", "completion", "run_finished"] for events in runs.values())
