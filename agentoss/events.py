"""The public events an agent run streams: typed, frozen, with a stable `type` tag each.

`Agent.stream(task)` yields these in order. Their class names and `type` strings are public API:
they are never renamed. A consumer switches on `event.type` (or `isinstance`):

=====================  ======================  ==================================================
class                  `type`                  when
=====================  ======================  ==================================================
`StepStarted`          `step.started`          a request is about to go to the model
`ReasoningDelta`       `reasoning.delta`       text of the `analysis` channel (never for end users)
`CommentaryDelta`      `commentary.delta`      a user-visible preamble on `commentary` (no recipient)
`FinalTextDelta`       `final_text.delta`      text of the `final` answer
`ToolCallStarted`      `tool_call.started`     the model called a tool; arguments are complete
`ToolCallFinished`     `tool_call.finished`    the tool's output (or the error shown to the model)
`DiagnosticRaised`     `diagnostic`            the parser repaired or dropped something
`StepFinished`         `step.finished`         one model call (and its tool call, if any) is done
`RunFinished`          `run.finished`          the run ended; carries the `RunResult`
=====================  ======================  ==================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from agentoss.runtime.result import RunResult

__all__ = [
    "AgentEvent",
    "CommentaryDelta",
    "DiagnosticRaised",
    "FinalTextDelta",
    "ReasoningDelta",
    "RunFinished",
    "StepFinished",
    "StepStarted",
    "ToolCallFinished",
    "ToolCallStarted",
]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)


class StepStarted(_Event):
    """A request is about to be sent to the model (a UI shows a spinner until the first delta)."""

    type: Literal["step.started"] = "step.started"
    step: int
    """1-based index of the model call within the run."""
    prompt_tokens: int
    """Length of the prompt about to be sent."""


class ReasoningDelta(_Event):
    """Text sampled on the `analysis` channel: raw chain of thought, not for end users."""

    type: Literal["reasoning.delta"] = "reasoning.delta"
    text: str


class CommentaryDelta(_Event):
    """Text of a user-visible preamble on the `commentary` channel (not a tool call's arguments)."""

    type: Literal["commentary.delta"] = "commentary.delta"
    text: str


class FinalTextDelta(_Event):
    """Text of the `final` answer as it is sampled."""

    type: Literal["final_text.delta"] = "final_text.delta"
    text: str


class ToolCallStarted(_Event):
    """The model called a tool; the call is about to be approved and dispatched."""

    type: Literal["tool_call.started"] = "tool_call.started"
    recipient: str
    """Canonical recipient: `python`, `browser.search`, `functions.NAME`, or what the model wrote."""
    channel: str
    arguments: str
    """The raw message content: code for `python`, JSON text otherwise."""


class ToolCallFinished(_Event):
    """A tool call ended; `output` is exactly what the model will read."""

    type: Literal["tool_call.finished"] = "tool_call.finished"
    recipient: str
    output: str
    is_error: bool
    """True when `output` is an error shown to the model (unknown tool, bad arguments, failure, denial)."""
    duration_s: float


class DiagnosticRaised(_Event):
    """The harmony parser repaired or dropped something in the model's output."""

    type: Literal["diagnostic"] = "diagnostic"
    code: str
    message: str
    severity: str


class StepFinished(_Event):
    """One model call and its tool call (if any) are done."""

    type: Literal["step.finished"] = "step.finished"
    step: int
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    """The backend's finish reason: `stop`, `length`, `abort`, `error`."""


class RunFinished(_Event):
    """The run ended, for any reason; `result.stop_reason` says which."""

    type: Literal["run.finished"] = "run.finished"
    result: Any
    """The `agentoss.RunResult` of the run."""

    @property
    def run_result(self) -> RunResult:
        """`result`, typed."""
        return self.result  # type: ignore[no-any-return]


AgentEvent = (
    StepStarted
    | ReasoningDelta
    | CommentaryDelta
    | FinalTextDelta
    | ToolCallStarted
    | ToolCallFinished
    | DiagnosticRaised
    | StepFinished
    | RunFinished
)
"""Every event `Agent.stream` yields."""
