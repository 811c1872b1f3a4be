"""Tool dispatch: route a recipient to one tool, ask for approval, call it, and turn every failure into text.

One registry holds the built-in namespaces (`python`, `browser`) and the function tools
(`functions.NAME`). Recipients the model is known to emit for them are accepted as aliases
(`functions.python`, `functions.browser.search`, a bare function name). An unknown tool, invalid
arguments, a tool exception, a timeout or a denial each become a `ToolOutcome` with `is_error=True`
whose text the model reads. Only `AgentossError` escapes: it ends the run. Sync approval hooks run
on the runtime's daemon threads (never on the loop), and the wait for a verdict ends at the run's
deadline.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentoss.errors import AgentossError, ConfigurationError
from agentoss.harmony.messages import FunctionSpec, Message, ToolNamespace
from agentoss.runtime.limits import format_seconds
from agentoss.runtime.threads import is_async_callable, run_blocking
from agentoss.runtime.tool import Tool, ToolCall, ToolError

__all__ = ["ApproveHook", "ToolOutcome", "ToolRouter", "cap_output"]

ApproveHook = Callable[[ToolCall], "bool | str | Awaitable[bool | str]"]
"""Called before every tool call: `True` approves; `False` denies; a string denies with that reason."""

_MAX_RECIPIENT = 120


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What a tool call produced: the message for the model and how it went."""

    call: ToolCall
    output: str
    is_error: bool
    duration_s: float

    def message(self) -> Message:
        """The tool message appended to the conversation (author = the tool, channel = the call's)."""
        return Message.tool_result(self.call.recipient, self.output, channel=self.call.channel)


class ToolRouter:
    """Every tool of one agent, addressable by recipient."""

    def __init__(self, tools: Sequence[Tool]) -> None:
        self.tools: tuple[Tool, ...] = tuple(tools)
        self._builtins: dict[str, Tool] = {}
        self._functions: dict[str, Tool] = {}
        for tool in self.tools:
            spec = tool.spec
            if spec.kind == "builtin":
                if spec.namespace in self._builtins:
                    raise ConfigurationError(f"two tools declare the built-in namespace {spec.namespace!r}")
                self._builtins[spec.namespace] = tool
                continue
            for function in spec.functions:
                if function.name in self._functions:
                    raise ConfigurationError(f"two tools declare the function {function.name!r}")
                self._functions[function.name] = tool

    @property
    def builtin_namespaces(self) -> tuple[ToolNamespace, ...]:
        """Built-in namespaces for the system message."""
        return tuple(
            ToolNamespace(
                name=tool.spec.namespace, description=tool.spec.description, functions=tool.spec.functions
            )
            for tool in self._builtins.values()
        )

    @property
    def function_specs(self) -> tuple[FunctionSpec, ...]:
        """Function tools for the developer message."""
        return tuple(
            function
            for tool in self.tools
            if tool.spec.kind == "function"
            for function in tool.spec.functions
        )

    @property
    def builtin_names(self) -> tuple[str, ...]:
        return tuple(self._builtins)

    @property
    def function_names(self) -> tuple[str, ...]:
        return tuple(self._functions)

    def available(self) -> list[str]:
        """Recipients the model may address, for error messages."""
        names = []
        for namespace, tool in self._builtins.items():
            functions = tool.spec.functions
            names += [f"{namespace}.{f.name}" for f in functions] if functions else [namespace]
        return names + [f"functions.{name}" for name in self._functions]

    def route(self, message: Message) -> tuple[Tool | None, ToolCall]:
        """The tool a call message addresses (None when unknown) and the canonical `ToolCall`."""
        raw = (message.recipient or "").strip()[:_MAX_RECIPIENT]
        channel = message.channel or "commentary"
        target = raw
        if target.startswith("functions."):
            rest = target[len("functions.") :]
            if rest.split(".", 1)[0] in self._builtins:
                target = rest  # a built-in addressed as a function
            elif rest in self._functions:
                return self._functions[rest], self._call(target, rest, message, channel)
        namespace, _, function = target.partition(".")
        if namespace in self._builtins:
            return self._builtins[namespace], self._call(target, function or None, message, channel)
        if target in self._functions:  # a bare function name
            return self._functions[target], self._call(f"functions.{target}", target, message, channel)
        return None, self._call(raw or "unknown", None, message, channel)

    @staticmethod
    def _call(recipient: str, function: str | None, message: Message, channel: str) -> ToolCall:
        return ToolCall(
            recipient=recipient,
            function=function,
            arguments=message.content,
            channel=channel,
            content_type=message.content_type,
        )

    async def dispatch(
        self,
        message: Message,
        *,
        timeout_s: float,
        max_output_chars: int,
        approve: ApproveHook | None = None,
        refuse: str | None = None,
        deadline: float | None = None,
    ) -> ToolOutcome:
        """Run the call in `message` and return what the model reads. Raises only `AgentossError`.

        `refuse`, when set, is returned as an error without calling anything (e.g. the tool-call limit).
        `deadline` (event-loop time) bounds the approval wait and the call itself, on top of `timeout_s`.
        """
        tool, call = self.route(message)
        started = time.perf_counter()

        def outcome(text: str, is_error: bool) -> ToolOutcome:
            return ToolOutcome(
                call, cap_output(text, max_output_chars), is_error, time.perf_counter() - started
            )

        if refuse is not None:
            return outcome(refuse, True)
        if tool is None:
            available = ", ".join(self.available()) or "none"
            return outcome(f"Unknown tool {call.recipient!r}. Available tools: {available}.", True)
        if approve is not None:
            denial = await _ask_approval(approve, call, deadline)
            if denial is not None:
                return outcome(denial, True)
        if deadline is not None:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return outcome("Tool call not run: the run's time limit was reached.", True)
            timeout_s = min(timeout_s, remaining)
        try:
            text = await asyncio.wait_for(tool.call(call), timeout=timeout_s)
        except ToolError as exc:
            return outcome(str(exc) or type(exc).__name__, True)
        except TimeoutError:
            return outcome(f"Tool call timed out after {format_seconds(timeout_s)} s.", True)
        except AgentossError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return outcome(f"Tool error: {type(exc).__name__}: {exc}", True)
        if not isinstance(text, str):
            text = str(text)
        return outcome(text, False)

    async def aclose(self) -> None:
        """Close every tool; one tool failing to close does not stop the others."""
        errors: list[BaseException] = []
        for tool in self.tools:
            try:
                await tool.aclose()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


async def _ask_approval(approve: ApproveHook, call: ToolCall, deadline: float | None) -> str | None:
    """None when `approve` approves `call`; else the denial text the model reads."""

    async def verdict() -> Any:
        if is_async_callable(approve):
            answer: Any = approve(call)
        else:  # a sync hook may block (a prompt, a policy service): keep it off the loop
            answer = await run_blocking(approve, call)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    if deadline is None:
        answer = await verdict()
    else:
        try:
            async with asyncio.timeout_at(deadline) as scope:
                answer = await verdict()
        except TimeoutError:
            if not scope.expired():
                raise
            return "Tool call not approved: the run's time limit was reached while waiting for approval."
    if answer is True:
        return None
    reason = answer if isinstance(answer, str) and answer else "The user denied this tool call."
    return f"Tool call denied: {reason}"


def cap_output(text: str, limit: int) -> str:
    """Cut text longer than `limit` characters, keeping its head and tail around a marker."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    omitted = len(text) - head - tail
    return f"{text[:head]}\n[... {omitted} characters omitted ...]\n{text[-tail:]}"
