"""Render harmony messages to prompt tokens, byte-identical to openai-harmony's canonical rendering.

System and developer messages (small, trusted, rendered once per conversation) go through
openai-harmony itself, after JSON Schemas were normalised (`agentoss.harmony.schema`); the
`# Response Formats` section, which openai-harmony has no API for, is appended to the developer text.
Every other message is rendered here in pure Python from its header and `encode(content)`, so hostile
content (tool output, web pages) never reaches openai-harmony's tokenizer in one unbounded piece, and
appending one message costs only its own tokens.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentoss.errors import HarmonyError
from agentoss.harmony.encoding import decode, encode, encode_special, harmony_encoding
from agentoss.harmony.messages import (
    DeveloperConfig,
    FunctionSpec,
    Message,
    ResponseFormat,
    SystemConfig,
    ToolNamespace,
)
from agentoss.harmony.schema import normalize_schema
from agentoss.harmony.tokens import CALL, CHANNEL, END, MESSAGE, START

if TYPE_CHECKING:
    import openai_harmony

__all__ = [
    "assistant_prefix",
    "render_developer",
    "render_head",
    "render_message",
    "render_messages",
    "render_prompt",
    "render_system",
]


def render_prompt(
    system: SystemConfig, developer: DeveloperConfig | None, messages: Sequence[Message]
) -> list[int]:
    """The full prompt for sampling the next assistant message, ending with `<|start|>assistant`.

    Applies no history policy (see `apply_history_policy`): what is given is rendered.
    """
    tokens = render_head(system, developer)
    tokens.extend(render_messages(messages))
    tokens.extend(assistant_prefix())
    return tokens


def render_head(system: SystemConfig, developer: DeveloperConfig | None) -> list[int]:
    """The system message, then the developer message when there is one: what every prompt starts with."""
    tokens = render_system(system, has_functions=bool(developer and developer.functions))
    if developer is not None:
        tokens.extend(render_developer(developer))
    return tokens


def render_messages(messages: Sequence[Message]) -> list[int]:
    """The concatenated renders of `messages` (no system / developer, no trailing prefix)."""
    tokens: list[int] = []
    for message in messages:
        tokens.extend(render_message(message))
    return tokens


def assistant_prefix() -> list[int]:
    """`<|start|>assistant`: the tail of every prompt (the model samples the rest of the header)."""
    return [START, *_header_text_tokens("assistant")]


def render_message(message: Message) -> list[int]:
    """One message: `<|start|>{header}<|message|>{content}` then `<|call|>` for tool calls, else `<|end|>`."""
    if message.role in ("system", "developer"):
        raise HarmonyError(
            f"render_message renders conversation messages; a {message.role} message comes from "
            "SystemConfig / DeveloperConfig (render_prompt)"
        )
    author = message.author if message.role == "tool" and message.author else message.role
    head = author if message.recipient is None else f"{author} to={message.recipient}"
    tokens = [START, *_header_text_tokens(head)]
    if message.channel is not None:
        tokens.append(CHANNEL)
        tokens.extend(_header_text_tokens(message.channel))
    if message.content_type:
        tokens.extend(_content_type_tokens(message.content_type))
    tokens.append(MESSAGE)
    tokens.extend(encode(message.content))
    tokens.append(CALL if message.is_tool_call else END)
    return tokens


_HEADER_CACHE: dict[str, tuple[int, ...]] = {}


def _header_text_tokens(text: str) -> tuple[int, ...]:
    # Headers repeat constantly (`assistant`, `analysis`, `functions.f to=assistant`): cache them.
    cached = _HEADER_CACHE.get(text)
    if cached is None:
        cached = tuple(encode(text))
        if len(_HEADER_CACHE) < 4096:
            _HEADER_CACHE[text] = cached
    return cached


def _content_type_tokens(content_type: str) -> tuple[int, ...]:
    key = "\0ct" + content_type
    cached = _HEADER_CACHE.get(key)
    if cached is None:
        # `<|constrain|>json` is a real control token followed by text; anything else is plain text.
        if content_type.startswith("<|constrain|>"):
            cached = tuple(encode_special(" <|constrain|>") + encode(content_type[13:]))
        else:
            cached = tuple(encode(" " + content_type))
        _HEADER_CACHE[key] = cached
    return cached


def render_system(system: SystemConfig, *, has_functions: bool = False) -> list[int]:
    """The system message as openai-harmony renders it."""
    import openai_harmony as oh

    content = (
        oh.SystemContent.new()
        .with_model_identity(system.model_identity)
        .with_reasoning_effort(oh.ReasoningEffort(system.reasoning_effort.capitalize()))
        .with_knowledge_cutoff(system.knowledge_cutoff)
    )
    if system.current_date:
        content = content.with_conversation_start_date(system.current_date)
    # The trained prompt lists browser before python, whatever order they were given in.
    order = {"browser": 0, "python": 1}
    for namespace in sorted(system.builtin_tools, key=lambda ns: order.get(ns.name, 2)):
        content = content.with_tools(_namespace_config(namespace))
    message = oh.Message.from_role_and_content(oh.Role.SYSTEM, content)
    if not (has_functions or system.has_function_tools):
        return _harmony_render(message)
    # The `functions` routing line is only written by harmony when a developer message declares
    # function tools, so render a conversation with a stub developer message and cut it off.
    stub = oh.DeveloperContent.new().with_function_tools([oh.ToolDescription.new("f", "")])
    conversation = oh.Conversation.from_messages(
        [message, oh.Message.from_role_and_content(oh.Role.DEVELOPER, stub)]
    )
    tokens = _harmony_render(conversation)
    return tokens[: tokens.index(END) + 1]


def _harmony_render(item: openai_harmony.Message | openai_harmony.Conversation) -> list[int]:
    """Render through openai-harmony, mapping its errors (and Rust panics) into `HarmonyError`."""
    import openai_harmony as oh

    encoding = harmony_encoding()
    try:
        if isinstance(item, oh.Conversation):
            return list(encoding.render_conversation(item))
        return list(encoding.render(item))
    except BaseException as exc:  # a Rust panic surfaces as PanicException, a BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise HarmonyError(f"openai-harmony could not render the system/developer message: {exc}") from exc


def render_developer(developer: DeveloperConfig) -> list[int]:
    """The developer message: instructions, the `functions` namespace and `# Response Formats`."""
    import openai_harmony as oh

    content = oh.DeveloperContent.new()
    if developer.instructions:
        content = content.with_instructions(developer.instructions)
    if developer.functions:
        content = content.with_function_tools([_tool_description(f) for f in developer.functions])
    tokens = _harmony_render(oh.Message.from_role_and_content(oh.Role.DEVELOPER, content))
    if developer.response_format is None:
        return tokens
    start = tokens.index(MESSAGE) + 1
    text = decode(tokens[start:-1])
    section = _response_format_text(developer.response_format)
    text = f"{text}\n\n{section}" if text else section
    return [*tokens[:start], *encode(text), END]


def _response_format_text(response_format: ResponseFormat) -> str:
    schema = normalize_schema(response_format.schema).schema
    lines = ["# Response Formats", "", f"## {response_format.name}", ""]
    if response_format.description:
        lines.extend(f"// {line}" for line in response_format.description.splitlines())
    lines.append(json.dumps(schema, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(lines)


def _tool_description(spec: FunctionSpec) -> openai_harmony.ToolDescription:
    import openai_harmony as oh

    parameters: dict[str, Any] | None = None
    if spec.parameters is not None:
        parameters = normalize_schema(spec.parameters).schema
    return oh.ToolDescription.new(spec.name, spec.description, parameters=parameters)


def _namespace_config(namespace: ToolNamespace) -> openai_harmony.ToolNamespaceConfig:
    import openai_harmony as oh

    return oh.ToolNamespaceConfig(
        name=namespace.name,
        description=namespace.description,
        tools=[_tool_description(f) for f in namespace.functions],
    )
