"""The page model of the browser: what one cursor shows, plus the text rules every page obeys.

A `Page` is immutable: its text (already converted to the trained display form, links written as
`【id†text】` / `【id†text†domain】`), its link table and, once, its text wrapped at 80 columns. Search
and find results are pages too (`kind` says which), so every view goes through the same renderer.
"""

from __future__ import annotations

import itertools
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlparse

__all__ = [
    "MAX_TITLE_CHARS",
    "WRAP_WIDTH",
    "Page",
    "PageKind",
    "clean_title",
    "get_domain",
    "replace_special_chars",
    "strip_links",
    "wrap_lines",
]

WRAP_WIDTH = 80
PageKind = Literal["page", "search", "find", "source"]

MAX_TITLE_CHARS = 200
"""Longest title shown; a longer one is cut and ends with `…`."""

# The model reads 【】 as link / citation brackets, so literal ones in page text must not look alike.
_SPECIAL = {"【": "〖", "】": "〗", "◼": "◾", "\u200b": "", "\r\n": "\n", "\r": "\n"}
# Control characters (C0 but tab and newline, DEL, C1) and the bidi embedding / override / isolate
# characters: terminal escapes and text reordering that a page could aim at the model or a log.
_CONTROLS = "\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_SPECIAL_RE = re.compile("|".join(map(re.escape, _SPECIAL)) + f"|[{_CONTROLS}]+")
_WHITESPACE_RE = re.compile(r"\s+")

_PARTIAL_INITIAL_LINK = re.compile(r"^[^【】]*】")
_PARTIAL_FINAL_LINK = re.compile(r"【\d*(?:†(?P<content>[^†】]*)(?:†[^†】]*)?)?$")
_LINK = re.compile(r"【\d+†(?P<content>[^†】]+)(?:†[^†】]+)?】")


def replace_special_chars(text: str) -> str:
    """Turn literal 【 】 into 〖 〗 so page text never forges a link; drop controls and bidi overrides.

    Zero-width spaces, control characters other than tab and newline, and the bidi embedding,
    override and isolate characters are removed; CR LF and lone CR become LF.
    """
    return _SPECIAL_RE.sub(lambda match: _SPECIAL.get(match.group(), ""), text)


def clean_title(title: str, limit: int = MAX_TITLE_CHARS) -> str:
    """A title fit for the one-line header: special characters replaced, whitespace collapsed, capped.

    A title longer than `limit` characters is cut at `limit - 1` and ends with `…`.
    """
    title = _WHITESPACE_RE.sub(" ", replace_special_chars(title)).strip()
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def get_domain(url: str) -> str:
    """The host part of a URL (`netloc`), also for scheme-less URLs; empty when there is none."""
    netloc = urlparse(url).netloc
    if not netloc and url and "://" not in url and not url.startswith("/"):
        netloc = urlparse("http://" + url).netloc
    return netloc


def wrap_lines(text: str, width: int = WRAP_WIDTH) -> list[str]:
    """Split at newlines and wrap each line at `width` columns, keeping empty lines and inner spaces."""
    return list(
        itertools.chain.from_iterable(
            textwrap.wrap(line, width=width, replace_whitespace=False, drop_whitespace=False)
            if line
            else [""]
            for line in text.split("\n")
        )
    )


def strip_links(text: str) -> str:
    """Replace `【id†text(†domain)】` by its text, including links cut at the start or end of `text`."""
    text = _PARTIAL_INITIAL_LINK.sub("", text)
    text = _PARTIAL_FINAL_LINK.sub(lambda match: match.group("content") or "", text)
    return _LINK.sub(lambda match: match.group("content"), text)


@dataclass(frozen=True)
class Page:
    """One browsable page as the model sees it."""

    url: str
    """The page's address ("" for search results, which have none)."""
    title: str
    text: str
    """Display text: links already rendered as `【id†text(†domain)】`, literal brackets escaped."""
    links: Mapping[int, str] = field(default_factory=dict)
    """Link id -> absolute URL."""
    kind: PageKind = "page"
    targets: Mapping[int, int] = field(default_factory=dict)
    """Find results only: link id -> the line of the target page the match is on."""
    source: str | None = None
    """The raw document (HTML, Markdown, ...) shown by `view_source`; None when the text is the source."""
    lines: list[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", wrap_lines(self.text))
