"""Sampled ids from servers that return text: exact re-encoding of harmony text, and the lost stop token.

Some servers hand back text instead of token ids (Ollama; vLLM before 0.10.2 without logprobs).
Harmony control tokens are atomic in the vocabulary, so text cut right after a control token
re-encodes exactly; `TextRetokenizer` therefore emits ids only up to the last control token seen and
keeps the rest until more text (or the end) arrives. Servers that treat `<|return|>` / `<|call|>` as
end-of-generation often drop that token; `infer_stop_token` / `restore_stop` restore it from the last
message header.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agentoss.backends.base import CALL_TOKEN, RETURN_TOKEN

__all__ = ["TextRetokenizer", "infer_stop_token", "restore_stop"]

_CONTROL = re.compile(r"<\|(?:start|end|message|channel|constrain|return|call|endoftext|startoftext)\|>")
_START = 200006
_MESSAGE = 200008


class TextRetokenizer:
    """Feeds streamed harmony text, yields token ids whose encoding can no longer change."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> list[int]:
        """Ids for the text up to the last control token received so far."""
        self._pending += text
        end = 0
        for match in _CONTROL.finditer(self._pending):
            end = match.end()
        if not end:
            return []
        settled, self._pending = self._pending[:end], self._pending[end:]
        return _encode(settled)

    def finish(self) -> list[int]:
        """Ids for whatever text is left."""
        rest, self._pending = self._pending, ""
        return _encode(rest) if rest else []


def _encode(text: str) -> list[int]:
    from agentoss.harmony.encoding import encode_special

    return encode_special(text)


def infer_stop_token(sampled: Sequence[int]) -> int:
    """`<|call|>` when the message being written is addressed (`to=` in its header), else `<|return|>`."""
    start = 0
    for i in range(len(sampled) - 1, -1, -1):
        if sampled[i] == _START:
            start = i + 1
            break
    end = start
    while end < len(sampled) and sampled[end] != _MESSAGE:
        end += 1
    from agentoss.harmony.encoding import decode

    return CALL_TOKEN if "to=" in decode(sampled[start:end]) else RETURN_TOKEN


def restore_stop(ids: list[int], sampled: list[int], prompt: list[int]) -> tuple[list[int], int]:
    """The last chunk's `ids` ending with the stop token (added when the server dropped it), and that token.

    `sampled` is the whole completion so far (`ids` included), `prompt` what it continues.
    """
    if sampled and sampled[-1] in (RETURN_TOKEN, CALL_TOKEN):
        return ids, sampled[-1]
    stop = infer_stop_token(prompt[-512:] + sampled)
    return [*ids, stop], stop
