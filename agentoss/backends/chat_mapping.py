"""Harmony prompt tokens <-> chat-completions requests and replies, for servers without a token API.

This is the lossy bridge behind `ChatCompletionsBackend`:

- prompt: the rendered messages are parsed back with openai-harmony; `Reasoning: X` in the system
  message becomes `reasoning_effort`; the developer message's instructions become the system message;
  its `namespace functions { ... }` TypeScript declarations are turned back into JSON Schema `tools`
  (types, enums, arrays, descriptions, required fields; nested objects become plain objects);
  function calls become `tool_calls`, tool results `tool` messages; earlier analysis is dropped (chat
  APIs have no place for it) and the built-in `python` tool is offered as a function taking `code`.
- reply: `reasoning` / `reasoning_content` -> an analysis message, the first tool call -> a commentary
  call ending in `<|call|>`, content -> a final message ending in `<|return|>` (or a commentary
  preamble before a call). Text is encoded without control tokens, so reply text cannot forge them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from agentoss.backends.base import CALL_TOKEN, RETURN_TOKEN

__all__ = ["chat_request", "parse_function_namespace", "reply_tokens"]

_START, _END, _MESSAGE, _CHANNEL, _CONSTRAIN = 200006, 200007, 200008, 200005, 200003
_ASSISTANT = 173781
_EFFORT = re.compile(r"^Reasoning: (low|medium|high)\s*$", re.MULTILINE)
_TYPE_START = re.compile(r"^type (\w[\w\-]*) = \((?:_: \{)?(.*)$")
_FIELD = re.compile(r"^(\w+)(\?)?: (.*?)(?:, // default: (.*))?,?$")
_PYTHON_TOOL = {
    "type": "function",
    "function": {
        "name": "python",
        "description": "Run Python code in a stateful Jupyter notebook and return its output.",
        "parameters": {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
    },
}


def _ts_type(text: str) -> dict[str, Any]:
    """JSON Schema for a TypeScript-like type as openai-harmony renders it (lossy)."""
    text = text.strip().rstrip(",").strip()
    parts = [p.strip() for p in text.split("|") if p.strip()]
    non_null = [p for p in parts if p != "null"]
    if len(non_null) > 1 and all(p.startswith('"') and p.endswith('"') for p in non_null):
        return {"type": "string", "enum": [p[1:-1] for p in non_null]}
    if len(non_null) != 1:
        return {}
    text = non_null[0]
    if text.endswith("[]"):
        return {"type": "array", "items": _ts_type(text[:-2])}
    simple = {"string": "string", "number": "number", "boolean": "boolean", "object": "object"}
    if text in simple:
        return {"type": simple[text]}
    if text.startswith("{"):
        return {"type": "object"}
    if text.startswith('"') and text.endswith('"'):
        return {"type": "string", "enum": [text[1:-1]]}
    return {}


def parse_function_namespace(developer_text: str) -> list[dict[str, Any]]:
    """Chat `tools` from the `namespace functions { ... }` block of a rendered developer message."""
    start = developer_text.find("namespace functions {")
    if start < 0:
        return []
    end = developer_text.find("} // namespace functions", start)
    lines = developer_text[start:end].splitlines()[1:]
    tools: list[dict[str, Any]] = []
    comment: list[str] = []
    current: dict[str, Any] | None = None
    depth = 0
    for raw in lines:
        line = raw.strip()
        if depth > 0:
            depth += line.count("{") - line.count("}")
            continue
        if line.startswith("//"):
            comment.append(line[2:].strip())
            continue
        match = _TYPE_START.match(line)
        if match:
            params: dict[str, Any] = {"type": "object", "properties": {}}
            current = {"name": match.group(1), "description": "\n".join(comment), "parameters": params}
            tools.append({"type": "function", "function": current})
            comment = []
            continue
        if current is None or line.startswith("})") or not line:
            comment = [] if not line else comment
            continue
        field = _FIELD.match(line)
        if field:
            name, optional, kind, default = field.groups()
            if kind.startswith("{") and "}" not in kind:
                depth = 1
            schema = _ts_type(kind)
            if comment:
                schema["description"] = "\n".join(comment)
            if default is not None:
                try:
                    schema["default"] = json.loads(default)
                except ValueError:
                    schema["default"] = default
            current["parameters"]["properties"][name] = schema
            if not optional:
                current["parameters"].setdefault("required", []).append(name)
        comment = []
    return tools


def _text(message: Any) -> str:
    return "".join(getattr(part, "text", "") for part in message.content)


def _instructions(developer_text: str) -> str:
    """The developer message without its `# Tools` section (tools travel as `tools`)."""
    head, _, rest = developer_text.partition("# Tools")
    formats = rest.find("# Response Formats")
    text = head + (rest[formats:] if formats >= 0 else "")
    return text.replace("# Instructions\n\n", "", 1).strip()


def chat_request(prompt: Sequence[int]) -> dict[str, Any]:
    """`messages`, `tools` and `reasoning_effort` for a harmony prompt ending in `<|start|>assistant`."""
    from agentoss.harmony.encoding import harmony_encoding

    tokens = list(prompt)
    if tokens[-2:] == [_START, _ASSISTANT]:
        tokens = tokens[:-2]
    parsed = harmony_encoding().parse_messages_from_completion_tokens(tokens, None)
    request: dict[str, Any] = {"messages": []}
    messages: list[dict[str, Any]] = request["messages"]
    tools: list[dict[str, Any]] = []
    call_ids: dict[str, str] = {}
    for number, message in enumerate(parsed):
        role = str(message.author.role.value)
        text = _text(message)
        recipient = message.recipient or ""
        if role == "system":
            effort = _EFFORT.search(text)
            if effort:
                request["reasoning_effort"] = effort.group(1)
            if "## python" in text:
                tools.append(_PYTHON_TOOL)
        elif role == "developer":
            tools.extend(parse_function_namespace(text))
            instructions = _instructions(text)
            if instructions:
                messages.append({"role": "system", "content": instructions})
        elif role == "user":
            messages.append({"role": "user", "content": text})
        elif role == "assistant" and recipient and recipient != "assistant":
            name = recipient.removeprefix("functions.")
            arguments = json.dumps({"code": text}) if name == "python" else text
            call_id = f"call_{number}"
            call_ids[name] = call_id
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif role == "assistant" and message.channel != "analysis":
            messages.append({"role": "assistant", "content": text})
        elif role == "tool":
            name = (message.author.name or "").removeprefix("functions.")
            messages.append({"role": "tool", "tool_call_id": call_ids.get(name, "call_0"), "content": text})
    if tools:
        request["tools"] = tools
    return request


def reply_tokens(message: dict[str, Any], finish_reason: str | None) -> tuple[list[int], int | None]:
    """Harmony completion ids for a chat reply message, and the stop token they end with (None if cut)."""
    from agentoss.harmony.encoding import encode

    out: list[int] = []

    def header(channel: str, extra: str = "") -> None:
        if out:
            out.extend([_START, _ASSISTANT])
        out.extend([_CHANNEL, *encode(channel + extra)])

    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning:
        header("analysis")
        out.extend([_MESSAGE, *encode(str(reasoning)), _END])
    calls = message.get("tool_calls") or []
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    if calls:
        if content:
            header("commentary")
            out.extend([_MESSAGE, *encode(str(content)), _END])
        function = calls[0].get("function") or {}
        name = str(function.get("name", ""))
        arguments = str(function.get("arguments") or "{}")
        if name == "python":
            try:
                code = json.loads(arguments).get("code", arguments)
            except (ValueError, AttributeError):
                code = arguments
            header("analysis", " to=python code")
            out.extend([_MESSAGE, *encode(str(code))])
        else:
            header("commentary", f" to=functions.{name} ")
            out.extend([_CONSTRAIN, *encode("json"), _MESSAGE, *encode(arguments)])
        stop = CALL_TOKEN
    else:
        header("final")
        out.extend([_MESSAGE, *encode(str(content or ""))])
        stop = RETURN_TOKEN
    if finish_reason == "length":
        return out, None
    out.append(stop)
    return out, stop
