"""Citations: turn `【cursor†Lx-Ly】` in a final answer into links to the page that cursor showed.

The model cites a browser view by its cursor and a line range (`【6†L9-L11】`, `【8†L3】`). After the
run, `resolve_citations` rewrites each citation as a Markdown link to the page's URL that keeps the
line range, and returns one `Citation` per resolved marker (URL, title, lines, quoted lines and the
character span of the link in the new text). Markers naming a cursor that does not exist, or a page
without an address (search results), stay as they are and are reported in `unresolved`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentoss.tools.browser.page import Page, get_domain, strip_links

if TYPE_CHECKING:
    from agentoss.tools.browser.tool import BrowserTool

__all__ = ["CITATION_PATTERN", "Citation", "CitedText", "UnresolvedCitation", "resolve_citations"]

CITATION_PATTERN = re.compile(r"【(?P<cursor>\d+)†L(?P<start>\d+)(?:\s*-\s*L?(?P<end>\d+))?】")


@dataclass(frozen=True, slots=True)
class Citation:
    """One resolved citation."""

    cursor: int
    url: str
    title: str
    lines: tuple[int, int]
    """First and last cited line (inclusive), as the model wrote them."""
    quote: str
    """The cited lines' text (links reduced to their anchor text); empty when out of the page."""
    start: int
    """Character span of the replacement in `CitedText.text`: `text[start:end]`."""
    end: int
    marker: str
    """The citation as the model wrote it."""


@dataclass(frozen=True, slots=True)
class UnresolvedCitation:
    """A citation left as written, with the reason."""

    marker: str
    cursor: int
    reason: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class CitedText:
    """The answer with citations turned into links, plus what was (not) resolved."""

    text: str
    citations: tuple[Citation, ...]
    unresolved: tuple[UnresolvedCitation, ...]


def _target(page: Page, stack: Sequence[Page]) -> tuple[str, str] | None:
    """The (url, title) a citation of `page` should link to, or None when it has no address."""
    if page.kind == "find":
        url = next(iter(page.links.values()), "")
        original = next((p for p in stack if p.url == url and p.kind == "page"), None)
        return (url, original.title if original else page.title) if url else None
    if page.kind == "source":
        return page.url.removeprefix("view-source:"), page.title
    return (page.url, page.title) if page.url else None


def _label(url: str, title: str) -> str:
    if url.startswith(("http://", "https://")):
        return get_domain(url) or title
    return title or url


def resolve_citations(text: str, browser: BrowserTool | Sequence[Page]) -> CitedText:
    """Rewrite `【c†La-Lb】` markers of `text` against the pages `browser` showed (its cursor stack)."""
    stack: Sequence[Page] = browser if isinstance(browser, Sequence) else browser.stack
    pieces: list[str] = []
    citations: list[Citation] = []
    unresolved: list[UnresolvedCitation] = []
    length = 0
    last = 0
    for match in CITATION_PATTERN.finditer(text):
        before = text[last : match.start()]
        pieces.append(before)
        length += len(before)
        last = match.end()
        cursor = int(match.group("cursor"))
        first = int(match.group("start"))
        final = int(match.group("end")) if match.group("end") is not None else first
        first, final = min(first, final), max(first, final)
        marker = match.group()
        target = _target(stack[cursor], stack) if cursor < len(stack) else None
        if target is None:
            reason = (
                f"cursor {cursor} does not exist (pages shown: {len(stack)})"
                if cursor >= len(stack)
                else f"cursor {cursor} shows a page without an address (search results)"
            )
            unresolved.append(UnresolvedCitation(marker, cursor, reason, length, length + len(marker)))
            pieces.append(marker)
            length += len(marker)
            continue
        url, title = target
        page = stack[cursor]
        quote = (
            strip_links("\n".join(page.lines[first : final + 1])).strip() if first < len(page.lines) else ""
        )
        span = f"L{first}" if first == final else f"L{first}-L{final}"
        href = url if "#" in url else f"{url}#{span}"
        link = f"[{_label(url, title)}, {span}]({href})"
        citations.append(
            Citation(cursor, url, title, (first, final), quote, length, length + len(link), marker)
        )
        pieces.append(link)
        length += len(link)
    pieces.append(text[last:])
    return CitedText(text="".join(pieces), citations=tuple(citations), unresolved=tuple(unresolved))
