"""The agent loop for one user turn: prompt -> sample -> parse -> dispatch a tool call -> repeat.

Linear on purpose. Each step: check the limits, make the prompt fit the context window (eliding the
oldest tool outputs of this turn if needed), stream a completion from the backend while parsing it
token by token (`sampling.py`), append it to the prompt (verbatim when canonical, so a step costs
only its new tokens), then either dispatch the tool call it ends with, accept its `final` answer, or
sample again. The run's ledger (`ledger.py`) keeps what happened: usage, tool calls, diagnostics,
transcript records and the result. Every way out is an explicit stop reason; a completion cut
mid-stream by the deadline or a cancellation is still kept, parsed as truncated. `AgentossError`s
end the run as `RunError` with the conversation attached.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from pydantic import BaseModel

from agentoss.backends.base import Backend, FinishReason, SamplingParams
from agentoss.errors import BackendResponseError, ContextLengthError, RunError
from agentoss.events import (
    AgentEvent,
    DiagnosticRaised,
    RunFinished,
    StepFinished,
    StepStarted,
    ToolCallFinished,
    ToolCallStarted,
)
from agentoss.harmony import Message, StreamParser
from agentoss.harmony.tokens import RETURN
from agentoss.runtime.context import fit_prompt
from agentoss.runtime.dispatch import ApproveHook, ToolRouter
from agentoss.runtime.ledger import RunLedger
from agentoss.runtime.limits import Limits, format_seconds
from agentoss.runtime.result import RunResult, StopReason, ToolCallRecord
from agentoss.runtime.sampling import (
    SampledCompletion,
    commentary_as_final,
    final_text,
    stream_completion,
    tool_call,
)
from agentoss.runtime.structured import OutputValidationError, retry_message, validate_output
from agentoss.runtime.transcript import TranscriptWriter

__all__ = ["Episode", "EpisodeSettings"]


@dataclass(frozen=True, slots=True)
class EpisodeSettings:
    """What stays fixed across the runs of one agent."""

    backend: Backend
    router: ToolRouter
    limits: Limits
    temperature: float = 1.0
    seed: int | None = None
    output_type: type[BaseModel] | None = None
    approve: ApproveHook | None = None
    transcript: TranscriptWriter | None = None


def _step_finished(step: int, prompt_tokens: int, completion: SampledCompletion) -> StepFinished:
    finish = completion.finish_reason
    return StepFinished(
        step=step,
        prompt_tokens=prompt_tokens,
        completion_tokens=len(completion.sampled),
        finish_reason=finish.value if finish else None,
    )


class _Stop(Exception):
    """Internal: the run ends with this stop reason."""

    def __init__(self, reason: StopReason, note: str | None = None) -> None:
        super().__init__(reason)
        self.reason: StopReason = reason
        self.note = note


@dataclass(slots=True)
class Episode:
    """One run: drives the ledger's conversation (which already holds the user's message) to a stop reason."""

    settings: EpisodeSettings
    ledger: RunLedger
    _deadline: float | None = None
    _window: int | None = None
    _retries: int = 0
    _elisions: int = 0

    async def events(self) -> AsyncGenerator[AgentEvent, None]:
        """Run to the end, yielding public events; the last one is always `RunFinished`."""
        limits = self.settings.limits
        ledger = self.ledger
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + limits.timeout_s if limits.timeout_s else None
        finished = False
        try:
            try:
                self._window = await self.settings.backend.context_window()
                while True:
                    self._check_limits()
                    # aclosing: a consumer that stops iterating closes the step first, so a
                    # completion cut mid-stream is kept before the run is finished as cancelled.
                    async with aclosing(self._step()) as step:
                        async for event in step:
                            yield event
            except _Stop as stop:
                if stop.note:
                    ledger.diagnostics.append(stop.note)
                result = ledger.result(stop.reason)
            except Exception as exc:
                # AgentossErrors end the run; anything else (a bug in an approval hook, a backend
                # raising outside the error tree) is mapped here so the caller sees one error type.
                result = ledger.result("error", error=f"{type(exc).__name__}: {exc}")
                ledger.finish(result)
                finished = True
                yield RunFinished(result=result)
                raise RunError(str(exc), transcript=result.messages, stop_reason="error") from exc
            ledger.finish(result)
            finished = True
            yield RunFinished(result=result)
        finally:
            if not finished:  # cancelled, or the consumer stopped iterating
                ledger.finish(ledger.result("cancelled"))

    # -- one step ---------------------------------------------------------------------------

    async def _step(self) -> AsyncGenerator[AgentEvent, None]:
        settings, limits = self.settings, self.settings.limits
        ledger = self.ledger
        prompt = self._fit_prompt()
        max_tokens = min(
            limits.max_output_tokens_per_call, limits.max_output_tokens - ledger.usage.completion_tokens
        )
        window_bound = False
        if self._window is not None and self._window - len(prompt) < max_tokens:
            max_tokens, window_bound = self._window - len(prompt), True
        ledger.turns += 1
        step = ledger.turns
        params = SamplingParams(max_tokens=max_tokens, temperature=settings.temperature, seed=settings.seed)
        ledger.log("request", step=step, prompt_tokens=len(prompt), max_tokens=max_tokens)
        yield StepStarted(step=step, prompt_tokens=len(prompt))

        completion = SampledCompletion(
            StreamParser(
                builtin_namespaces=settings.router.builtin_names,
                function_names=settings.router.function_names,
            )
        )
        try:
            deltas = stream_completion(settings.backend, prompt, params, completion, self._deadline)
            async with aclosing(deltas):
                async for event in deltas:
                    yield event
        except TimeoutError:
            self._keep_cut(step, len(prompt), completion, "timeout")
            raise self._timeout() from None
        except ContextLengthError as exc:
            raise _Stop("context_length", f"context_length: {exc}") from None
        except (asyncio.CancelledError, GeneratorExit):
            self._keep_cut(step, len(prompt), completion, "cancelled")
            raise
        finish = completion.finish_reason
        if finish in (FinishReason.ERROR, FinishReason.ABORT):
            detail = (completion.last.error if completion.last is not None else None) or "no detail"
            raise BackendResponseError(f"the backend ended the completion with {finish.value}: {detail}")
        truncated = finish == FinishReason.LENGTH
        parsed = completion.finish(truncated=truncated)
        if truncated and window_bound and self._make_room(step, len(prompt), completion):
            yield _step_finished(step, completion.prompt_tokens(len(prompt)), completion)
            return  # sample again, with the room the elided outputs freed
        prompt_used = ledger.record(step, len(prompt), completion)
        for diagnostic in parsed.diagnostics:
            yield DiagnosticRaised(
                code=diagnostic.code, message=diagnostic.message, severity=diagnostic.severity
            )

        call = tool_call(parsed)
        if call is not None and not truncated:
            async for event in self._dispatch(call):
                yield event
        yield _step_finished(step, prompt_used, completion)
        if call is not None and not truncated:
            return
        if truncated:
            ledger.final_text = final_text(parsed)
            reason: StopReason = "context_length" if window_bound else "max_tokens"
            raise _Stop(reason, f"{reason}: the completion was cut after {len(completion.sampled)} tokens")
        final = final_text(parsed)
        if final is None and parsed.stop_token == RETURN:
            final = commentary_as_final(parsed)
            if final is not None:
                ledger.diagnostics.append(
                    "final_on_commentary: an answer ended on commentary; taken as final"
                )
        if final is None:
            ledger.diagnostics.append(
                "no_final: the completion held no final answer or tool call; sampling again"
            )
            return
        ledger.final_text = final
        self._accept_final(final)

    def _make_room(self, step: int, sent: int, completion: SampledCompletion) -> bool:
        """After the context window cut a completion: discard it and elide this turn's oldest tool outputs.

        Room is made for a completion as long as the cut one plus the output reserve. False, with the
        conversation untouched by the cut, when nothing was left to elide (the run then stops with
        `context_length`). The cut completion is counted in the usage but never appended: the prompt
        is re-rendered by the elision anyway, and the model samples the step again.
        """
        elisions = self._elisions
        room = len(completion.sampled) + self._room_needed()
        fit_prompt(self.ledger.builder, self._window, room, self._elided)
        if self._elisions == elisions:
            return False
        self.ledger.discard(step, sent, completion, reason="context_window")
        self.ledger.diagnostics.append(
            f"context_cut: the context window cut a completion after {len(completion.sampled)} tokens; "
            f"discarded, {self._elisions - elisions} tool output(s) elided, sampling again"
        )
        return True

    def _keep_cut(self, step: int, sent: int, completion: SampledCompletion, cause: StopReason) -> None:
        """Keep a completion the deadline or a cancellation cut mid-stream, parsed as truncated.

        Synchronous on purpose: it runs while a cancellation unwinds. The partial messages are
        appended like a `max_tokens` cut (canonically re-rendered), so the prompt stays append-only.
        """
        ledger = self.ledger
        if not completion.sampled:
            return
        parsed = completion.finish(truncated=True)
        ledger.diagnostics.append(
            f"cut: the completion was cut by {'the timeout' if cause == 'timeout' else 'cancellation'} "
            f"after {len(completion.sampled)} tokens; its partial messages are kept"
        )
        ledger.record(step, sent, completion, cut=cause)
        if cause == "timeout":
            ledger.final_text = final_text(parsed)

    def _accept_final(self, final: str) -> None:
        output_type = self.settings.output_type
        if output_type is None:
            raise _Stop("final")
        try:
            self.ledger.output = validate_output(output_type, final)
        except OutputValidationError as exc:
            if self._retries >= self.settings.limits.max_output_retries:
                raise _Stop(
                    "error",
                    f"output_invalid: output did not validate against {output_type.__name__} "
                    f"after {self._retries} retries: {exc}",
                ) from None
            self._retries += 1
            self.ledger.diagnostics.append(f"output_invalid: {exc} (retry {self._retries})")
            self.ledger.builder.append_message(Message.user(retry_message(output_type, str(exc))))
            return
        raise _Stop("final")

    async def _dispatch(self, call: Message) -> AsyncIterator[AgentEvent]:
        settings, limits = self.settings, self.settings.limits
        _, routed = settings.router.route(call)
        yield ToolCallStarted(recipient=routed.recipient, channel=routed.channel, arguments=routed.arguments)
        refuse = None
        if len(self.ledger.tool_calls) >= limits.max_tool_calls:
            refuse = f"Tool call limit reached ({limits.max_tool_calls}). Answer now without calling tools."
        self._check_deadline()
        outcome = await settings.router.dispatch(
            call,
            timeout_s=limits.tool_timeout_s,
            max_output_chars=limits.max_tool_output_chars,
            approve=settings.approve,
            refuse=refuse,
            deadline=self._deadline,
        )
        record = ToolCallRecord(
            recipient=routed.recipient,
            channel=routed.channel,
            arguments=routed.arguments,
            output=outcome.output,
            is_error=outcome.is_error,
            duration_s=outcome.duration_s,
        )
        self.ledger.tool_call(record)
        self.ledger.builder.append_message(outcome.message())
        yield ToolCallFinished(
            recipient=record.recipient,
            output=record.output,
            is_error=record.is_error,
            duration_s=record.duration_s,
        )
        self._check_deadline()

    # -- limits and the context window -------------------------------------------------------

    def _check_limits(self) -> None:
        limits = self.settings.limits
        self._check_deadline()
        if self.ledger.turns >= limits.max_turns:
            raise _Stop("max_turns", f"max_turns: no final answer after {self.ledger.turns} model calls")
        if self.ledger.usage.completion_tokens >= limits.max_output_tokens:
            raise _Stop(
                "max_tokens", f"max_tokens: {self.ledger.usage.completion_tokens} tokens sampled in this run"
            )

    def _check_deadline(self) -> None:
        if self._deadline is not None and asyncio.get_running_loop().time() >= self._deadline:
            raise self._timeout()

    def _timeout(self) -> _Stop:
        limit = self.settings.limits.timeout_s
        return _Stop("timeout", f"timeout: the run's limit of {format_seconds(limit or 0)} s was reached")

    def _fit_prompt(self) -> list[int]:
        """The prompt to send, after eliding old tool outputs of this turn if it does not fit."""
        room_needed, builder = self._room_needed(), self.ledger.builder
        prompt = fit_prompt(builder, self._window, room_needed, self._elided)
        if prompt is None:
            raise _Stop(
                "context_length",
                f"context_length: the prompt needs {len(builder.tokens)} + {room_needed} tokens; "
                f"the window holds {self._window}",
            )
        return prompt

    def _room_needed(self) -> int:
        limits = self.settings.limits
        return min(limits.reserve_output_tokens, limits.max_output_tokens_per_call)

    def _elided(self, message: Message) -> None:
        self._elisions += 1
        self.ledger.diagnostics.append(
            f"elided: the output of {message.author} was elided to fit the context window"
        )
        self.ledger.log("elided", author=message.author, characters=len(message.content))

    def snapshot(self, reason: StopReason) -> RunResult:
        """The result so far, as if the run stopped now with `reason` (e.g. after a cancellation)."""
        return self.ledger.result(reason)
