"""Scripts (rule choice, step counting, JSON form) and the ScriptedBackend's Backend contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentoss.backends.base import Backend, Chunk, FinishReason, SamplingParams
from agentoss.backends.scripted import ScriptedBackend
from agentoss.errors import ConfigurationError, ContextLengthError
from agentoss.harmony.encoding import decode, encode_special
from agentoss.testing.script import Script, count_tool_steps

CALL = (
    "<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>commentary "
    'to=functions.f <|constrain|>json<|message|>{"a":1}<|call|>'
)
FINAL = "<|channel|>final<|message|>done<|return|>"
USER = "<|start|>user<|message|>hello<|end|><|start|>assistant"
TOOL_RESULT = (
    '<|start|>assistant to=functions.f<|channel|>commentary <|constrain|>json<|message|>{"a":1}<|call|>'
    '<|start|>functions.f to=assistant<|channel|>commentary<|message|>{"ok":true}<|end|>'
)


def prompt(text: str) -> list[int]:
    return encode_special(text)


async def collect(backend: Backend, ids: list[int], max_tokens: int = 1000) -> list[Chunk]:
    return [chunk async for chunk in backend.stream(ids, SamplingParams(max_tokens=max_tokens))]


def test_step_counts_tool_results_after_last_user_message() -> None:
    assert count_tool_steps(USER) == 0
    assert count_tool_steps(USER + TOOL_RESULT + "<|start|>assistant") == 1
    two = USER + TOOL_RESULT + TOOL_RESULT + "<|start|>assistant"
    assert count_tool_steps(two) == 2
    assert count_tool_steps(two + "<|start|>user<|message|>again<|end|><|start|>assistant") == 0


def test_from_replies_chooses_by_step() -> None:
    script = Script.from_replies([CALL, FINAL])
    assert script.choose(prompt(USER)) == encode_special(CALL)
    assert script.choose(prompt(USER + TOOL_RESULT + "<|start|>assistant")) == encode_special(FINAL)


def test_first_matching_rule_wins_and_when_is_a_regex(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    rules = [
        {"when": r"weather in \w+", "reply": "<|channel|>final<|message|>sunny<|return|>"},
        {"reply": [200005, 17196, 200008, 3686, 200002]},
    ]
    path.write_text(json.dumps(rules))
    script = Script.load(path)
    asked = prompt("<|start|>user<|message|>what is the weather in Paris<|end|><|start|>assistant")
    assert decode(script.choose(asked)) == "<|channel|>final<|message|>sunny<|return|>"
    assert script.choose(prompt(USER)) == [200005, 17196, 200008, 3686, 200002]


def test_text_reply_without_stop_token_gets_return_appended() -> None:
    script = Script.from_replies(["<|channel|>final<|message|>hi"])
    assert script.choose(prompt(USER))[-1] == 200002


def test_unmatched_prompt_gets_a_final_message_not_an_exception() -> None:
    reply = decode(Script.from_replies([FINAL]).choose(prompt(USER + TOOL_RESULT + "<|start|>assistant")))
    assert reply.startswith("<|channel|>final<|message|>")
    assert "no script rule matches" in reply and reply.endswith("<|return|>")


@pytest.mark.parametrize(
    "rules",
    [
        {"reply": "x"},
        [{"when": "x"}],
        [{"reply": "x", "bogus": 1}],
        [{"reply": "x", "step": -1}],
        [{"reply": 3}],
    ],
)
def test_invalid_scripts_are_configuration_errors(rules: object) -> None:
    with pytest.raises(ConfigurationError):
        Script.from_json(rules)


def test_invalid_regex_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="regex"):
        Script.from_json([{"reply": "x", "when": "("}])


async def test_scripted_backend_replays_one_reply_per_call_in_chunks() -> None:
    backend = ScriptedBackend([CALL, FINAL], chunk_size=3)
    assert isinstance(backend, Backend)
    first = await collect(backend, prompt(USER))
    assert [t for c in first for t in c.token_ids] == encode_special(CALL)
    assert all(len(c.token_ids) <= 3 for c in first) and len(first) > 1
    assert [c.finish_reason for c in first[:-1]] == [None] * (len(first) - 1)
    assert first[-1].finish_reason is FinishReason.STOP and first[-1].stop_token == 200012
    assert first[-1].usage is not None and first[-1].usage.completion_tokens == len(encode_special(CALL))
    second = await collect(backend, prompt(USER))
    assert decode([t for c in second for t in c.token_ids]) == "<|channel|>final<|message|>done<|return|>"
    third = await collect(backend, prompt(USER))
    assert "no reply for call 3" in decode([t for c in third for t in c.token_ids])
    assert [call.prompt for call in backend.calls] == [tuple(prompt(USER))] * 3


async def test_scripted_backend_cuts_at_max_tokens_and_context_window() -> None:
    backend = ScriptedBackend([FINAL, FINAL], context_window=len(prompt(USER)) + 2)
    chunks = await collect(backend, prompt(USER))
    assert [t for c in chunks for t in c.token_ids] == encode_special(FINAL)[:2]
    assert chunks[-1].finish_reason is FinishReason.LENGTH and chunks[-1].stop_token is None
    with pytest.raises(ContextLengthError) as info:
        await collect(backend, prompt(USER + USER))
    assert info.value.max_model_len == len(prompt(USER)) + 2


async def test_scripted_backend_stops_at_first_stop_token_and_takes_a_function() -> None:
    seen: list[list[int]] = []

    def reply(ids: list[int]) -> str:
        seen.append(ids)
        return CALL + "<|start|>assistant<|channel|>final<|message|>never<|return|>"

    chunks = await collect(ScriptedBackend(reply), prompt(USER))
    assert [t for c in chunks for t in c.token_ids] == encode_special(CALL)
    assert seen == [prompt(USER)]


async def test_scripted_backend_with_script_uses_rules() -> None:
    backend = ScriptedBackend(Script.from_replies([CALL, FINAL]))
    after_tool = prompt(USER + TOOL_RESULT + "<|start|>assistant")
    chunks = await collect(backend, after_tool)
    assert chunks[-1].stop_token == 200002


def test_scripted_backend_rejects_a_bare_token_list() -> None:
    with pytest.raises(ConfigurationError):
        ScriptedBackend([1, 2, 3])  # type: ignore[list-item]


def test_package_faces_export_what_they_list() -> None:
    import agentoss.backends
    import agentoss.testing

    for module in (agentoss.backends, agentoss.testing):
        for name in module.__all__:
            assert getattr(module, name) is not None, name
    assert agentoss.testing.FakeVLLMServer.__name__ == "FakeVLLMServer"
