"""Streaming parser for sampled harmony completions: token ids in, typed events out, never raises.

Pure Python over token ids (content bytes come from a table read once from the vocabulary), O(1)
amortised work per token: a content token costs one table lookup and one incremental UTF-8 decode;
a header is buffered (at most `MAX_HEADER_TOKENS`) and resolved once by `agentoss.harmony.header`.
Malformed output (REFERENCE.md, "Malformed outputs seen in the wild") is repaired where the intent is
unambiguous and reported as a `Diagnostic` either way; what cannot be read is dropped with a diagnostic.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Sequence

from agentoss.harmony.encoding import special_token_text, token_bytes_table, token_text_table
from agentoss.harmony.events import (
    ContentDelta,
    DiagnosticEvent,
    MessageEnd,
    MessageStart,
    ParsedCompletion,
    ParseEvent,
)
from agentoss.harmony.header import (
    Header,
    HeaderPart,
    RecipientPolicy,
    resolve_header,
    split_missing_message,
)
from agentoss.harmony.messages import Diagnostic, Message, Severity
from agentoss.harmony.tokens import (
    CALL,
    CHANNEL,
    CONSTRAIN,
    END,
    ENDOFTEXT,
    FIRST_SPECIAL,
    MESSAGE,
    RETURN,
    START,
    VOCAB_SIZE,
)

__all__ = ["MAX_HEADER_TOKENS", "StreamParser", "parse_completion"]

MAX_HEADER_TOKENS = 48
"""A header longer than this never saw `<|message|>`: the rest is read as content."""

_HEADER, _CONTENT, _BETWEEN, _STOPPED = range(4)
_TERMINATORS = frozenset({END, RETURN, CALL, ENDOFTEXT})
_PART_KINDS = {CHANNEL: "channel", CONSTRAIN: "constrain"}


def _new_decoder() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")("replace")


class StreamParser:
    """Parse what the model sampled after a prompt ending in `<|start|>assistant`, token by token."""

    def __init__(
        self,
        builtin_namespaces: Iterable[str] = ("python", "browser"),
        function_names: Iterable[str] | None = None,
    ) -> None:
        self._policy = RecipientPolicy.of(builtin_namespaces, function_names)
        self._table = token_bytes_table()
        self._texts = token_text_table()
        self._vocab = len(self._table)
        self._messages: list[Message] = []
        self._diagnostics: list[Diagnostic] = []
        self._dirty = False
        self._stop_token: int | None = None
        self._pos = 0
        self._state = _HEADER
        self._begin_header(implied=True)
        self._header_after_end = False
        self._content: list[str] = []
        self._decoder = _new_decoder()
        self._decode = self._decoder.decode
        self._whole_chars = True
        """No partial UTF-8 character pending: a token's text can come straight from the table."""
        self._current: Header = Header()
        self._channel: str | None = None
        self._recipient: str | None = None
        self._ignored_after_stop = False
        self._finished: ParsedCompletion | None = None

    # -- public API ---------------------------------------------------------------------------

    def feed(self, token: int) -> list[ParseEvent]:
        """Consume one sampled token; return the events it completes."""
        if self._state == _CONTENT and 0 <= token < self._vocab:
            self._pos += 1
            text = self._texts[token] if self._whole_chars else None
            if text is None:
                text = self._decode(self._table[token])
                self._whole_chars = not self._decoder.getstate()[0]
                if not text:
                    return []
            self._content.append(text)
            return [ContentDelta(text, self._channel, self._recipient)]
        events: list[ParseEvent] = []
        self._feed_slow(token, events)
        self._pos += 1
        return events

    def feed_many(self, tokens: Sequence[int]) -> list[ParseEvent]:
        """Consume several tokens; runs of content tokens become one `ContentDelta` each."""
        events: list[ParseEvent] = []
        table, vocab = self._table, self._vocab
        i, n = 0, len(tokens)
        while i < n:
            if self._state == _CONTENT:
                j = i
                while j < n and 0 <= tokens[j] < vocab:
                    j += 1
                if j > i:
                    text = self._decode(b"".join([table[t] for t in tokens[i:j]]))
                    self._whole_chars = not self._decoder.getstate()[0]
                    self._pos += j - i
                    if text:
                        self._content.append(text)
                        events.append(ContentDelta(text, self._channel, self._recipient))
                    i = j
                    continue
            self._feed_slow(tokens[i], events)
            self._pos += 1
            i += 1
        return events

    def finish(self, truncated: bool = False) -> ParsedCompletion:
        """End of the sampled tokens: close what is open and return the parsed completion (once)."""
        if self._finished is not None:
            return self._finished
        events: list[ParseEvent] = []
        if self._state == _HEADER and (self._parts_have_text() or not self._implied):
            if truncated:
                self._diagnose(events, "truncated", "output cut off inside a message header", "dropped")
            else:
                self._resolve_without_message(events, None)
                self._end_message(events, None)
        elif self._state == _CONTENT:
            if truncated:
                self._diagnose(events, "truncated", "output cut off inside message content")
            else:
                self._diagnose(events, "no_stop_token", "message not terminated", "info")
            self._end_message(events, None)
        if (
            self._stop_token is None
            and not truncated
            and not any(d.code == "no_stop_token" for d in self._diagnostics)
        ):
            self._diagnose(events, "no_stop_token", "completion ended without a stop token", "info")
        ended_with_call = bool(self._messages) and self._messages[-1].is_tool_call
        has_final = any(m.channel == "final" for m in self._messages)
        if (
            self._stop_token in (RETURN, ENDOFTEXT, None)
            and not truncated
            and not has_final
            and not ended_with_call
        ):
            self._diagnose(events, "no_final_answer", "no final answer and no tool call", "info")
        clean = (
            not self._dirty and not truncated and self._stop_token in (RETURN, CALL) and bool(self._messages)
        )
        self._finished = ParsedCompletion(
            messages=tuple(self._messages),
            diagnostics=tuple(self._diagnostics),
            clean=clean,
            truncated=truncated,
            stop_token=self._stop_token,
        )
        return self._finished

    # -- state machine ------------------------------------------------------------------------

    def _feed_slow(self, token: int, events: list[ParseEvent]) -> None:
        state = self._state
        if state == _STOPPED:
            if not self._ignored_after_stop:
                self._ignored_after_stop = True
                self._diagnose(events, "tokens_after_stop", "tokens after the stop token ignored", "dropped")
        elif state == _CONTENT:
            self._content_special(token, events)
        elif state == _HEADER:
            self._header_token(token, events)
        else:
            self._between_token(token, events)

    def _begin_header(self, *, implied: bool) -> None:
        self._state = _HEADER
        self._implied = implied
        self._parts: list[HeaderPart] = [HeaderPart("head")]
        self._head_bytes = bytearray()
        self._head_count = 0
        self._header_start = self._pos

    def _flush_head_bytes(self) -> None:
        if self._head_bytes:
            self._parts[-1].text += self._head_bytes.decode("utf-8", "replace")
            self._head_bytes.clear()

    def _parts_have_text(self) -> bool:
        return bool(self._head_bytes) or len(self._parts) > 1 or bool(self._parts[0].text)

    def _header_token(self, token: int, events: list[ParseEvent]) -> None:
        self._head_count += 1
        if 0 <= token < self._vocab:
            self._head_bytes += self._table[token]
            if self._head_count > MAX_HEADER_TOKENS:
                self._resolve_without_message(events, None)
        elif token in _PART_KINDS:
            self._flush_head_bytes()
            self._parts.append(HeaderPart(_PART_KINDS[token]))
        elif token == MESSAGE:
            self._flush_head_bytes()
            if self._header_after_end:
                self._diagnose(events, "missing_start", "message header without <|start|>")
            self._start_message(
                resolve_header(self._parts, implied=self._implied, policy=self._policy), events
            )
        elif token == START:
            if self._parts_have_text():
                self._flush_head_bytes()
                code = "stray_text" if self._header_after_end else "abandoned_header"
                text = "".join(p.text for p in self._parts).strip()
                self._diagnose(events, code, f"dropped {text[:80]!r} before <|start|>", "dropped")
            elif self._implied and not self._header_after_end:
                self._diagnose(events, "duplicate_start", "completion began with <|start|> again")
            else:
                self._diagnose(events, "doubled_start", "extra <|start|> ignored")
            self._header_after_end = False
            self._begin_header(implied=False)
        elif token in _TERMINATORS:
            if not self._parts_have_text() and self._implied:
                self._stop_or_between(token, events)
                return
            self._resolve_without_message(events, token)
            self._end_message(events, token)
        else:
            self._unexpected(token, events)

    def _between_token(self, token: int, events: list[ParseEvent]) -> None:
        if token == START:
            self._begin_header(implied=False)
        elif token in (RETURN, CALL, ENDOFTEXT):
            self._diagnose(events, "stop_after_end", "stop token after <|end|>")
            self._stop_token = token
            self._state = _STOPPED
        elif token == END:
            self._diagnose(events, "doubled_end", "extra <|end|> ignored")
        elif 0 <= token < self._vocab or token in _PART_KINDS or token == MESSAGE:
            # Text or a header marker where `<|start|>` belongs: read it as a header without one.
            self._begin_header(implied=True)
            self._header_after_end = True
            self._header_token(token, events)
        else:
            self._unexpected(token, events)

    def _content_special(self, token: int, events: list[ParseEvent]) -> None:
        if token in _TERMINATORS:
            self._end_message(events, token)
        elif token in (START, CHANNEL):
            self._diagnose(events, "missing_end", "message not closed with <|end|> before a new header")
            self._end_message(events, None)
            self._begin_header(implied=token == CHANNEL)
            if token == CHANNEL:
                self._header_token(token, events)
        else:
            self._unexpected(token, events)

    def _unexpected(self, token: int, events: list[ParseEvent]) -> None:
        name = special_token_text(token) if FIRST_SPECIAL <= token < VOCAB_SIZE else str(token)
        self._diagnose(events, "unexpected_token", f"unexpected token {name} ignored", "dropped")

    def _stop_or_between(self, token: int, events: list[ParseEvent]) -> None:
        if token == END:
            self._diagnose(events, "empty_message", "<|end|> without a message")
            self._state = _BETWEEN
        else:
            self._diagnose(events, "empty_message", "stop token without a message")
            self._stop_token = token
            self._state = _STOPPED

    # -- messages -----------------------------------------------------------------------------

    def _resolve_without_message(self, events: list[ParseEvent], terminator: int | None) -> None:
        self._flush_head_bytes()
        last = self._parts[-1]
        role_expected = last.kind == "head" and not self._implied
        head_text, content = split_missing_message(last.text, role_expected=role_expected)
        last.text = head_text
        header = resolve_header(self._parts, implied=self._implied, policy=self._policy)
        if terminator is not None and header.provisional_channel:
            header.channel = "final" if terminator == RETURN else header.channel
            header.provisional_channel = terminator != RETURN
        self._diagnose(events, "missing_message_token", "header ran into content without <|message|>")
        self._start_message(header, events)
        if content:
            self._content.append(content)
            if not header.discard:
                events.append(ContentDelta(content, self._channel, self._recipient))

    def _start_message(self, header: Header, events: list[ParseEvent]) -> None:
        self._header_after_end = False
        span = (self._header_start, self._pos + 1)
        for code, text, severity in header.repairs:
            self._diagnose(events, code, text, severity, span=span)
        self._current = header
        self._channel = header.channel
        self._recipient = header.recipient
        self._content = []
        self._decoder = _new_decoder()
        self._decode = self._decoder.decode
        self._whole_chars = True
        self._state = _CONTENT
        self._message_start = self._pos
        if not header.discard:
            events.append(MessageStart("assistant", header.channel, header.recipient, header.content_type))

    def _end_message(self, events: list[ParseEvent], terminator: int | None) -> None:
        tail = self._decode(b"", True)
        if tail:
            self._content.append(tail)
            if not self._current.discard:
                events.append(ContentDelta(tail, self._channel, self._recipient))
        header = self._current
        channel = header.channel
        if header.provisional_channel and terminator == RETURN:
            channel = "final"
            self._diagnose(
                events, "channel_from_stop", "message without a valid channel ended the turn: final"
            )
        if terminator == CALL and header.recipient is None:
            self._diagnose(events, "call_without_recipient", "<|call|> on a message without a recipient")
        elif header.recipient is not None and terminator in (END, RETURN):
            self._diagnose(events, "call_not_stopped", "tool call not ended with <|call|>")
        message = Message(
            role="assistant",
            content="".join(self._content),
            channel=channel,
            recipient=header.recipient,
            content_type=header.content_type,
        )
        if not header.discard:
            self._messages.append(message)
            events.append(MessageEnd(message))
        self._content = []
        if terminator in (RETURN, CALL, ENDOFTEXT):
            self._stop_token = terminator
            self._state = _STOPPED
            if terminator == ENDOFTEXT:
                self._diagnose(events, "endoftext", "completion ended with <|endoftext|>", "info")
        else:
            self._state = _BETWEEN

    def _diagnose(
        self,
        events: list[ParseEvent],
        code: str,
        text: str,
        severity: Severity = "repaired",
        *,
        span: tuple[int, int] | None = None,
    ) -> None:
        if severity != "info":
            self._dirty = True
        span = span or (self._pos, self._pos + 1)
        diagnostic = Diagnostic(code=code, message=text, severity=severity, token_span=span)
        self._diagnostics.append(diagnostic)
        events.append(DiagnosticEvent(diagnostic))


def parse_completion(
    tokens: Sequence[int],
    truncated: bool = False,
    *,
    builtin_namespaces: Iterable[str] = ("python", "browser"),
    function_names: Iterable[str] | None = None,
) -> ParsedCompletion:
    """Parse a whole sampled completion (see `StreamParser`)."""
    parser = StreamParser(builtin_namespaces=builtin_namespaces, function_names=function_names)
    parser.feed_many(tokens)
    return parser.finish(truncated=truncated)
