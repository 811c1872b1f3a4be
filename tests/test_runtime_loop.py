"""The agent loop over a scripted backend: steps, dispatch errors the model reads, limits, stop reasons."""

from __future__ import annotations

import asyncio

import pytest
from runtime_fixtures import EchoPython, agent_with, call, final, scripted, think

from agentoss import Agent, Limits, RunError, ToolError, function_tool
from agentoss.errors import SandboxError
from agentoss.events import RunFinished, ToolCallFinished
from agentoss.testing.script import Script


@function_tool
def get_weather(location: str, unit: str = "celsius") -> str:
    """Weather for a city.

    Args:
        location: City name.
        unit: celsius or fahrenheit.
    """
    return f"{location}: 21 {unit}"


async def test_multi_step_episode_with_function_and_builtin_tools() -> None:
    python = EchoPython()
    agent = agent_with(
        [
            call("functions.get_weather", '{"location": "Tokyo"}'),
            call("python", "print(1+1)", channel="analysis"),
            final("Tokyo is 21 celsius and 1+1=2."),
        ],
        tools=[get_weather, python],
    )
    result = await agent.run("weather?")
    assert result.stop_reason == "final"
    assert result.final_text == "Tokyo is 21 celsius and 1+1=2."
    assert result.turns == 3
    assert [(c.recipient, c.output, c.is_error) for c in result.tool_calls] == [
        ("functions.get_weather", "Tokyo: 21 celsius", False),
        ("python", "ran: print(1+1)", False),
    ]
    tool_messages = [m for m in result.messages if m.role == "tool"]
    assert [(m.author, m.channel) for m in tool_messages] == [
        ("functions.get_weather", "commentary"),
        ("python", "analysis"),
    ]
    assert result.usage.completion_tokens > 0 and result.usage.prompt_tokens > 0


async def test_each_step_sends_the_previous_prompt_as_a_prefix() -> None:
    backend = scripted([call("functions.get_weather", '{"location": "Oslo"}'), final("ok")])
    await Agent(backend, tools=[get_weather]).run("go")
    first, second = backend.calls
    assert second.prompt[: len(first.prompt)] == first.prompt
    assert len(second.prompt) > len(first.prompt) + len(first.reply) - 1


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (call("functions.nope", "{}"), "Unknown tool 'functions.nope'"),
        (call("functions.get_weather", '{"location": '), "Invalid JSON arguments"),
        (call("functions.get_weather", '{"city": "x"}'), "Invalid arguments for get_weather"),
        (call("functions.get_weather", '["Tokyo"]'), "must be a JSON object"),
    ],
)
async def test_dispatch_errors_become_tool_messages_and_the_model_recovers(reply: str, expected: str) -> None:
    agent = agent_with([reply, final("recovered")], tools=[get_weather])
    result = await agent.run("go")
    assert result.stop_reason == "final"
    assert result.final_text == "recovered"
    (record,) = result.tool_calls
    assert record.is_error and expected in record.output
    assert any(m.role == "tool" and expected in m.content for m in result.messages)


async def test_tool_exception_and_tool_error_are_shown_to_the_model() -> None:
    @function_tool
    def explode() -> str:
        """Always fails."""
        raise ValueError("kaboom")

    @function_tool
    async def refuse() -> str:
        """Raises a model-visible error."""
        raise ToolError("not allowed here")

    agent = agent_with(
        [call("functions.explode", "{}"), call("functions.refuse", "{}"), final("ok")],
        tools=[explode, refuse],
    )
    result = await agent.run("go")
    assert [c.output for c in result.tool_calls] == ["Tool error: ValueError: kaboom", "not allowed here"]
    assert all(c.is_error for c in result.tool_calls)


async def test_tool_timeout_is_shown_to_the_model() -> None:
    @function_tool
    async def slow() -> str:
        """Sleeps."""
        await asyncio.sleep(30)
        return "never"

    agent = agent_with(
        [call("functions.slow", "{}"), final("ok")], tools=[slow], limits=Limits(tool_timeout_s=0.05)
    )
    result = await agent.run("go")
    assert result.stop_reason == "final"
    assert result.tool_calls[0].output == "Tool call timed out after 0.05 s."


async def test_aliases_reach_builtins_and_functions() -> None:
    python = EchoPython()
    agent = agent_with(
        [call("functions.python", "print(3)"), call("get_weather", '{"location": "Rome"}'), final("ok")],
        tools=[python, get_weather],
    )
    result = await agent.run("go")
    assert [(c.recipient, c.is_error) for c in result.tool_calls] == [
        ("python", False),
        ("functions.get_weather", False),
    ]
    assert python.calls[0].arguments == "print(3)"


async def test_agentoss_error_from_a_tool_ends_the_run_with_the_transcript() -> None:
    @function_tool
    def broken() -> str:
        """Its sandbox is gone."""
        raise SandboxError("the container vanished")

    agent = agent_with([call("functions.broken", "{}"), final("never")], tools=[broken])
    events = []
    with pytest.raises(RunError) as info:
        async for event in agent.stream("go"):
            events.append(event)
    assert isinstance(info.value.__cause__, SandboxError)
    assert any(m.recipient == "functions.broken" for m in info.value.transcript)
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.run_result.stop_reason == "error"
    assert "the container vanished" in (finished.run_result.error or "")


