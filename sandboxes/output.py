"""Turn untrusted bytes from a sandbox into text a model can read: capped, decoded, escape codes removed."""

from __future__ import annotations

import re

__all__ = ["DEFAULT_OUTPUT_LIMIT", "cap_bytes", "clean_output"]

DEFAULT_OUTPUT_LIMIT = 32 * 1024
"""Bytes of output kept per execution (half from the start, half from the end)."""

# CSI, OSC (ended by BEL or ST), other two-byte escapes, then C0/C1 controls except tab and newline.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def cap_bytes(data: bytes, limit: int = DEFAULT_OUTPUT_LIMIT) -> bytes:
    """Keep the first and last `limit // 2` bytes of `data`, marking how much was cut in between."""
    if len(data) <= limit:
        return data
    half = limit // 2
    cut = len(data) - 2 * half
    return data[:half] + f"\n[... {cut} bytes of output omitted ...]\n".encode() + data[-half:]


def clean_output(data: bytes, limit: int = DEFAULT_OUTPUT_LIMIT) -> str:
    """Cap, decode with replacement (never raises on invalid UTF-8) and strip terminal escape codes."""
    text = cap_bytes(data, limit).decode("utf-8", errors="replace")
    text = text.replace("\r\n", "\n")
    return _ESCAPES.sub("", text.replace("\r", "\n"))
