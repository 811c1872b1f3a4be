"""Pulling answers out of final messages: `\\boxed{}` contents, integers, and fenced code blocks."""

from __future__ import annotations

import re

__all__ = ["extract_boxed", "extract_code", "extract_final_answer", "extract_integer"]

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def extract_boxed(text: str) -> str | None:
    """The contents of the last `\\boxed{...}` (nested braces allowed), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth = 0
    begin = start + len("\\boxed{")
    for index in range(begin, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return text[begin:index].strip()
            depth -= 1
    return None


def extract_final_answer(text: str | None) -> str:
    """A short answer: the last `\\boxed{}`, else the last number, else the stripped last line."""
    if not text:
        return ""
    boxed = extract_boxed(text)
    if boxed is not None:
        return boxed
    numbers = _NUMBER.findall(text)
    if numbers:
        return numbers[-1].replace(",", "")
    return text.strip().splitlines()[-1].strip() if text.strip() else ""


def extract_integer(text: str | None) -> int | None:
    """An integer answer (AIME style): from `\\boxed{}` when present, else the last integer in the text."""
    if not text:
        return None
    boxed = extract_boxed(text)
    source = boxed if boxed is not None else text
    numbers = re.findall(r"-?\d[\d,]*", source)
    if not numbers:
        return None
    try:
        return int(numbers[-1].replace(",", ""))
    except ValueError:
        return None


def extract_code(text: str | None) -> str:
    """The last fenced python code block of a message, else the whole message."""
    if not text:
        return ""
    blocks = _FENCE.findall(text)
    return blocks[-1] if blocks else text