async def test_max_turns_stops_a_model_that_never_answers() -> None:
    script = Script.from_replies([call("functions.get_weather", '{"location": "A"}')] * 10)
    agent = agent_with(script, tools=[get_weather], limits=Limits(max_turns=3))
    result = await agent.run("go")
    assert result.stop_reason == "max_turns"
    assert result.turns == 3 and len(result.tool_calls) == 3
    assert result.final_text is None


async def test_analysis_only_completions_are_resampled_until_max_turns() -> None:
    agent = agent_with(
        [think("hmm") + "<|channel|>analysis<|message|>still thinking<|return|>"] * 5,
        limits=Limits(max_turns=2),
    )
    result = await agent.run("go")
    assert result.stop_reason == "max_turns"
    assert any(d.startswith("no_final") for d in result.diagnostics)


async def test_max_tool_calls_refuses_further_calls_with_a_message() -> None:
    script = Script.from_replies([call("functions.get_weather", '{"location": "A"}')] * 3 + [final("fine")])
    agent = agent_with(script, tools=[get_weather], limits=Limits(max_tool_calls=2))
    result = await agent.run("go")
    assert result.stop_reason == "final"
    assert [c.is_error for c in result.tool_calls] == [False, False, True]
    assert "Tool call limit reached (2)" in result.tool_calls[2].output


async def test_max_output_tokens_per_run() -> None:
    long_final = final("word " * 200)
    agent = agent_with([long_final], limits=Limits(max_output_tokens=50))
    result = await agent.run("go")
    assert result.stop_reason == "max_tokens"
    assert result.usage.completion_tokens == 50
    assert result.final_text is not None and result.final_text.startswith("word")


async def test_wall_clock_timeout() -> None:
    agent = agent_with(
        [final("x " * 500)], backend_options={"delay": 0.05, "chunk_size": 1}, limits=Limits(timeout_s=0.2)
    )
    result = await agent.run("go")
    assert result.stop_reason == "timeout"
    assert result.final_text is None


async def test_cancellation_is_clean_and_reported() -> None:
    agent = agent_with([final("x " * 500)], backend_options={"delay": 0.05, "chunk_size": 1})
    session = agent.session()
    task = asyncio.create_task(session.send("go"))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    partial = session.partial_result()
    assert partial is not None and partial.stop_reason == "cancelled" and partial.turns == 1


async def test_tool_events_precede_the_finish() -> None:
    agent = agent_with(
        [call("functions.get_weather", '{"location": "Oslo"}'), final("ok")], tools=[get_weather]
    )
    kinds = [event.type async for event in agent.stream("go")]
    assert (
        kinds.index("tool_call.started") < kinds.index("tool_call.finished") < kinds.index("final_text.delta")
    )
    assert kinds[-1] == "run.finished" and kinds.count("step.started") == 2


async def test_reasoning_and_final_deltas_are_separated() -> None:
    agent = agent_with([final("The answer.", analysis="secret chain of thought")])
    reasoning, answer = [], []
    async for event in agent.stream("go"):
        if event.type == "reasoning.delta":
            reasoning.append(event.text)
        elif event.type == "final_text.delta":
            answer.append(event.text)
    assert "".join(reasoning) == "secret chain of thought"
    assert "".join(answer) == "The answer."


async def test_tool_output_is_capped_before_the_model_reads_it() -> None:
    @function_tool
    def flood() -> str:
        """Returns a lot."""
        return "A" * 100_000

    agent = agent_with(
        [call("functions.flood", "{}"), final("ok")], tools=[flood], limits=Limits(max_tool_output_chars=1000)
    )
    result = await agent.run("go")
    output = result.tool_calls[0].output
    assert len(output) < 1100 and "characters omitted" in output


async def test_tool_finished_event_carries_the_error_flag() -> None:
    agent = agent_with([call("functions.missing", "{}"), final("ok")], tools=[get_weather])
    finished = [e async for e in agent.stream("go") if isinstance(e, ToolCallFinished)]
    assert finished[0].is_error and "functions.get_weather" in finished[0].output


async def test_python_tool_state_persists_across_steps_in_the_fake_sandbox() -> None:
    from agentoss.sandboxes.fake import FakeSandbox
    from agentoss.tools.python import PythonTool

    sandbox = FakeSandbox()
    python = PythonTool(sandbox)
    agent = agent_with(
        [
            call("python", "x = 6 * 7", channel="analysis"),
            call("python", "print(x)", channel="analysis"),
            final("42"),
        ],
        tools=[python],
    )
    result = await agent.run("compute")
    await agent.aclose()
    assert sandbox.executed == ["x = 6 * 7", "print(x)"]
    assert result.tool_calls[1].output.strip() == "42"
    assert result.final_text == "42"
