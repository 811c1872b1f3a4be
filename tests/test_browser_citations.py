"""resolve_citations: 【cursor†Lx-Ly】 -> links to the page that cursor showed, with annotations."""

from __future__ import annotations

from agentoss.tools.browser import BrowserTool, FakeSearchBackend, resolve_citations

DOCS = {
    "https://alpha.example/a.html": "<html><head><title>Alpha</title></head><body>"
    "<p>First fact about apples.</p><p>Second fact about <a href='/b'>pears</a>.</p></body></html>",
}


async def _browser() -> BrowserTool:
    tool = BrowserTool(FakeSearchBackend(DOCS))
    await tool.search(query="apples")  # cursor 0: search results (no address)
    await tool.open(id=0)  # cursor 1: the page
    await tool.find(pattern="fact")  # cursor 2: find results on it
    return tool


async def test_citations_become_links_with_spans_and_quotes() -> None:
    tool = await _browser()
    answer = "Apples come first 【1†L2】 and pears second 【1†L4-L5】."
    cited = resolve_citations(answer, tool)
    assert cited.text == (
        "Apples come first [alpha.example, L2](https://alpha.example/a.html#L2) and pears second "
        "[alpha.example, L4-L5](https://alpha.example/a.html#L4-L5)."
    )
    first, second = cited.citations
    assert (first.cursor, first.url, first.title, first.lines) == (
        1,
        "https://alpha.example/a.html",
        "Alpha",
        (2, 2),
    )
    assert first.quote == "First fact about apples."
    assert second.quote == "Second fact about pears."  # link markup reduced to its text
    for citation in cited.citations:
        assert cited.text[citation.start : citation.end].startswith("[alpha.example, L")
        assert cited.text[citation.start : citation.end].endswith(")")
    assert first.marker == "【1†L2】" and cited.unresolved == ()


async def test_unknown_cursors_and_search_pages_are_left_and_reported() -> None:
    tool = await _browser()
    answer = "Bad 【9†L1-L2】, search page 【0†L3】, find page 【2†L1】, text 【not a citation】."
    cited = resolve_citations(answer, tool)
    assert "【9†L1-L2】" in cited.text and "【0†L3】" in cited.text
    assert "【not a citation】" in cited.text
    assert [(u.cursor, u.marker) for u in cited.unresolved] == [(9, "【9†L1-L2】"), (0, "【0†L3】")]
    assert "does not exist" in cited.unresolved[0].reason
    assert "search results" in cited.unresolved[1].reason
    for problem in cited.unresolved:
        assert cited.text[problem.start : problem.end] == problem.marker
    # A find-results cursor links to the page that was searched.
    (find,) = cited.citations
    assert find.cursor == 2 and find.url == "https://alpha.example/a.html" and find.title == "Alpha"


def test_no_citations_is_identity() -> None:
    cited = resolve_citations("plain answer", [])
    assert (cited.text, cited.citations, cited.unresolved) == ("plain answer", (), ())
