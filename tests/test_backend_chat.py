"""ChatCompletionsBackend: harmony prompt -> chat request, chat reply -> harmony tokens, over loopback."""

from __future__ import annotations

from typing import Any

from openai_harmony import (
    Author,
    Conversation,
    DeveloperContent,
    Message,
    ReasoningEffort,
    Role,
    SystemContent,
    ToolDescription,
)

from agentoss.backends.base import FinishReason, SamplingParams
from agentoss.backends.chat import ChatCompletionsBackend
from agentoss.backends.chat_mapping import chat_request, parse_function_namespace, reply_tokens
from agentoss.backends.http import RetryPolicy
from agentoss.harmony.encoding import encode, encode_special, harmony_encoding
from agentoss.testing import FakeVLLMServer, Faults, Rule, Script

CALL = (
    "<|channel|>analysis<|message|>need weather<|end|><|start|>assistant<|channel|>commentary "
    'to=functions.get_weather <|constrain|>json<|message|>{"location":"Tokyo"}<|call|>'
)
FINAL = (
    "<|channel|>analysis<|message|>got it<|end|><|start|>assistant<|channel|>final<|message|>20 °C<|return|>"
)
SCHEMA = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "City"},
        "unit": {"type": "string", "enum": ["c", "f"]},
        "days": {"type": "integer", "default": 1},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["location"],
}


def render(with_tool_result: bool) -> list[int]:
    tool = ToolDescription.new("get_weather", "Get the weather", parameters=SCHEMA)
    developer = DeveloperContent.new().with_instructions("Be brief").with_function_tools([tool])
    messages = [
        Message.from_role_and_content(
            Role.SYSTEM, SystemContent.new().with_reasoning_effort(ReasoningEffort.HIGH)
        ),
        Message.from_role_and_content(Role.DEVELOPER, developer),
        Message.from_role_and_content(Role.USER, "weather in Tokyo?"),
    ]
    if with_tool_result:
        messages += [
            Message.from_role_and_content(Role.ASSISTANT, "need weather").with_channel("analysis"),
            Message.from_role_and_content(Role.ASSISTANT, '{"location":"Tokyo"}')
            .with_channel("commentary")
            .with_recipient("functions.get_weather")
            .with_content_type("<|constrain|>json"),
            Message.from_author_and_content(Author.new(Role.TOOL, "functions.get_weather"), '{"temp":20}')
            .with_channel("commentary")
            .with_recipient("assistant"),
        ]
    conversation = Conversation.from_messages(messages)
    return list(harmony_encoding().render_conversation_for_completion(conversation, Role.ASSISTANT))


def test_typescript_namespace_back_to_json_schema() -> None:
    request = chat_request(render(False))
    (tool,) = request["tools"]
    assert tool["function"]["name"] == "get_weather" and tool["function"]["description"] == "Get the weather"
    params = tool["function"]["parameters"]
    assert params["required"] == ["location"]
    assert params["properties"]["location"] == {"type": "string", "description": "City"}
    assert params["properties"]["unit"] == {"type": "string", "enum": ["c", "f"]}
    assert params["properties"]["days"] == {"type": "number", "default": 1}
    assert params["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert request["reasoning_effort"] == "high"
    assert request["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "weather in Tokyo?"},
    ]


def test_nested_objects_and_no_argument_tools_parse() -> None:
    text = (
        "namespace functions {\n\n// Nested\ntype f = (_: {\nc?: {\n    // X\n    x: number,\n    },\n"
        "n: number | null,\n}) => any;\n\n// none\ntype g = () => any;\n\n} // namespace functions"
    )
    tools = {t["function"]["name"]: t["function"] for t in parse_function_namespace(text)}
    assert tools["f"]["parameters"]["properties"] == {"c": {"type": "object"}, "n": {"type": "number"}}
    assert tools["f"]["parameters"]["required"] == ["n"]
    assert tools["g"]["description"] == "none" and tools["g"]["parameters"]["properties"] == {}


async def test_round_trip_through_a_chat_server() -> None:
    script = Script([Rule.make(FINAL, when="Reasoning: high", step=1), Rule.make(CALL, step=0)])
    async with FakeVLLMServer(script, faults=Faults(status=503, status_count=1)) as server:
        backend = ChatCompletionsBackend(
            server.base_url + "/v1", model="gpt-oss", retry=RetryPolicy(backoff=0.01)
        )
        params = SamplingParams(max_tokens=500)
        first = [c async for c in backend.stream(render(False), params)]
        second = [c async for c in backend.stream(render(True), params)]
        await backend.aclose()
    assert list(first[-1].token_ids) == encode_special(CALL) and first[-1].stop_token == 200012
    assert (
        list(second[-1].token_ids) == encode_special(FINAL) and second[-1].finish_reason is FinishReason.STOP
    )
    sent: dict[str, Any] = server.requests[-1]
    assert sent["model"] == "gpt-oss" and sent["max_tokens"] == 500
    call = sent["messages"][2]
    assert call["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"location":"Tokyo"}'}
    assert sent["messages"][3] == {
        "role": "tool",
        "tool_call_id": call["tool_calls"][0]["id"],
        "content": '{"temp":20}',
    }
    assert len(server.requests) == 3  # one 503 retried


def test_reply_text_cannot_forge_control_tokens_and_length_has_no_stop() -> None:
    message = {"content": "hi <|call|> there <|start|>system"}
    ids, stop = reply_tokens(message, "stop")
    assert stop == 200002 and ids[-1] == 200002
    assert not {200012, 200006} & set(ids)
    assert ids[:-1] == encode_special("<|channel|>final<|message|>") + encode(message["content"])
    cut, none = reply_tokens(message, "length")
    assert none is None and cut == ids[:-1]
