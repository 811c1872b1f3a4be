"""What a run returns: the final answer, every message and tool call, usage, stop reason, diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agentoss.harmony.messages import Message

__all__ = ["STOP_REASONS", "RunResult", "RunUsage", "StopReason", "ToolCallRecord"]

StopReason = Literal["final", "max_turns", "max_tokens", "timeout", "context_length", "error", "cancelled"]
STOP_REASONS: tuple[str, ...] = (
    "final",
    "max_turns",
    "max_tokens",
    "timeout",
    "context_length",
    "error",
    "cancelled",
)


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """One tool call the model made and what it read back."""

    recipient: str
    channel: str
    arguments: str
    output: str
    is_error: bool
    duration_s: float


@dataclass(slots=True)
class RunUsage:
    """Tokens over the whole run: prompt tokens are summed over every request."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


@dataclass(slots=True)
class RunResult:
    """The outcome of one run. `final_text` is None unless the model produced a `final` message."""

    final_text: str | None
    stop_reason: StopReason
    turns: int
    """Model calls made."""
    messages: list[Message]
    """The whole conversation after the system and developer messages, as the model saw it."""
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    usage: RunUsage = field(default_factory=RunUsage)
    diagnostics: list[str] = field(default_factory=list)
    """Parser repairs and run notes, as `code: message` lines."""
    output: Any = None
    """The validated `output_type` instance, when the agent has one and the final answer passed."""
    error: str | None = None
    """Why the run failed, when `stop_reason` is `error`."""

    @property
    def ok(self) -> bool:
        """True when the run produced a final answer."""
        return self.stop_reason == "final"

    def to_json_dict(self) -> dict[str, Any]:
        """The CLI's `--json` object."""
        return {
            "final": self.final_text,
            "stop_reason": self.stop_reason,
            "turns": self.turns,
            "tool_calls": [
                {
                    "recipient": call.recipient,
                    "channel": call.channel,
                    "arguments": call.arguments,
                    "output": call.output,
                }
                for call in self.tool_calls
            ],
            "usage": self.usage.to_dict(),
            "diagnostics": list(self.diagnostics),
        }
