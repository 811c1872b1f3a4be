"""Typed events of the streaming parser and the parsed completion it returns (frozen values)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from agentoss.harmony.messages import Diagnostic, Message

__all__ = [
    "ContentDelta",
    "DiagnosticEvent",
    "MessageEnd",
    "MessageStart",
    "ParseEvent",
    "ParsedCompletion",
]


@dataclass(frozen=True, slots=True)
class MessageStart:
    """A header was resolved: the message's role, channel, recipient and content type are known."""

    role: str
    channel: str | None
    """The resolved channel; a guessed one is `analysis` so reasoning is never shown as an answer."""
    recipient: str | None
    content_type: str | None
    type: ClassVar[Literal["message_start"]] = "message_start"


@dataclass(frozen=True, slots=True)
class ContentDelta:
    """New text of the current message (complete UTF-8 characters only)."""

    text: str
    channel: str | None
    """The resolved channel of the message: `final` text is always the answer, never reasoning."""
    recipient: str | None
    type: ClassVar[Literal["content_delta"]] = "content_delta"


@dataclass(frozen=True, slots=True)
class MessageEnd:
    """A message is complete (or was cut off; see the diagnostics)."""

    message: Message
    type: ClassVar[Literal["message_end"]] = "message_end"


@dataclass(frozen=True, slots=True)
class DiagnosticEvent:
    """The parser repaired or dropped something."""

    diagnostic: Diagnostic
    type: ClassVar[Literal["diagnostic"]] = "diagnostic"


ParseEvent = MessageStart | ContentDelta | MessageEnd | DiagnosticEvent


@dataclass(frozen=True, slots=True)
class ParsedCompletion:
    """Everything one sampled completion said, with what had to be repaired to read it."""

    messages: tuple[Message, ...]
    diagnostics: tuple[Diagnostic, ...]
    clean: bool
    """True when the sampled tokens are well-formed and can be appended to the prompt verbatim."""
    truncated: bool
    stop_token: int | None
    """`<|return|>`, `<|call|>` or `<|endoftext|>` when the completion ended on one, else None."""

    @property
    def tool_call(self) -> Message | None:
        """The tool call the completion ended with, if it ended with one."""
        if self.messages and self.messages[-1].is_tool_call:
            return self.messages[-1]
        return None

    @property
    def final_text(self) -> str | None:
        """The text of the last `final` message, if any."""
        for message in reversed(self.messages):
            if message.channel == "final":
                return message.content
        return None
