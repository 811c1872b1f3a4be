"""Context-window fitting: never send a prompt that cannot fit; elide the oldest tool outputs first."""

from __future__ import annotations

from collections.abc import Callable

from agentoss.harmony import Message, PromptBuilder

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
    replaced by a marker one at a time, oldest first, re-rendering the prompt after each, until it
    fits. `on_elide` is told about each elided message. Earlier turns are never rewritten.
    """
    prompt = builder.tokens
    if window is None or len(prompt) + room_needed <= window:
        return prompt
    messages = list(builder.messages)
    turn_start = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1) + 1
    for index in range(turn_start, len(messages)):
        message = messages[index]
        if message.role != "tool" or message.content.startswith(ELISION_MARKER):
            continue
        messages[index] = Message.tool_result(
            message.author or "tool",
            f"{ELISION_MARKER}: {len(message.content)} characters]",
            channel=message.channel,
        )
        builder.rebuild(messages)
        if on_elide is not None:
            on_elide(message)
        prompt = builder.tokens
        if len(prompt) + room_needed <= window:
            return prompt
    return None
