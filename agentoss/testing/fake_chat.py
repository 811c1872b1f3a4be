"""A minimal fake `POST /v1/chat/completions` (non-streaming) answering from a `Script`.

The chat messages are rendered to approximate harmony text so script rules (`when`, `step`) work
as they do for token prompts: tool messages become tool-result messages, the reasoning effort a
`Reasoning: X` line, tool names a `Tools: a, b` line. The scripted harmony reply is mapped back the way
vLLM maps gpt-oss output: analysis -> `reasoning_content` (`reasoning` for the 0.33 profile),
final -> `content`, `to=functions.X` calls -> `tool_calls`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentoss.testing.fake_vllm import FakeVLLMServer

__all__ = ["chat_completions", "render_chat", "split_reply"]

_MESSAGE = re.compile(
    r"(?:<\|start\|>assistant)?(?P<header>.*?)<\|message\|>(?P<content>.*?)(?:<\|end\|>|<\|call\|>|<\|return\|>|$)",
    re.DOTALL,
)
_RECIPIENT = re.compile(r"to=functions\.([\w.\-]+)")


def render_chat(body: dict[str, Any]) -> str:
    """Approximate harmony text for a chat request (enough for script rules to match on)."""
    parts = []
    effort = body.get("reasoning_effort")
    if effort:
        parts.append(f"<|start|>system<|message|>Reasoning: {effort}<|end|>")
    tools = [t.get("function", {}).get("name", "") for t in body.get("tools") or []]
    names: dict[str, str] = {}
    for message in body.get("messages") or []:
        role = message.get("role")
        content = message.get("content") or ""
        if isinstance(content, list):
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if role in ("system", "developer"):
            extra = f"\nTools: {', '.join(tools)}" if tools else ""
            parts.append(f"<|start|>developer<|message|>{content}{extra}<|end|>")
        elif role == "user":
            parts.append(f"<|start|>user<|message|>{content}<|end|>")
        elif role == "assistant":
            for call in message.get("tool_calls") or []:
                function = call.get("function", {})
                names[call.get("id", "")] = function.get("name", "")
                parts.append(
                    f"<|start|>assistant to=functions.{function.get('name')}<|channel|>commentary "
                    f"<|constrain|>json<|message|>{function.get('arguments', '')}<|call|>"
                )
            if content:
                parts.append(f"<|start|>assistant<|channel|>final<|message|>{content}<|end|>")
        elif role == "tool":
            name = names.get(message.get("tool_call_id", ""), "tool")
            parts.append(
                f"<|start|>functions.{name} to=assistant<|channel|>commentary<|message|>{content}<|end|>"
            )
    parts.append("<|start|>assistant")
    return "".join(parts)


def split_reply(text: str) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    """(reasoning, content, tool_calls) of a harmony completion text."""
    reasoning: list[str] = []
    content: list[str] = []
    calls: list[dict[str, Any]] = []
    for match in _MESSAGE.finditer(text):
        header, body = match.group("header"), match.group("content")
        recipient = _RECIPIENT.search(header)
        if recipient:
            calls.append(
                {
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                    "type": "function",
                    "function": {"name": recipient.group(1), "arguments": body},
                }
            )
        elif "final" in header:
            content.append(body)
        else:
            reasoning.append(body)
    return ("".join(reasoning) or None, "".join(content) or None, calls)


async def chat_completions(server: FakeVLLMServer, request: Any) -> Any:
    """Handle one chat completion request for the fake vLLM server."""
    from aiohttp import web

    from agentoss.harmony.encoding import decode, encode_special

    body = await request.json()
    server.requests.append(body)
    if body.get("stream"):
        return server.error("the fake server's chat endpoint does not stream", 400)
    failed = server.injected_status()
    if failed is not None:
        return failed
    prompt = encode_special(render_chat(body))
    max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 4096)
    tokens, (finish, _) = server.sample(prompt, max_tokens, ())
    reasoning, content, calls = split_reply(decode(tokens))
    message: dict[str, Any] = {"role": "assistant", "content": content}
    message["reasoning" if server.profile.nested_errors else "reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls[:1]
        finish = "tool_calls"
    server.completed += 1
    return web.json_response(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": server.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": len(prompt),
                "completion_tokens": len(tokens),
                "total_tokens": len(prompt) + len(tokens),
            },
        },
        dumps=json.dumps,
    )
