"""Recording function tools for benchmarks: declared by JSON Schema, answered by a callback, unvalidated.

`agentoss.FunctionTool` validates arguments before its handler runs, so a call with a wrong type
would reach the model as an error and never be recorded. BFCL scores the calls exactly as the model
wrote them, types included, so its tools must see every call: `CallbackTool` implements the same
`agentoss.runtime.tool.Tool` interface (namespace `functions`) without validation.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agentoss.harmony.messages import FunctionSpec
from agentoss.runtime.tool import Tool, ToolCall, ToolError, ToolSpec

__all__ = ["CallbackTool", "callback_tool", "parse_arguments"]

Handler = Callable[[dict[str, Any]], Any | Awaitable[Any]]


def parse_arguments(text: str) -> dict[str, Any]:
    """A call's JSON arguments as a dict; `ToolError` (shown to the model) when they are not an object."""
    stripped = text.strip()
    if not stripped:
        return {}
    try:
        value = json.loads(stripped)
    except ValueError as exc:
        raise ToolError(f"arguments are not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ToolError("arguments must be a JSON object")
    return value


class CallbackTool:
    """One function of the `functions` namespace answered by a callback."""

    def __init__(self, spec: FunctionSpec, handler: Handler) -> None:
        self._function = spec
        self._handler = handler

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(namespace="functions", kind="function", functions=(self._function,))

    @property
    def name(self) -> str:
        return self._function.name

    async def call(self, call: ToolCall) -> str:
        result = self._handler(parse_arguments(call.arguments))
        if inspect.isawaitable(result):
            result = await result
        return result if isinstance(result, str) else json.dumps(result, default=str)

    async def aclose(self) -> None:
        return None


def callback_tool(
    name: str,
    description: str,
    parameters: Mapping[str, Any] | None,
    handler: Callable[[dict[str, Any]], str],
) -> Tool:
    """A function tool named `name` whose calls go to `handler(arguments)` unvalidated.

    Unlike `agentoss.FunctionTool`, arguments are not checked against the schema first: a benchmark
    records the call exactly as the model made it and lets its own checker judge the types.
    """
    return CallbackTool(FunctionSpec(name=name, description=description, parameters=parameters), handler)
