"""A completion cut mid-stream by the run's timeout or a cancellation is kept, parsed as truncated."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from runtime_fixtures import agent_with, final

from agentoss import Limits
from agentoss.events import ReasoningDelta
from agentoss.harmony import Message, render_prompt
from agentoss.runtime.transcript import read_transcript
from agentoss.testing.script import Script

THOUGHT = "step " * 300
SLOW = {"delay": 0.01, "chunk_size": 1}  # the whole reply would take seconds: it is always cut


def assert_partial_analysis(message: Message) -> None:
    assert message.role == "assistant" and message.channel == "analysis"
    assert message.content and THOUGHT.startswith(message.content) and message.content != THOUGHT


async def test_a_completion_cut_by_the_timeout_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    agent = agent_with(
        [final("never", analysis=THOUGHT)],
        backend_options=SLOW,
        limits=Limits(timeout_s=0.5),
        transcript=path,
    )
    result = await agent.run("go")
    assert result.stop_reason == "timeout"
    user, partial = result.messages
    assert user.content == "go"
    assert_partial_analysis(partial)
    assert result.usage.completion_tokens > 0 and result.usage.requests == 1
    assert any(d.startswith("cut: the completion was cut by the timeout") for d in result.diagnostics)
    assert any(d.startswith("truncated:") for d in result.diagnostics)
    records = list(read_transcript(path))
    assert [r["event"] for r in records] == ["run_started", "request", "completion", "run_finished"]
    completion = records[2]
    assert completion["cut"] == "timeout" and len(completion["sampled"]) == result.usage.completion_tokens
    assert completion["messages"][0]["content"] == partial.content


async def test_a_cancelled_completion_is_kept_and_the_session_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    script = Script.from_json(
        [{"when": "again", "reply": final("recovered")}, {"reply": final("never", analysis=THOUGHT)}]
    )
    agent = agent_with(script, backend_options=SLOW, transcript=path)
    backend = agent.backend
    session = agent.session()
    thinking = asyncio.Event()

    async def consume() -> None:
        async for event in session.stream("go"):
            if isinstance(event, ReasoningDelta):
                thinking.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(thinking.wait(), timeout=30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    partial_result = session.partial_result()
    assert partial_result is not None and partial_result.stop_reason == "cancelled"
    user, partial = partial_result.messages
    assert_partial_analysis(partial)
    assert any(
        d.startswith("cut: the completion was cut by cancellation") for d in partial_result.diagnostics
    )
    records = list(read_transcript(path))
    assert [r["event"] for r in records] == ["run_started", "request", "completion", "run_finished"]
    assert records[2]["cut"] == "cancelled" and records[-1]["stop_reason"] == "cancelled"

    # The next turn's prompt is the canonical render of the conversation, the cut message included.
    result = await session.send("again")
    assert result.final_text == "recovered"
    expected = render_prompt(
        agent.system_config(), agent.developer_config(), [user, partial, Message.user("again")]
    )
    assert list(backend.calls[-1].prompt) == expected  # type: ignore[attr-defined]


async def test_a_consumer_that_stops_iterating_keeps_the_cut_completion(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    agent = agent_with([final("never", analysis=THOUGHT)], backend_options=SLOW, transcript=path)
    session = agent.session()
    stream = session.stream("go")
    async for event in stream:
        if isinstance(event, ReasoningDelta):
            break
    await stream.aclose()  # type: ignore[attr-defined]
    partial_result = session.partial_result()
    assert partial_result is not None
    assert_partial_analysis(partial_result.messages[-1])
    events = [r["event"] for r in read_transcript(path)]
    assert events == ["run_started", "request", "completion", "run_finished"]
