"""The tool interface: how the runtime declares a tool to the model and calls it.

A tool owns one harmony namespace: a built-in (`python`, `browser`, declared in the system message)
or one function of the `functions` namespace (declared in the developer message). Tools never see
tokens: they get the recipient's function name and the raw argument text, and return text.

Errors the model should read and recover from are raised as `ToolError`; the runtime turns them
into tool messages. Anything else a tool raises is also shown to the model (as an internal tool
error) unless it is an `agentoss.errors.AgentossError`, which ends the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from agentoss.harmony.messages import FunctionSpec

__all__ = ["FunctionSpec", "Tool", "ToolCall", "ToolError", "ToolSpec"]


class ToolError(Exception):
    """An error the model should see as the tool's output (not an `AgentossError`: it never ends a run)."""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """How a tool is declared to the model.

    `kind="builtin"`: a namespace of the system message (`python`, `browser`) with its trained
    description; `kind="function"`: exactly one entry in `functions`, rendered into the developer
    message's `functions` namespace.
    """

    namespace: str
    kind: Literal["builtin", "function"]
    description: str = ""
    functions: tuple[FunctionSpec, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model made, already routed to a tool."""

    recipient: str
    """Canonical recipient, e.g. `python`, `browser.search`, `functions.get_weather`."""
    function: str | None
    """The function within the namespace (`search`, `get_weather`), None for `python`."""
    arguments: str
    """The raw message content: code for `python`, JSON text for the others."""
    channel: str = "commentary"
    content_type: str | None = None


@runtime_checkable
class Tool(Protocol):
    """A stateful tool instance, owned by one agent session."""

    @property
    def spec(self) -> ToolSpec:
        """The declaration shown to the model."""
        ...

    async def call(self, call: ToolCall) -> str:
        """Run the call and return the text the model reads. Raise `ToolError` for model-visible errors."""
        ...

    async def aclose(self) -> None:
        """Release what the tool holds (containers, HTTP clients)."""
        ...
