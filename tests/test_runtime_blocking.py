"""Blocking user code stays off the event loop and within its limits; window cuts elide before giving up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runtime_fixtures import agent_with, call, final, scripted

from agentoss import Agent, FunctionTool, Limits, ToolCall, function_tool
from agentoss.harmony import FunctionSpec
from agentoss.runtime.context import ELISION_MARKER
from agentoss.runtime.limits import format_seconds
from agentoss.runtime.threads import DaemonThreadExecutor
from agentoss.runtime.transcript import read_transcript
from agentoss.testing.script import Script

NAP_SPEC = FunctionSpec(name="nap", description="Block.", parameters={"type": "object", "properties": {}})


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown so a blocked worker thread always ends."""
    event = threading.Event()
    yield event
    event.set()


async def test_a_sync_json_schema_handler_runs_off_the_loop_and_times_out(release: threading.Event) -> None:
    seen: list[threading.Thread] = []

    def handler(arguments: dict[str, Any]) -> str:
        seen.append(threading.current_thread())
        release.wait(10)  # blocks until teardown (on the loop, it would block the timeout too)
        return "woke up"

    agent = agent_with(
        [call("functions.nap", "{}"), final("ok")],
        tools=[FunctionTool(NAP_SPEC, handler)],
        limits=Limits(tool_timeout_s=0.2),
    )
    result = await agent.run("go")
    assert seen and seen[0] is not threading.main_thread()
    assert result.tool_calls[0].is_error
    assert result.tool_calls[0].output == "Tool call timed out after 0.2 s."
    assert result.final_text == "ok"


async def test_sync_approval_hooks_run_off_the_loop() -> None:
    threads: list[threading.Thread] = []

    def approve(tool_call: ToolCall) -> bool:
        threads.append(threading.current_thread())
        return True

    @function_tool
    def ping() -> str:
        """Ping."""
        return "pong"

    agent = agent_with([call("functions.ping", "{}"), final("ok")], tools=[ping], approve=approve)
    result = await agent.run("go")
    assert result.tool_calls[0].output == "pong"
    assert threads and threads[0] is not threading.main_thread()


async def test_the_approval_wait_ends_at_the_run_deadline() -> None:
    ran: list[int] = []

    async def never_answers(tool_call: ToolCall) -> bool:
        await asyncio.Event().wait()
        return True

    @function_tool
    def ping() -> str:
        """Ping."""
        ran.append(1)
        return "pong"

    agent = agent_with(
        [call("functions.ping", "{}"), final("ok")],
        tools=[ping],
        approve=never_answers,
        limits=Limits(timeout_s=0.3),
    )
    result = await asyncio.wait_for(agent.run("go"), timeout=20)  # liveness guard, not a timing check
    assert result.stop_reason == "timeout" and ran == []
    assert "time limit" in result.tool_calls[0].output and result.tool_calls[0].is_error
    assert "timeout: the run's limit of 0.3 s was reached" in result.diagnostics


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0.999806, 2.5, 0.05, 12.345, 180.0, 1234.5)] == [
        "1",
        "2.5",
        "0.05",
        "12.3",
        "180",
        "1234",
    ]


def test_daemon_executor_shutdown_cancels_queued_calls_without_waiting() -> None:
    executor = DaemonThreadExecutor(max_workers=1)
    started, gate = threading.Event(), threading.Event()

    def stuck() -> bool:
        started.set()
        return gate.wait(10)

    running = executor.submit(stuck)
    assert started.wait(10)
    queued = executor.submit(lambda: "never")
    executor.shutdown(wait=True, cancel_futures=True)  # must return although a call is stuck
    assert queued.cancelled() and not running.done()
    with pytest.raises(RuntimeError):
        executor.submit(lambda: None)
    gate.set()
    assert running.result(timeout=10) is True


@function_tool
def big() -> str:
    """A large output."""
    return "alpha beta " * 500


LONG_ANSWER = (
    "<|channel|>analysis<|message|>"
    + "think " * 1500
    + "<|end|><|start|>assistant<|channel|>final<|message|>done<|return|>"
)


async def test_a_window_cut_elides_old_tool_outputs_and_samples_again(tmp_path: Path) -> None:
    script = Script.from_replies([call("functions.big", "{}")] * 3 + [LONG_ANSWER])
    backend = scripted(script, context_window=4500)
    agent = Agent(backend, tools=[big], transcript=tmp_path / "run.jsonl")
    result = await agent.run("go")
    assert result.stop_reason == "final" and result.final_text == "done", result.diagnostics
    assert any(d.startswith("context_cut:") for d in result.diagnostics)
    tool_messages = [m for m in result.messages if m.role == "tool"]
    assert tool_messages[0].content.startswith(ELISION_MARKER)
    assert all(len(c.prompt) + c.params.max_tokens <= 4500 for c in backend.calls)
    # The cut completion was discarded, not appended: the conversation holds one copy of the answer.
    assert sum(m.channel == "final" for m in result.messages) == 1
    records = list(read_transcript(tmp_path / "run.jsonl"))
    assert [r.get("discarded") for r in records if r["event"] == "completion"].count("context_window") == 1
    assert result.usage.completion_tokens == sum(
        len(r["sampled"]) for r in records if r["event"] == "completion"
    )


async def test_a_window_cut_with_nothing_to_elide_stops_with_context_length() -> None:
    backend = scripted([LONG_ANSWER], context_window=1200)
    result = await Agent(backend).run("go")
    assert result.stop_reason == "context_length"
    assert len(backend.calls) == 1


REC_SPEC = FunctionSpec(
    name="store",
    description="Store counts.",
    parameters={
        "type": "object",
        "properties": {"rec": {"type": "object", "additionalProperties": {"type": "integer"}}},
    },
)


async def test_schema_warnings_are_reported_not_dropped(tmp_path: Path) -> None:
    tool = FunctionTool(REC_SPEC, lambda arguments: "ok")
    agent = Agent(scripted([final("ok")]), tools=[tool], transcript=tmp_path / "run.jsonl")
    assert agent.schema_warnings == (
        "functions.store: $.rec: additionalProperties shown only in the description",
    )
    result = await agent.run("go")
    assert f"schema: {agent.schema_warnings[0]}" in result.diagnostics
    (started,) = [r for r in read_transcript(tmp_path / "run.jsonl") if r["event"] == "run_started"]
    assert started["schema_warnings"] == list(agent.schema_warnings)
    assert Agent(scripted([final("ok")])).schema_warnings == ()
