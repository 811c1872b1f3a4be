"""The trained browsing display: a window of numbered lines, search results pages and find results pages.

Shape (gpt-oss reference browser)::

    [{cursor}] {title} ({url})
    **viewing lines [{first} - {last}] of {last line}**

    L{first}: ...

The window holds as many lines as fit in `view_tokens` tokens of the numbered text (the line that
crosses the budget is included, as in the reference) unless `num_lines` is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, unquote

from agentoss.tools.browser.backend import SearchResult
from agentoss.tools.browser.convert import html_to_page
from agentoss.tools.browser.page import Page, clean_title, replace_special_chars, strip_links

from agentoss.harmony.encoding import decode, encode
from agentoss.runtime.tool import ToolError

__all__ = ["find_in_page", "render_view", "search_results_page", "view_end", "view_source_page"]

FIND_MAX_RESULTS = 50
FIND_CONTEXT_LINES = 4
_MAX_HEADER_URL = 1024
_MAX_CHARS_PER_TOKEN = 32


def _truncate(text: str, limit: int = _MAX_HEADER_URL) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def view_end(lines: Sequence[str], loc: int, num_lines: int, view_tokens: int) -> int:
    """One past the last line shown when viewing from `loc`.

    As in the reference: the numbered text from `loc` is tokenized (a bounded prefix of it) and the
    window ends on the line holding token number `view_tokens`.
    """
    total = len(lines)
    if num_lines > 0:
        return min(loc + num_lines, total)
    budget_chars = (view_tokens + 1) * _MAX_CHARS_PER_TOKEN
    parts: list[str] = []
    size = 0
    index = loc
    while index < total and size <= budget_chars:
        part = f"L{index}: {lines[index]}"
        parts.append(part)
        size += len(part) + 1
        index += 1
    text = "\n".join(parts)
    if len(text) <= view_tokens:  # at least one character per token: it all fits
        return index
    chunk = text[:budget_chars]
    tokens = encode(chunk)
    if len(tokens) > view_tokens:
        end_char = len(decode(tokens[:view_tokens]))
        return min(loc + chunk[:end_char].count("\n") + 1, total)
    if len(chunk) < len(text):
        return min(loc + chunk.count("\n") + 1, total)
    return index


def render_view(page: Page, cursor: int, loc: int, num_lines: int, view_tokens: int) -> str:
    """The display of `page` at cursor `cursor` from line `loc`. Raises `ToolError` past the end."""
    lines = page.lines
    total = len(lines)
    if loc >= total:
        raise ToolError(f"Invalid location parameter: `{loc}`. Cannot exceed page maximum of {total - 1}.")
    end = view_end(lines, loc, num_lines, view_tokens)
    body = "\n".join(f"L{index}: {lines[index]}" for index in range(loc, end))
    header = clean_title(page.title)
    # Unquoting could bring back controls or a line break (%1B, %0A) the header must not carry.
    shown_url = _truncate(" ".join(replace_special_chars(unquote(page.url)).split()))
    if shown_url:
        header += f" ({shown_url})"
    return f"[{cursor}] {header}\n**viewing lines [{loc} - {end - 1}] of {total - 1}**\n\n{body}"


def search_results_page(query: str, results: Sequence[SearchResult]) -> Page:
    """A search results page titled with the query, one `* 【id†title†domain】 snippet` line per result."""
    from html import escape

    items = "".join(
        f"<li><a href='{escape(result.url)}'>{escape(clean_title(result.title or result.url))}</a> "
        f"{escape(' '.join(result.snippet.split()))}</li>"
        for result in results
    )
    markup = f"<html><body><h1>Search Results</h1><ul>{items}</ul></body></html>"
    page = html_to_page(markup, "", title=query)
    return Page(url="", title=query, text=page.text, links=page.links, kind="search")


def find_in_page(page: Page, pattern: str) -> Page:
    """A find results page: each case-insensitive match with a few lines of context, linking back."""
    needle = pattern = pattern.lower()  # the reference shows the lowered pattern too
    lines = strip_links("\n".join(page.lines)).split("\n")
    chunks: list[str] = []
    targets: dict[int, int] = {}
    index = 0
    while index < len(lines) and len(chunks) < FIND_MAX_RESULTS:
        if needle not in lines[index].lower():
            index += 1
            continue
        snippet = "\n".join(lines[index : index + FIND_CONTEXT_LINES])
        chunks.append(f"# 【{len(chunks)}†match at L{index}】\n{snippet}")
        targets[len(targets)] = index
        index += FIND_CONTEXT_LINES
    text = "\n\n".join(chunks) if chunks else f"No `find` results for pattern: `{pattern}`"
    return Page(
        url=f"{page.url}/find?pattern={quote(pattern)}",
        title=f"Find results for text: `{pattern}` in `{page.title}`",
        text=text,
        links=dict.fromkeys(targets, page.url),
        kind="find",
        targets=targets,
    )


def view_source_page(page: Page) -> Page:
    """The raw source of `page` as a page of its own (links not followable)."""
    raw = page.source if page.source is not None else page.text
    return Page(
        url=f"view-source:{page.url}",
        title=page.title,
        text=replace_special_chars(raw),
        kind="source",
    )
