"""Token ids of the harmony control tokens in the o200k_harmony vocabulary (facts, no I/O)."""

from __future__ import annotations

__all__ = [
    "CALL",
    "CHANNEL",
    "CONSTRAIN",
    "END",
    "ENDOFTEXT",
    "FIRST_SPECIAL",
    "MESSAGE",
    "RETURN",
    "START",
    "STARTOFTEXT",
    "STOP_TOKENS",
    "VOCAB_SIZE",
]

STARTOFTEXT = 199998
ENDOFTEXT = 199999
RETURN = 200002
CONSTRAIN = 200003
CHANNEL = 200005
START = 200006
END = 200007
MESSAGE = 200008
CALL = 200012

FIRST_SPECIAL = STARTOFTEXT
"""Every id from here up is a special (control or reserved) token, never text."""
VOCAB_SIZE = 201088
STOP_TOKENS: tuple[int, ...] = (RETURN, CALL)
"""What the sampler stops on for assistant actions (`<|end|>` separates messages, never stop on it)."""
