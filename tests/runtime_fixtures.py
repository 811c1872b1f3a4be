"""Helpers for the runtime and CLI tests: scripted harmony replies and agents over `ScriptedBackend`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentoss.backends.scripted import ScriptedBackend
from agentoss.runtime.agent import Agent
from agentoss.runtime.tool import Tool
from agentoss.testing.script import Reply, Script


def think(text: str = "Let me think.") -> str:
    """An analysis message followed by the start of the next assistant message."""
    return f"<|channel|>analysis<|message|>{text}<|end|><|start|>assistant"


def call(
    recipient: str, arguments: str, *, channel: str = "commentary", analysis: str | None = "Calling."
) -> str:
    """A completion calling a tool (JSON content type unless it is python code)."""
    content_type = " <|constrain|>json" if not recipient.startswith("python") else " code"
    head = think(analysis) if analysis is not None else ""
    return f"{head}<|channel|>{channel} to={recipient}{content_type}<|message|>{arguments}<|call|>"


def final(text: str, *, analysis: str | None = "Done.") -> str:
    """A completion with an optional analysis message and a final answer."""
    head = think(analysis) if analysis is not None else ""
    return f"{head}<|channel|>final<|message|>{text}<|return|>"


def scripted(replies: Sequence[Reply] | Script, **kwargs: Any) -> ScriptedBackend:
    """A backend replying in order (a list) or by rule (a Script)."""
    return ScriptedBackend(replies if isinstance(replies, Script) else list(replies), **kwargs)


def agent_with(replies: Sequence[Reply] | Script, tools: Sequence[Tool] = (), **kwargs: Any) -> Agent:
    """An agent over a scripted backend; backend options go in `backend_options`."""
    backend_options = kwargs.pop("backend_options", {})
    return Agent(scripted(replies, **backend_options), tools=tools, **kwargs)


class EchoPython:
    """A built-in `python` namespace tool that echoes the code it gets (no sandbox)."""

    def __init__(self) -> None:
        from agentoss.runtime.tool import ToolSpec

        self._spec = ToolSpec(namespace="python", kind="builtin", description="Runs python (echo fake).")
        self.calls: list[Any] = []
        self.closed = False

    @property
    def spec(self) -> Any:
        return self._spec

    async def call(self, call: Any) -> str:
        self.calls.append(call)
        return f"ran: {call.arguments}"

    async def aclose(self) -> None:
        self.closed = True
