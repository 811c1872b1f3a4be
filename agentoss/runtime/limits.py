"""How far one agent run may go: turns, tokens, wall-clock time, tool calls, tool output size."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Limits", "format_seconds"]


class Limits(BaseModel):
    """Bounds of one run (one user turn). Every run ends with an explicit stop reason when one is hit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_turns: int = Field(default=32, ge=1)
    """Most model calls in one run; then the run stops with `max_turns`."""
    max_output_tokens_per_call: int = Field(default=16_384, ge=1)
    """`max_tokens` sent with each request (shrunk to what the context window leaves)."""
    max_output_tokens: int = Field(default=131_072, ge=1)
    """Most tokens sampled over the whole run; then the run stops with `max_tokens`."""
    timeout_s: float | None = Field(default=None, gt=0)
    """Wall-clock limit of the run; then it stops with `timeout`. None: no limit."""
    max_tool_calls: int = Field(default=64, ge=0)
    """Most tool calls in one run; a further call is answered with an error the model reads."""
    tool_timeout_s: float = Field(default=180.0, gt=0)
    """Wall-clock limit of one tool call; the model is told when it expires."""
    max_tool_output_chars: int = Field(default=32_000, ge=256)
    """Tool output longer than this is cut (head and tail kept) before it reaches the tokenizer."""
    reserve_output_tokens: int = Field(default=1_024, ge=1)
    """Room a request must leave for output; with less, old tool outputs are elided to make room."""
    max_output_retries: int = Field(default=2, ge=0)
    """How often a final answer that fails `output_type` validation is sent back to the model."""


def format_seconds(seconds: float) -> str:
    """Seconds for a message: `1` for 0.999806, `2.5`, `180` (three significant digits at most)."""
    return f"{seconds:.0f}" if seconds >= 100 else f"{seconds:.3g}"
