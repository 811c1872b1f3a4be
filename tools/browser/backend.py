"""The one interface behind the browser (`SearchBackend`: search + fetch), its errors and its fake.

Backends return data, never display text: `search` returns `SearchResult`s and `fetch` returns a
`Page`. A failure the model should read (not found, refused, timed out, HTTP error) is a `FetchError`;
the browser turns it into plain-text tool output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agentoss.tools.browser.convert import html_to_page, markdown_to_page, text_to_page
from agentoss.tools.browser.page import Page

from agentoss.runtime.tool import ToolError

__all__ = ["FakeSearchBackend", "FetchError", "SearchBackend", "SearchResult"]


class FetchError(ToolError):
    """A search or fetch failed in a way the model should read (the message is shown verbatim)."""


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One search hit."""

    url: str
    title: str
    snippet: str = ""


@runtime_checkable
class SearchBackend(Protocol):
    """Where the browser searches and fetches pages."""

    @property
    def source(self) -> str:
        """The source name declared to the model (`sources=...` in the browser description)."""
        ...

    async def search(self, query: str, topn: int) -> list[SearchResult]:
        """At most `topn` results for `query`, best first. Raises `FetchError`."""
        ...

    async def fetch(self, url: str) -> Page:
        """The page at `url` (an http(s) URL or an id the backend issued). Raises `FetchError`."""
        ...

    async def aclose(self) -> None:
        """Release clients and files."""
        ...


class FakeSearchBackend:
    """An in-memory backend: documents given as `url -> text` (HTML, Markdown or plain, by extension / sniff).

    Search is a case-insensitive count of query words; it exists for tests of code that uses the browser.
    """

    def __init__(self, documents: Mapping[str, str], *, source: str = "web") -> None:
        self._documents = dict(documents)
        self._source = source
        self.fetched: list[str] = []

    @property
    def source(self) -> str:
        return self._source

    def _page(self, url: str) -> Page:
        body = self._documents[url]
        if body.lstrip().startswith("<"):
            return html_to_page(body, url)
        if url.endswith(".md"):
            return markdown_to_page(body, url)
        return text_to_page(body, url)

    async def search(self, query: str, topn: int) -> list[SearchResult]:
        words = [word for word in query.lower().split() if word]
        scored: list[tuple[int, str]] = []
        for url, body in self._documents.items():
            score = sum(body.lower().count(word) for word in words)
            if score:
                scored.append((-score, url))
        results = []
        for _, url in sorted(scored)[:topn]:
            page = self._page(url)
            snippet = " ".join(line for line in page.lines[2:5] if line).strip()
            results.append(SearchResult(url=url, title=page.title, snippet=snippet))
        return results

    async def fetch(self, url: str) -> Page:
        self.fetched.append(url)
        if url not in self._documents:
            raise FetchError(f"404 Not Found: {url}")
        return self._page(url)

    async def aclose(self) -> None:
        return None
