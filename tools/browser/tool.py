"""`BrowserTool`: the `browser` built-in (search / open / find) with its per-session page stack.

Every view (search, open, scroll, find) pushes a page onto the stack; its index is the cursor shown
as `[cursor]`, and `cursor=-1` means the latest. Errors the model can act on (bad cursor, unknown
link id, location past the end, fetch failure, timeout) are raised as `ToolError` with the text the
model reads; a view that fails to render is popped again so cursors stay dense.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from agentoss.tools.browser.backend import FetchError, SearchBackend
from agentoss.tools.browser.display import find_in_page, render_view, search_results_page, view_source_page
from agentoss.tools.browser.fetch import WebBackend, WebFetcher
from agentoss.tools.browser.page import Page

from agentoss.harmony import browser_namespace
from agentoss.runtime.tool import ToolCall, ToolError, ToolSpec

__all__ = ["BrowserTool"]

_MAX_TOPN = 50
_MAX_ERROR_CHARS = 1024


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def _as_int(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool):
        raise ToolError(f"`{name}` should be an integer, not `bool`")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ToolError(f"`{name}` should be an integer, not `{type(value).__name__}`")


class BrowserTool:
    """The browser built-in. `backend` searches and fetches; `fetcher` (optional) opens http(s) URLs.

    With no backend, the browser opens URLs through `fetcher` (default: a `WebFetcher` with the
    default URL policy) and `search` answers that no search provider is configured.
    """

    def __init__(
        self,
        backend: SearchBackend | None = None,
        *,
        fetcher: WebFetcher | None = None,
        view_tokens: int = 1024,
        call_timeout_s: float = 60.0,
    ) -> None:
        self._fetcher = fetcher
        self.backend: SearchBackend = backend if backend is not None else WebBackend(fetcher)
        self.view_tokens = view_tokens
        self.call_timeout_s = call_timeout_s
        self.stack: list[Page] = []
        self._by_url: dict[str, Page] = {}

    @classmethod
    def from_corpus(cls, directory: str | Path, **kwargs: Any) -> BrowserTool:
        """A browser over a local directory of HTML / Markdown / text / PDF files (offline)."""
        from agentoss.tools.browser.corpus import LocalCorpusBackend

        return cls(LocalCorpusBackend(directory), **kwargs)

    @property
    def spec(self) -> ToolSpec:
        namespace = browser_namespace()
        source = self.backend.source
        description = namespace.description.replace(
            "sources=web (default: web)", f"sources={source} (default: {source})"
        )
        return ToolSpec(
            namespace="browser", kind="builtin", description=description, functions=namespace.functions
        )

    # -- page stack ---------------------------------------------------------------------------------

    @property
    def current_cursor(self) -> int:
        return len(self.stack) - 1

    def page_at(self, cursor: int = -1) -> Page:
        """The page shown at `cursor` (-1: the latest). Raises `ToolError` when out of range."""
        if not self.stack:
            raise ToolError("No pages to access!")
        if cursor == -1:
            return self.stack[-1]
        if not 0 <= cursor <= self.current_cursor:
            raise ToolError(
                f"Cursor `{cursor}` is out of range. Available cursor indices: [0 - {self.current_cursor}]."
            )
        return self.stack[cursor]

    def _show(self, page: Page, loc: int = 0, num_lines: int = -1) -> str:
        self.stack.append(page)
        if page.url and page.kind in ("page", "source"):
            self._by_url[page.url] = page
        try:
            return render_view(page, self.current_cursor, loc, num_lines, self.view_tokens)
        except ToolError:
            self.stack.pop()
            raise

    # -- calls --------------------------------------------------------------------------------------

    async def call(self, call: ToolCall) -> str:
        function = call.function or call.recipient.rpartition(".")[2]
        arguments = self._arguments(call.arguments)
        handlers: dict[str, Callable[..., Awaitable[str]]] = {
            "search": self.search,
            "open": self.open,
            "find": self.find,
        }
        handler = handlers.get(function)
        if handler is None:
            raise ToolError(f"Unknown function: {function}. The browser has search, open and find.")
        prepare = getattr(self.backend, "ensure_index", None)
        if prepare is not None:
            # Indexing a corpus on first use is set-up, not the model's call: no call timeout on it.
            await prepare()
        try:
            async with asyncio.timeout(self.call_timeout_s):
                return await handler(**arguments)
        except TimeoutError:
            raise ToolError(f"browser.{function} timed out after {self.call_timeout_s:g} seconds.") from None

    @staticmethod
    def _arguments(text: str) -> dict[str, Any]:
        if not text.strip():
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ToolError(
                f"Invalid function arguments: not JSON ({exc.msg} at position {exc.pos})."
            ) from None
        if not isinstance(value, dict):
            raise ToolError("Invalid function arguments: expected a JSON object.")
        return value

    async def search(
        self, query: str = "", topn: Any = 10, top_n: Any = None, source: str | None = None, **_: Any
    ) -> str:
        """Search and show the results page; `topn` results at most (1 to 50)."""
        if not isinstance(query, str) or not query.strip():
            raise ToolError("`query` must be a non-empty string.")
        count = max(1, min(_as_int(top_n if top_n is not None else topn, "topn", 10), _MAX_TOPN))
        try:
            results = await self.backend.search(query, count)
        except FetchError as exc:
            raise ToolError(f"Error during search for `{_truncate(query)}`: {_truncate(str(exc))}") from None
        return self._show(search_results_page(query, results[:count]))

    async def open(
        self,
        id: Any = -1,
        cursor: Any = -1,
        loc: Any = -1,
        num_lines: Any = -1,
        view_source: bool = False,
        source: str | None = None,
        **_: Any,
    ) -> str:
        """Follow link `id` of page `cursor`, open URL `id`, or (no id) scroll the page at `cursor`."""
        cursor_i = _as_int(cursor, "cursor", -1)
        loc_i = _as_int(loc, "loc", -1)
        lines_i = _as_int(num_lines, "num_lines", -1)
        target: int | None = None
        if isinstance(id, str) and not id.strip().lstrip("-").isdigit():
            page = await self._fetch(id.strip())
        else:
            link_id = _as_int(id, "id", -1)
            current = self.page_at(cursor_i)
            if link_id >= 0:
                url = current.links.get(link_id)
                if url is None:
                    raise ToolError(f"Invalid link id `{link_id}`.")
                target = current.targets.get(link_id)
                page = self._by_url.get(url) or await self._fetch(url)
            else:
                page = current
        if view_source:
            page = view_source_page(page)
            target = None
        if loc_i < 0:
            loc_i = 0 if target is None else (target - 4 if target > 4 else target)
        return self._show(page, loc_i, lines_i)

    async def find(self, pattern: Any = "", cursor: Any = -1, **_: Any) -> str:
        """Show every line of page `cursor` containing `pattern` (case-insensitive), with context."""
        if not isinstance(pattern, str) or not pattern:
            raise ToolError("`pattern` must be a non-empty string.")
        page = self.page_at(_as_int(cursor, "cursor", -1))
        if page.kind == "find":
            raise ToolError("Cannot run `find` on a find results page.")
        return self._show(find_in_page(page, pattern))

    async def _fetch(self, url: str) -> Page:
        try:
            if self._fetcher is not None and url.lower().startswith(("http://", "https://")):
                page = await self._fetcher.fetch_page(url)
            else:
                page = await self.backend.fetch(url)
        except FetchError as exc:
            raise ToolError(f"Error fetching URL `{_truncate(url)}`: {_truncate(str(exc))}") from None
        if page.kind != "page":
            page = replace(page, kind="page")
        return page

    # -- session ------------------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self.backend.aclose()
        if self._fetcher is not None:
            await self._fetcher.aclose()
