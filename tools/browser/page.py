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
    "WRAP_WIDTH",
    "Page",
    "PageKind",
    "get_domain",
    "replace_special_chars",
    "strip_links",
    "wrap_lines",
]

WRAP_WIDTH = 80
PageKind = Literal["page", "search", "find", "source"]

# The model reads 【】 as link / citation brackets, so literal ones in page text must not look alike.
_SPECIAL = {"【": "〖", "】": "〗", "◼": "◾", "\u200b": ""}
_SPECIAL_RE = re.compile("|".join(map(re.escape, _SPECIAL)))

_PARTIAL_INITIAL_LINK = re.compile(r"^[^【】]*】")
_PARTIAL_FINAL_LINK = re.compile(r"【\d*(?:†(?P<content>[^†】]*)(?:†[^†】]*)?)?$")
_LINK = re.compile(r"【\d+†(?P<content>[^†】]+)(?:†[^†】]+)?】")


def replace_special_chars(text: str) -> str:
    """Turn literal 【 】 into 〖 〗 (and drop zero-width spaces) so page text never forges a link."""
    return _SPECIAL_RE.sub(lambda match: _SPECIAL[match.group()], text)


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
