"""Agent run results -> the JSON transcript and counters an `Attempt` keeps (duck-typed on `RunResult`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentoss.evals.core import Attempt

__all__ = ["attempt_from_results", "message_to_dict"]

_MESSAGE_FIELDS = ("role", "author", "recipient", "channel", "content_type", "content")


def message_to_dict(message: Any) -> dict[str, Any]:
    """A harmony `Message` (or anything with its fields) as a plain dict without empty fields."""
    if isinstance(message, dict):
        return {k: v for k, v in message.items() if v is not None}
    out = {name: getattr(message, name, None) for name in _MESSAGE_FIELDS}
    return {k: v for k, v in out.items() if v is not None}


def attempt_from_results(results: Sequence[Any], prediction: Any) -> Attempt:
    """Merge the `RunResult`s of one sample (one per user turn, in order) into an `Attempt`.

    Each result holds the whole conversation as the loop kept it, in which earlier turns' reasoning
    has already been dropped; so each turn is taken from its own result, from its user message on,
    and the transcript keeps every turn's reasoning.
    """
    transcript: list[dict[str, Any]] = []
    prompt_tokens = completion_tokens = turns = tool_calls = 0
    for index, result in enumerate(results):
        messages = [message_to_dict(m) for m in getattr(result, "messages", None) or []]
        users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
        start = users[index] if index < len(users) else (users[-1] if users else 0)
        transcript.extend(messages[start:])
        usage = getattr(result, "usage", None)
        prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
        turns += int(getattr(result, "turns", 0) or 0)
        tool_calls += len(getattr(result, "tool_calls", None) or [])
    last = results[-1] if results else None
    return Attempt(
        prediction=prediction,
        final_text=getattr(last, "final_text", None),
        stop_reason=str(getattr(last, "stop_reason", "final")) if last is not None else "final",
        turns=turns,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        tool_calls=tool_calls,
        transcript=transcript,
    )
