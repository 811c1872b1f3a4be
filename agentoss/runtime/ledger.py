"""The books of one run: usage, tool calls, diagnostics and transcript records, and the result they make.

The loop (`loop.py`) decides what happens; the ledger records it. Appending a parsed completion to
the prompt goes through here too, so a completion is never in the conversation without being counted
and logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentoss.harmony import PromptBuilder
from agentoss.runtime.result import RunResult, RunUsage, StopReason, ToolCallRecord
from agentoss.runtime.sampling import SampledCompletion
from agentoss.runtime.transcript import TranscriptWriter, message_to_dict

__all__ = ["RunLedger"]


@dataclass(slots=True)
class RunLedger:
    """What one run has done so far, over the conversation in `builder`."""

    builder: PromptBuilder
    transcript: TranscriptWriter | None = None
    run_id: str = ""
    """Tags this run's transcript records (runs sharing a transcript file interleave)."""
    turns: int = 0
    usage: RunUsage = field(default_factory=RunUsage)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)
    final_text: str | None = None
    output: Any = None

    def record(self, step: int, sent: int, completion: SampledCompletion, **extra: Any) -> int:
        """Append a parsed completion to the conversation, count it, log it; returns its prompt tokens."""
        parsed, sampled = completion.parsed, completion.sampled
        assert parsed is not None, "a completion is parsed before it is recorded"
        self.builder.append_completion(sampled, parsed)
        prompt_used = self.count(sent, completion)
        diagnostics = [f"{d.code}: {d.message}" for d in parsed.diagnostics]
        self.diagnostics.extend(diagnostics)
        self.log(
            "completion",
            **_completion_fields(step, completion, prompt_used),
            messages=[message_to_dict(m) for m in parsed.messages],
            diagnostics=diagnostics,
            clean=parsed.clean,
            duration_s=completion.elapsed_s(),
            **extra,
        )
        return prompt_used

    def count(self, sent: int, completion: SampledCompletion) -> int:
        """Add one request to the usage; returns its prompt tokens."""
        prompt_used = completion.prompt_tokens(sent)
        self.usage.prompt_tokens += prompt_used
        self.usage.completion_tokens += len(completion.sampled)
        self.usage.requests += 1
        return prompt_used

    def discard(self, step: int, sent: int, completion: SampledCompletion, *, reason: str) -> None:
        """Count and log a completion that is thrown away rather than appended (e.g. cut by the window)."""
        prompt_used = self.count(sent, completion)
        self.log(
            "completion",
            **_completion_fields(step, completion, prompt_used),
            discarded=reason,
            duration_s=completion.elapsed_s(),
        )

    def tool_call(self, record: ToolCallRecord) -> None:
        """Keep and log one dispatched tool call (its result message is appended by the loop)."""
        self.tool_calls.append(record)
        self.log(
            "tool_call",
            recipient=record.recipient,
            channel=record.channel,
            arguments=record.arguments,
            output=record.output,
            is_error=record.is_error,
            duration_s=round(record.duration_s, 6),
        )

    def result(self, reason: StopReason, *, error: str | None = None) -> RunResult:
        """The result so far, as if the run stopped now with `reason`."""
        if error:
            self.diagnostics.append(f"error: {error}")
        return RunResult(
            final_text=self.final_text,
            stop_reason=reason,
            turns=self.turns,
            messages=list(self.builder.messages),
            tool_calls=list(self.tool_calls),
            usage=self.usage,
            diagnostics=list(self.diagnostics),
            output=self.output,
            error=error,
        )

    def finish(self, result: RunResult) -> None:
        """Log the end of the run."""
        self.log(
            "run_finished",
            stop_reason=result.stop_reason,
            final=result.final_text,
            turns=result.turns,
            usage=result.usage.to_dict(),
            error=result.error,
        )

    def log(self, event: str, **fields: Any) -> None:
        """Write one transcript record (flushed at once), when the run has a transcript."""
        if self.transcript is not None:
            self.transcript.write(event, run=self.run_id, **fields)


def _completion_fields(step: int, completion: SampledCompletion, prompt_used: int) -> dict[str, Any]:
    """The fields every `completion` record starts with, appended or discarded."""
    finish = completion.finish_reason
    return {
        "step": step,
        "sampled": completion.sampled,
        "finish_reason": finish.value if finish else None,
        "stop_token": completion.stop_token,
        "usage": {"prompt_tokens": prompt_used, "completion_tokens": len(completion.sampled)},
    }
