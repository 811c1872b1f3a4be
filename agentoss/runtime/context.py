"""Context-window fitting: never send a prompt that cannot fit; elide the oldest tool outputs first."""

from __future__ import annotations

from collections.abc import Callable

from agentoss.harmony import Message, PromptBuilder, count_tokens

__all__ = ["ELISION_MARKER", "fit_prompt"]

ELISION_MARKER = "[tool output elided to fit the context window"


def fit_prompt(
    builder: PromptBuilder,
    window: int | None,
    room_needed: int,
    on_elide: Callable[[Message], None] | None = None,
) -> list[int] | None:
    """The prompt to send, leaving `room_needed` tokens for output; None when it cannot fit.

    When it does not fit, tool outputs of the current turn (after the last user message) are
    replaced by a marker, oldest first, until it fits; the prompt is re-rendered once per batch of
    elisions, not once per elided output. `on_elide` is told about each elided message. Earlier
    turns are never rewritten.
    """
    prompt = builder.tokens
    if window is None or len(prompt) + room_needed <= window:
        return prompt
    messages = list(builder.messages)
    turn_start = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1) + 1
    candidates = [
        i
        for i in range(turn_start, len(messages))
        if messages[i].role == "tool" and not messages[i].content.startswith(ELISION_MARKER)
    ]
    while candidates:
        # Elide as many of the oldest outputs as the estimate says are needed, then re-render once:
        # a full re-render costs ~0.1-0.2 s at 100k tokens, so one per elided output would add up.
        excess = len(prompt) + room_needed - window
        saved = 0
        while candidates and saved < excess:
            index = candidates.pop(0)
            message = messages[index]
            marker = f"{ELISION_MARKER}: {len(message.content)} characters]"
            saved += max(count_tokens(message.content) - count_tokens(marker), 0)
            messages[index] = Message.tool_result(message.author or "tool", marker, channel=message.channel)
            if on_elide is not None:
                on_elide(message)
        builder.rebuild(messages)
        prompt = builder.tokens
        if len(prompt) + room_needed <= window:
            return prompt
    return None
