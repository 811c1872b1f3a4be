"""Every malformed-output pattern of REFERENCE.md reaches a correct tool call or answer through the loop."""

from __future__ import annotations

import pytest
from runtime_fixtures import EchoPython, agent_with, final

from agentoss import Limits, function_tool


@function_tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value-of-{key}"


ARGS = '<|message|>{"key":"k"}<|call|>'
CALLS = {
    "recipient_in_role": "<|start|>assistant to=functions.lookup<|channel|>commentary <|constrain|>json"
    + ARGS,
    "recipient_after_channel": "<|channel|>commentary to=functions.lookup <|constrain|>json" + ARGS,
    "plain_json_content_type": "<|channel|>commentary to=functions.lookup json" + ARGS,
    "glued_json": "<|channel|>commentary to=functions.lookupjson" + ARGS,
    "leading_start_assistant": "<|start|>assistant<|channel|>commentary to=functions.lookup <|constrain|>json"
    + ARGS,
    "text_after_end": (
        "<|channel|>analysis<|message|>think<|end|>commentary<|start|>assistant"
        "<|channel|>commentary to=functions.lookup <|constrain|>json" + ARGS
    ),
    "function_on_analysis": "<|channel|>analysis to=functions.lookup <|constrain|>json" + ARGS,
    "doubled_channel": "<|channel|><|channel|>commentary to=functions.lookup <|constrain|>json" + ARGS,
}


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_malformed_tool_calls_are_dispatched(name: str) -> None:
    agent = agent_with([CALLS[name], final("done")], tools=[lookup])
    result = await agent.run("go")
    assert result.stop_reason == "final", result.diagnostics
    (record,) = result.tool_calls
    assert record.recipient == "functions.lookup"
    assert record.output == "value-of-k"


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ('<|channel|>final <|constrain|>json<|message|>{"a": 1}<|return|>', '{"a": 1}'),
        ("<|channel|>final The answer is 4.<|return|>", "The answer is 4."),
        ("<|channel|>?<|message|>hello<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>", "4"),
        ("<|start|>assistant<|channel|>final<|message|>4<|return|>", "4"),
    ],
    ids=["constrain_on_final", "missing_message_token", "junk_channel", "leading_start_final"],
)
async def test_malformed_finals_are_answers(reply: str, answer: str) -> None:
    result = await agent_with([reply]).run("go")
    assert result.stop_reason == "final"
    assert result.final_text == answer


async def test_builtin_addressed_as_function_is_routed_to_the_builtin() -> None:
    python = EchoPython()
    reply = "<|channel|>analysis to=functions.python code<|message|>print(2)<|call|>"
    result = await agent_with([reply, final("2")], tools=[python]).run("go")
    assert [c.recipient for c in result.tool_calls] == ["python"]
    assert python.calls[0].arguments == "print(2)"


async def test_commentary_answer_without_function_tools_is_taken_as_final() -> None:
    result = await agent_with(["<|channel|>commentary<|message|>It is 4.<|return|>"]).run("go")
    assert result.stop_reason == "final"
    assert result.final_text == "It is 4."


async def test_output_cut_inside_a_header_stops_with_max_tokens() -> None:
    reply = (
        "<|channel|>analysis<|message|>"
        + "think " * 40
        + "<|end|><|start|>assistant<|channel|>commentary to=functions.lookup <|constrain|>json"
        + ARGS
    )
    agent = agent_with([reply], tools=[lookup], limits=Limits(max_output_tokens_per_call=44))
    result = await agent.run("go")
    assert result.stop_reason == "max_tokens"
    assert result.tool_calls == []


async def test_call_cut_inside_its_arguments_is_not_dispatched() -> None:
    reply = (
        '<|channel|>commentary to=functions.lookup <|constrain|>json<|message|>{"key": "'
        + "k" * 200
        + '"}<|call|>'
    )
    agent = agent_with([reply], tools=[lookup], limits=Limits(max_output_tokens_per_call=20))
    result = await agent.run("go")
    assert result.stop_reason == "max_tokens"
    assert result.tool_calls == []


async def test_unknown_recipient_never_crashes_the_loop() -> None:
    reply = "<|channel|>commentary to=functions.get-weather <|constrain|>json<|message|>{}<|call|>"
    result = await agent_with([reply, final("sorry")], tools=[lookup]).run("go")
    assert result.stop_reason == "final"
    assert result.tool_calls[0].is_error
    assert "Available tools: functions.lookup" in result.tool_calls[0].output
