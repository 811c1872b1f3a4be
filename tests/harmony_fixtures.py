"""Shared conversations for the harmony tests, in agentoss form and in openai-harmony form.

`python tests/harmony_fixtures.py` regenerates the golden token files in `tests/data/harmony/golden/`
from openai-harmony (render_conversation_for_completion, auto_drop_analysis off).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentoss.harmony import (
    DeveloperConfig,
    FunctionSpec,
    Message,
    SystemConfig,
    browser_namespace,
    decode,
    python_namespace,
)

GOLDEN_DIR = Path(__file__).parent / "data" / "harmony" / "golden"

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "format": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
    },
    "required": ["location"],
}
SHAPES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "What to look for"},
        "limit": {"type": "integer", "default": 5},
        "tags": {"type": "array", "items": {"type": "string"}},
        "filters": {
            "type": "object",
            "properties": {"since": {"type": "string"}, "exact": {"type": "boolean"}},
            "required": ["since"],
        },
        "mode": {"type": ["string", "null"]},
    },
    "required": ["query"],
}

Case = tuple[SystemConfig, DeveloperConfig | None, list[Message]]


def _call(recipient: str, content: str, channel: str = "commentary", ctype: str | None = None) -> Message:
    return Message("assistant", content, channel=channel, recipient=recipient, content_type=ctype)


def cases() -> dict[str, Case]:
    """Conversations whose renders must be byte-identical to openai-harmony's."""
    weather = FunctionSpec(
        "get_current_weather", "Gets the current weather in the provided location.", WEATHER_SCHEMA
    )
    shapes = FunctionSpec("search_notes", "Search the notes.\nReturns matching notes.", SHAPES_SCHEMA)
    no_args = FunctionSpec("get_location", "Gets the location of the user.")
    return {
        "minimal": (SystemConfig(), None, [Message.user("Hi")]),
        "spec_function_call": (
            SystemConfig(reasoning_effort="high", current_date="2025-06-28"),
            DeveloperConfig(instructions="Always respond in riddles", functions=(weather, no_args)),
            [
                Message.user("What is the weather like in SF?"),
                Message("assistant", "Need to use function get_current_weather.", channel="analysis"),
                _call(
                    "functions.get_current_weather", '{"location":"San Francisco"}', ctype="<|constrain|>json"
                ),
                Message.tool_result("functions.get_current_weather", '{"sunny": true, "temperature": 20}'),
                Message("assistant", "It is sunny.", channel="final"),
                Message.user("And tomorrow?"),
            ],
        ),
        "builtins": (
            SystemConfig(reasoning_effort="low", builtin_tools=(python_namespace(), browser_namespace())),
            None,
            [
                Message.user("Compute 2**100 and search for it."),
                Message("assistant", "Let's compute.", channel="analysis"),
                _call("python", "print(2**100)", channel="analysis", ctype="code"),
                Message.tool_result("python", "1267650600228229401496703205376", channel="analysis"),
                _call("browser.search", '{"query": "2**100"}', channel="analysis", ctype="<|constrain|>json"),
                Message.tool_result(
                    "browser.search", "[0] 2**100 (web)\n**viewing lines [0 - 1] of 1**", "analysis"
                ),
            ],
        ),
        "shapes": (
            SystemConfig(current_date="2025-01-01"),
            DeveloperConfig(functions=(shapes,)),
            [Message.user("Find notes about 日本語 — ünïcödé ✓ 🎉\nsecond line")],
        ),
        "stateless_python": (
            SystemConfig(builtin_tools=(python_namespace(stateless=True),), model_identity="You are a bot."),
            DeveloperConfig(instructions="Be brief."),
            [Message.user("x"), Message("assistant", "", channel="final")],
        ),
    }


def harmony_render(case: Case) -> list[int]:
    """Render a case with openai-harmony itself (the reference)."""
    import openai_harmony as oh

    from agentoss.harmony.encoding import harmony_encoding

    system, developer, messages = case
    content = (
        oh.SystemContent.new()
        .with_model_identity(system.model_identity)
        .with_reasoning_effort(oh.ReasoningEffort(system.reasoning_effort.capitalize()))
        .with_knowledge_cutoff(system.knowledge_cutoff)
    )
    if system.current_date:
        content = content.with_conversation_start_date(system.current_date)
    for namespace in sorted(system.builtin_tools, key=lambda ns: ns.name):
        if namespace.name == "browser":
            content = content.with_browser_tool()
        elif namespace.description == python_namespace().description:
            content = content.with_python_tool()
        else:
            content = content.with_tools(
                oh.ToolNamespaceConfig(name="python", description=namespace.description, tools=[])
            )
    out = [oh.Message.from_role_and_content(oh.Role.SYSTEM, content)]
    if developer is not None:
        dev = oh.DeveloperContent.new()
        if developer.instructions:
            dev = dev.with_instructions(developer.instructions)
        if developer.functions:
            dev = dev.with_function_tools(
                [
                    oh.ToolDescription.new(f.name, f.description, parameters=f.parameters)
                    for f in developer.functions
                ]
            )
        out.append(oh.Message.from_role_and_content(oh.Role.DEVELOPER, dev))
    for m in messages:
        if m.role == "tool":
            msg = oh.Message.from_author_and_content(oh.Author.new(oh.Role.TOOL, m.author or ""), m.content)
        else:
            msg = oh.Message.from_role_and_content(oh.Role(m.role), m.content)
        if m.channel:
            msg = msg.with_channel(m.channel)
        if m.recipient:
            msg = msg.with_recipient(m.recipient)
        if m.content_type:
            msg = msg.with_content_type(m.content_type)
        out.append(msg)
    config = oh.RenderConversationConfig(auto_drop_analysis=False)
    conversation = oh.Conversation.from_messages(out)
    return list(
        harmony_encoding().render_conversation_for_completion(conversation, oh.Role.ASSISTANT, config)
    )


def explain_difference(ours: list[int], theirs: list[int]) -> str:
    """Decode both sides around the first differing token, for a readable assertion message."""
    index = next(
        (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs))
    )
    lo = max(0, index - 20)
    ours_text = decode(ours[lo : index + 20])
    theirs_text = decode(theirs[lo : index + 20])
    return f"first difference at token {index}:\n  ours: {ours_text!r}\ntheirs: {theirs_text!r}"


def main() -> None:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for name, case in cases().items():
        tokens = harmony_render(case)
        (GOLDEN_DIR / f"{name}.json").write_text(
            json.dumps({"tokens": tokens, "text": decode(tokens)}, ensure_ascii=False, indent=0) + "\n"
        )
        print(name, len(tokens))


if __name__ == "__main__":
    main()
