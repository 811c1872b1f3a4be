"""Sampling one completion: stream tokens from the backend, parse them as they arrive, read the result.

`stream_completion` fills a `SampledCompletion` while yielding the public text deltas, so whoever
drives it (the step in `loop.py`) still holds every token sampled so far when the stream is cut by
the run's deadline or a cancellation. The helpers at the bottom read what a parsed completion asks
for: a tool call, a final answer, or commentary that ended the reply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from agentoss.backends.base import Backend, Chunk, FinishReason, SamplingParams
from agentoss.events import AgentEvent, CommentaryDelta, FinalTextDelta, ReasoningDelta
from agentoss.harmony import ContentDelta, Message, ParsedCompletion, StreamParser
from agentoss.harmony.messages import NOT_TOOL_RECIPIENTS

__all__ = [
    "SampledCompletion",
    "commentary_as_final",
    "delta_events",
    "final_text",
    "stream_completion",
    "tool_call",
]


@dataclass(slots=True)
class SampledCompletion:
    """One model call, filled while it streams: the tokens so far, the last chunk, then the parse."""

    parser: StreamParser
    sampled: list[int] = field(default_factory=list)
    last: Chunk | None = None
    """The latest chunk (it carries the finish reason, stop token and usage once the stream ends)."""
    parsed: ParsedCompletion | None = None
    started: float = field(default_factory=time.perf_counter)

    @property
    def finish_reason(self) -> FinishReason | None:
        return self.last.finish_reason if self.last is not None else None

    @property
    def stop_token(self) -> int | None:
        return self.last.stop_token if self.last is not None else None

    def prompt_tokens(self, sent: int) -> int:
        """Prompt tokens as the backend counted them, else the `sent` length."""
        return self.last.usage.prompt_tokens if self.last is not None and self.last.usage else sent

    def finish(self, *, truncated: bool) -> ParsedCompletion:
        """Parse what was sampled (once); `truncated` when the completion was cut before its end."""
        if self.parsed is None:
            self.parsed = self.parser.finish(truncated=truncated)
        return self.parsed

    def elapsed_s(self) -> float:
        return round(time.perf_counter() - self.started, 6)


async def stream_completion(
    backend: Backend,
    prompt: list[int],
    params: SamplingParams,
    into: SampledCompletion,
    deadline: float | None,
) -> AsyncGenerator[AgentEvent, None]:
    """Sample `prompt` into `into`, yielding reasoning / commentary / final-text deltas.

    Raises `TimeoutError` when the loop clock passes `deadline` (backend errors pass through); the
    backend stream is closed however this ends.
    """
    stream = backend.stream(prompt, params)
    try:
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await anext(stream)
            except StopAsyncIteration:
                return
            into.last = chunk
            if chunk.token_ids:
                into.sampled.extend(chunk.token_ids)
                for event in delta_events(into.parser.feed_many(chunk.token_ids)):
                    yield event
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def delta_events(events: list[Any]) -> list[AgentEvent]:
    """Public delta events for a batch of parser events, consecutive texts of one kind merged."""
    out: list[AgentEvent] = []
    kind: type[ReasoningDelta | CommentaryDelta | FinalTextDelta] | None = None
    text: list[str] = []
    for event in events:
        if not isinstance(event, ContentDelta) or event.recipient not in NOT_TOOL_RECIPIENTS:
            continue
        if event.channel == "analysis":
            this: type[ReasoningDelta | CommentaryDelta | FinalTextDelta] = ReasoningDelta
        elif event.channel == "final":
            this = FinalTextDelta
        else:
            this = CommentaryDelta
        if this is not kind and kind is not None and text:
            out.append(kind(text="".join(text)))
            text = []
        kind = this
        text.append(event.text)
    if kind is not None and text:
        out.append(kind(text="".join(text)))
    return out


def tool_call(parsed: ParsedCompletion) -> Message | None:
    """The tool call the completion ends with, if any."""
    return parsed.tool_call


def final_text(parsed: ParsedCompletion) -> str | None:
    """The text of the completion's last `final` message, if any."""
    for message in reversed(parsed.messages):
        if message.role == "assistant" and message.channel == "final":
            return message.content
    return None


def commentary_as_final(parsed: ParsedCompletion) -> str | None:
    """Commentary addressed to no tool that ended the completion (an answer on the wrong channel)."""
    last = parsed.messages[-1] if parsed.messages else None
    if (
        last is not None
        and last.role == "assistant"
        and last.channel == "commentary"
        and last.recipient in NOT_TOOL_RECIPIENTS
    ):
        return last.content
    return None
