"""Typed harmony values: messages, tool declarations, system and developer configuration, diagnostics.

Plain frozen dataclasses with no I/O. Everything the model reads or writes is one of these before it
becomes tokens (`agentoss.harmony.render`) and after it was sampled (`agentoss.harmony.parse`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "NOT_TOOL_RECIPIENTS",
    "Channel",
    "DeveloperConfig",
    "Diagnostic",
    "FunctionSpec",
    "Message",
    "ReasoningEffort",
    "ResponseFormat",
    "Role",
    "Severity",
    "SystemConfig",
    "ToolNamespace",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
ReasoningEffort = Literal["low", "medium", "high"]
Channel = Literal["analysis", "commentary", "final"]
Severity = Literal["repaired", "dropped", "info"]

NOT_TOOL_RECIPIENTS: tuple[str | None, ...] = (None, "all", "assistant", "user")
"""Recipients that address no tool: a message sent to one of these is text, not a tool call."""

VALID_CHANNELS: tuple[str, ...] = ("analysis", "commentary", "final")


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One function of a tool namespace, as declared to the model."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] | None = None
    """JSON Schema of the arguments object; None for a function without arguments."""


@dataclass(frozen=True, slots=True)
class ToolNamespace:
    """A namespace of tools: a built-in (`python`, `browser`) or `functions`."""

    name: str
    description: str = ""
    functions: tuple[FunctionSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class SystemConfig:
    """The system message: identity, dates, reasoning effort and built-in tools."""

    reasoning_effort: ReasoningEffort = "medium"
    """The only switch for effort: rendered as `Reasoning: low|medium|high`."""
    knowledge_cutoff: str = "2024-06"
    current_date: str | None = None
    """`YYYY-MM-DD`, rendered as `Current date: ...` when set."""
    builtin_tools: tuple[ToolNamespace, ...] = ()
    """Built-in namespaces (`browser`, `python`), rendered under `# Tools`, browser first."""
    model_identity: str = "You are ChatGPT, a large language model trained by OpenAI."
    has_function_tools: bool = False
    """Adds the line routing `functions` calls to the commentary channel."""


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """Structured output: a named JSON Schema appended as `# Response Formats` to the developer message."""

    name: str
    schema: Mapping[str, Any]
    description: str | None = None


@dataclass(frozen=True, slots=True)
class DeveloperConfig:
    """The developer message: instructions, function tools and an optional response format."""

    instructions: str | None = None
    functions: tuple[FunctionSpec, ...] = ()
    response_format: ResponseFormat | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One harmony message (not system / developer: those are `SystemConfig` / `DeveloperConfig`).

    Tool results have role "tool" and `author` = the tool's name (`python`, `browser.search`,
    `functions.get_weather`), `recipient` = "assistant" and the channel of the call.
    """

    role: Role
    content: str
    channel: str | None = None
    recipient: str | None = None
    content_type: str | None = None
    """`<|constrain|>json`, `json`, `code`, ... as rendered after the channel (None for plain text)."""
    author: str | None = None
    """Tool messages only: the tool name written in the role position."""

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(role="user", content=text)

    @classmethod
    def tool_result(cls, author: str, content: str, channel: str | None = "commentary") -> Message:
        return cls(role="tool", content=content, author=author, recipient="assistant", channel=channel)

    @property
    def is_tool_call(self) -> bool:
        """An assistant message addressed to a tool (anything but the user / assistant)."""
        return self.role == "assistant" and self.recipient not in NOT_TOOL_RECIPIENTS


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """Something the parser repaired or could not recover, stated so a person or the model can act."""

    code: str
    """Stable machine name, e.g. `recipient_in_role`, `missing_message_token`, `truncated`."""
    message: str
    severity: Severity = "repaired"
    token_span: tuple[int, int] | None = field(default=None)
    """[start, end) positions in the parsed token sequence, when known."""
