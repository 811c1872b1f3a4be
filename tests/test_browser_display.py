"""Golden tests of the trained browsing display for real HTML pages served over loopback HTTP."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator

import pytest
from agentoss.tools.browser import BrowserTool, FakeSearchBackend, SearchResult, UrlPolicy, WebFetcher
from agentoss.tools.browser.convert import markdown_to_page, text_to_page
from agentoss.tools.browser.display import render_view
from agentoss.tools.browser.page import MAX_TITLE_CHARS, Page, clean_title
from browser_fixtures import GOLDEN, LoopbackServer, Route, make_pdf, serve, site_routes

from agentoss.harmony.encoding import count_tokens
from agentoss.runtime.tool import ToolError

UPDATE = os.environ.get("AGENTOSS_UPDATE_GOLDEN") == "1"


class FakeResults(FakeSearchBackend):
    """Returns fixed search results (the display is what is under test)."""

    def __init__(self, results: list[SearchResult]) -> None:
        super().__init__({})
        self.results = results

    async def search(self, query: str, topn: int) -> list[SearchResult]:
        return self.results[:topn]


@pytest.fixture
async def site() -> AsyncIterator[LoopbackServer]:
    async with serve(site_routes()) as server:
        yield server


@pytest.fixture
async def browser() -> AsyncIterator[BrowserTool]:
    tool = BrowserTool(fetcher=WebFetcher(UrlPolicy(allow=["127.0.0.1/32"])))
    yield tool
    await tool.aclose()


def _golden(name: str, text: str, base_url: str) -> None:
    text = text.replace(base_url, "http://SITE")
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"display differs from {path}"


@pytest.mark.parametrize("page", ["article", "table", "notes"])
async def test_open_by_url_matches_golden(site: LoopbackServer, browser: BrowserTool, page: str) -> None:
    suffix = "txt" if page == "notes" else "html"
    out = await browser.open(id=f"{site.base_url}/{page}.{suffix}")
    _golden(f"{page}.txt", out, site.base_url)


async def test_find_and_search_pages_match_golden(site: LoopbackServer, browser: BrowserTool) -> None:
    await browser.open(id=f"{site.base_url}/article.html")
    found = await browser.find(pattern="Harmony")
    _golden("find.txt", found, site.base_url)
    results = [
        SearchResult(
            url="https://docs.example.com/harmony", title="The Harmony Format", snippet="Harmony is the..."
        ),
        SearchResult(
            url="https://example.org/x?q=1", title="Elsewhere 【1】", snippet="an  external\nresult"
        ),
    ]
    searcher = BrowserTool(FakeResults(results))
    page = await searcher.search(query="harmony format", topn=2)
    _golden("search.txt", page, site.base_url)
    opened = await browser.open(id=f"{site.base_url}/article.html")
    assert opened.startswith("[2] ")


async def test_article_display_shape(site: LoopbackServer, browser: BrowserTool) -> None:
    out = await browser.open(id=f"{site.base_url}/article.html")
    header, scrollbar, blank, *body = out.split("\n")
    assert header == f"[0] The Harmony Format — A Field Guide ({site.base_url}/article.html)"
    assert re.fullmatch(r"\*\*viewing lines \[0 - (\d+)\] of \1\*\*", scrollbar)
    assert blank == ""
    assert all(re.match(rf"L{i}: ", line) for i, line in enumerate(body))
    assert all(len(line.split(": ", 1)[1]) <= 80 for line in body)
    text = "\n".join(body)
    assert "【2†gpt-oss models†openai.com】" in text  # external link carries its domain
    assert "【1†Data tables】" in text and "【1†Benchmark table】" in text  # same URL, same id
    assert "〖6†L9-L11〗" in text and "【6†" not in text  # literal brackets defused
    assert "[Image 0: Channel diagram] [Image 1]" in text
    assert "日本語のテキスト" in text and "🚀" in text
    assert "tracking" not in text and "font-family" not in text
    assert "Mail the author" in text and "mailto" not in text


async def test_follow_link_by_id_and_back_by_cursor(site: LoopbackServer, browser: BrowserTool) -> None:
    await browser.open(id=f"{site.base_url}/article.html")
    out = await browser.open(id=1)
    assert out.startswith(f"[1] Benchmark table ({site.base_url}/table.html)")
    assert "gpt-oss-20b 98.7 71.5" in out
    # Link 3 of cursor 0 (not the latest page) is the external GitHub link: refused by policy, as text.
    with pytest.raises(ToolError, match=r"Error fetching URL `https://github.com/openai/harmony`"):
        await browser.open(id=3, cursor=0)
    back = await browser.open(id=0, cursor=1)
    assert back.startswith("[2] The Harmony Format")
    assert site.hits.count("/article.html") == 1  # the page was reused from the session, not refetched


async def test_window_fits_token_budget_and_scrolls(site: LoopbackServer, browser: BrowserTool) -> None:
    first = await browser.open(id=f"{site.base_url}/long.html")
    match = re.search(r"viewing lines \[0 - (\d+)\] of (\d+)", first)
    assert match
    last, total = int(match.group(1)), int(match.group(2))
    assert 0 < last < total
    body = first.split("\n\n", 1)[1]
    tokens = count_tokens(body)
    # The window holds the lines fitting 1024 tokens; the line crossing the budget is included.
    assert 1024 <= tokens <= 1024 + 40
    page = browser.page_at()
    without_last = "\n".join(f"L{i}: {page.lines[i]}" for i in range(last))
    assert count_tokens(without_last) <= 1024

    scrolled = await browser.open(loc=last + 1, num_lines=5)
    assert f"[1] A long page ({site.base_url}/long.html)" in scrolled
    assert f"**viewing lines [{last + 1} - {last + 5}] of {total}**" in scrolled
    assert scrolled.count("\nL") == 5

    small = BrowserTool(fetcher=WebFetcher(UrlPolicy(allow=["127.0.0.1/32"])), view_tokens=100)
    out = await small.open(id=f"{site.base_url}/long.html")
    assert count_tokens(out.split("\n\n", 1)[1]) < 200
    await small.aclose()


async def test_find_results_and_open_match(site: LoopbackServer, browser: BrowserTool) -> None:
    await browser.open(id=f"{site.base_url}/long.html")
    out = await browser.find(pattern="quantum MARMALADE")
    assert out.startswith("[1] Find results for text: `quantum marmalade` in `A long page`")
    match = re.search(r"# 【0†match at L(\d+)】", out)
    assert match and out.count("†match at") == 1
    line = int(match.group(1))
    assert "Quantum" in browser.stack[0].lines[line]
    opened = await browser.open(id=0)
    assert f"**viewing lines [{line - 4} - " in opened  # positioned a few lines above the match
    assert f"L{line}: " in opened

    none = await browser.find(pattern="zzz-not-there", cursor=0)
    assert "No `find` results for pattern: `zzz-not-there`" in none
    with pytest.raises(ToolError, match="Cannot run `find` on a find results page"):
        await browser.find(pattern="x")


async def test_find_caps_hits_and_strips_links(site: LoopbackServer, browser: BrowserTool) -> None:
    await browser.open(id=f"{site.base_url}/long.html")
    await browser.find(pattern="paragraph")  # 60 paragraphs, one match each
    results = browser.page_at()
    assert len(results.links) == 50 and results.text.count("†match at L") == 50
    await browser.open(id=f"{site.base_url}/article.html")
    found = await browser.find(pattern="github")
    assert "openai/harmony on GitHub" in found and "【3†" not in found


async def test_view_source_shows_raw_markup(site: LoopbackServer, browser: BrowserTool) -> None:
    await browser.open(id=f"{site.base_url}/table.html")
    out = await browser.open(view_source=True, num_lines=200)
    assert out.startswith(f"[1] Benchmark table (view-source:{site.base_url}/table.html)")
    assert "<td>gpt-oss-120b</td>" in out
    assert site.hits.count("/table.html") == 1


async def test_errors_are_model_readable(site: LoopbackServer, browser: BrowserTool) -> None:
    with pytest.raises(ToolError, match="No pages to access!"):
        await browser.open()
    await browser.open(id=f"{site.base_url}/table.html")
    with pytest.raises(
        ToolError, match=r"^Cursor `99` is out of range\. Available cursor indices: \[0 - 0\]\.$"
    ):
        await browser.open(cursor=99)
    with pytest.raises(ToolError, match=r"^Invalid link id `42`\.$"):
        await browser.open(id=42)
    with pytest.raises(
        ToolError, match=r"Invalid location parameter: `500`\. Cannot exceed page maximum of 10\."
    ):
        await browser.open(loc=500)
    assert len(browser.stack) == 1  # the failed view was popped again
    with pytest.raises(ToolError, match=r"Error fetching URL `.*/missing.html`: HTTP 404"):
        await browser.open(id=f"{site.base_url}/missing.html")
    with pytest.raises(ToolError, match="`cursor` should be an integer"):
        await browser.open(cursor="abc")


async def test_pdf_and_markdown_by_content_type(browser: BrowserTool) -> None:
    routes = {
        "/paper.pdf": Route(
            body=make_pdf("Attention sinks stabilise long contexts"), content_type="application/pdf"
        ),
        "/latin1": Route(
            body=b'<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head>'
            b"<body>na\xefve</body></html>",
            content_type="text/html",
        ),
        "/readme": Route(body="# Read me\n\nSee [the site](/paper.pdf).\n", content_type="text/markdown"),
    }
    async with serve(routes) as server:
        pdf = await browser.open(id=f"{server.base_url}/paper.pdf")
        assert pdf.startswith(f"[0] Attention sinks stabilise long contexts ({server.base_url}/paper.pdf)")
        assert "L2: Attention sinks stabilise long contexts" in pdf
        markdown = await browser.open(id=f"{server.base_url}/readme")
        assert markdown.startswith(f"[1] Read me ({server.base_url}/readme)")
        assert "See 【0†the site】." in markdown
        latin = await browser.open(id=f"{server.base_url}/latin1")
        assert latin.startswith("[2] Café (") and "naïve" in latin
        again = await browser.open(id=0, cursor=1)
        assert again.startswith("[3] Attention sinks")


_HOSTILE_HTML = (
    "<html><head><title>Hostile \x1b]0;owned\x07 page\u202e gnp.exe " + "A" * 400_000 + "</title></head>"
    "<body><h1>Escapes\x1b[31m red\x1b[0m</h1>"
    "<p>bell\x07 nul\x00 backspace\x08 del\x7f csi\x9b end</p>"
    "<p>bidi \u202eoverride\u202c and \u2066isolate\u2069 kept text: שלום</p>"
    "<p>windows\r\nline\rends\ttab</p>"
    "<p><a href='/x%1b%0a'>link\x1b text</a> 【0†L1-L2】</p></body></html>"
)
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


async def test_hostile_page_is_capped_and_cleaned_golden(browser: BrowserTool) -> None:
    async with serve({"/hostile": Route(body=_HOSTILE_HTML)}) as server:
        out = await browser.open(id=f"{server.base_url}/hostile")
        _golden("hostile.txt", out, server.base_url)
        header = out.split("\n", 1)[0]
        title = header.removeprefix("[0] ").removesuffix(f" ({server.base_url}/hostile)")
        assert len(title) == MAX_TITLE_CHARS and title.endswith("…")
        assert count_tokens(out) < 1024 and not _CONTROL_RE.search(out)
        source = await browser.open(view_source=True, num_lines=5)
        assert not _CONTROL_RE.search(source) and "\x1b" in _HOSTILE_HTML


def test_header_url_is_unquoted_without_controls() -> None:
    page = Page(url="https://example.com/a%1b%5B2J%0Ab%E2%80%AEc%20d", title="T\x07", text="x")
    out = render_view(page, cursor=3, loc=0, num_lines=0, view_tokens=1024)
    assert out.split("\n", 1)[0] == "[3] T (https://example.com/a[2J bc d)"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain", "plain"),
        ("  two\nlines\tand  spaces ", "two lines and spaces"),
        ("esc\x1b[2J bell\x07 nul\x00 c1\x85", "esc[2J bell nul c1"),
        ("rlo\u202egnp.exe lri\u2066x\u2069", "rlognp.exe lrix"),
        ("【forged】", "〖forged〗"),
        ("x" * 300, "x" * (MAX_TITLE_CHARS - 1) + "…"),
        ("y" * MAX_TITLE_CHARS, "y" * MAX_TITLE_CHARS),
    ],
)
def test_clean_title(raw: str, expected: str) -> None:
    assert clean_title(raw) == expected


async def test_long_titles_capped_everywhere() -> None:
    huge = "T" * 50_000
    markdown = markdown_to_page(f"# {huge}\n\nbody\n", "https://example.com/a.md")
    text = text_to_page(f"\x1b{huge}\nbody\n", "https://example.com/a.txt")
    assert markdown.title == "T" * (MAX_TITLE_CHARS - 1) + "…"
    assert text.title == "T" * 119  # a plain-text title is its first line's first 120 characters
    results = [SearchResult(url="https://example.com/", title=huge + "\x1b", snippet="s\x07nippet")]
    searcher = BrowserTool(FakeResults(results))
    out = await searcher.search(query="q\x1b" + "q" * 1000)
    header = out.split("\n", 1)[0]
    assert header == "[0] " + "q" * (MAX_TITLE_CHARS - 1) + "…"
    assert "T…†example.com】 snippet" in out and not _CONTROL_RE.search(out)
