"""LocalCorpusBackend: BM25 search with snippets, open by path / id, persistent incremental index."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from agentoss.tools.browser import BrowserTool, LocalCorpusBackend

from agentoss.runtime.tool import ToolError


def _write_corpus(root: Path) -> None:
    (root / "guides").mkdir(parents=True)
    (root / "guides" / "harmony.html").write_text(
        "<html><head><title>Harmony guide</title></head><body><h1>Harmony</h1>"
        "<p>The harmony format separates analysis and final channels.</p>"
        "<p>See the <a href='../notes/sampling.md'>sampling notes</a>.</p></body></html>",
        encoding="utf-8",
    )
    (root / "notes").mkdir()
    (root / "notes" / "sampling.md").write_text(
        "# Sampling notes\n\nStop on the return and call tokens, never on the end token.\n"
        "Back to [the guide](../guides/harmony.html).\n",
        encoding="utf-8",
    )
    (root / "recipes.txt").write_text("Pancake recipe\nFlour, eggs and milk.\n", encoding="utf-8")
    (root / ".hidden.txt").write_text("harmony harmony harmony", encoding="utf-8")
    (root / "image.png").write_bytes(b"\x89PNG harmony")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    _write_corpus(root)
    return root


async def test_search_open_and_follow_links(corpus: Path, tmp_path: Path) -> None:
    browser = BrowserTool(LocalCorpusBackend(corpus, index_dir=tmp_path / "index"))
    out = await browser.search(query="harmony channels")
    assert out.startswith("[0] harmony channels\n**viewing lines [0 - ")
    assert "# Search Results" in out
    assert "* 【0†Harmony guide†local】" in out
    assert "The harmony format separates analysis and" in out  # snippet, links reduced to text
    assert "See the sampling notes." in out
    assert "hidden" not in out and "png" not in out

    page = await browser.open(id=0)
    assert page.startswith("[1] Harmony guide (corpus://local/guides/harmony.html)")
    assert "【0†sampling notes】" in page
    notes = await browser.open(id=0)
    assert notes.startswith("[2] Sampling notes (corpus://local/notes/sampling.md)")
    assert "never on the end token" in notes and "【0†the guide】" in notes

    by_path = await browser.open(id="recipes.txt")
    assert by_path.startswith("[3] Pancake recipe (corpus://local/recipes.txt)")
    by_id = await browser.open(id="corpus://local/recipes.txt")
    assert by_id.startswith("[4] Pancake recipe")
    with pytest.raises(ToolError, match="is not a document of this corpus"):
        await browser.open(id="../../etc/passwd")
    with pytest.raises(ToolError, match="is not a document of this corpus"):
        await browser.open(id=".hidden.txt")  # hidden files are not indexed, nor opened
    with pytest.raises(ToolError, match="no web access"):
        await browser.open(id="https://example.com/")
    await browser.aclose()


async def test_topn_is_honoured(tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for i in range(30):
        (root / f"doc{i:02d}.txt").write_text(f"Document {i}\nshared keyword number {i}\n", encoding="utf-8")
    browser = BrowserTool(LocalCorpusBackend(root, index_dir=tmp_path / "index"))
    await browser.search(query="shared keyword", topn=3)
    assert len(browser.page_at().links) == 3
    await browser.search(query="shared keyword")
    assert len(browser.page_at().links) == 10
    await browser.search(query="shared keyword", topn=25.0)
    assert len(browser.page_at().links) == 25
    await browser.search(query="nothing-matches-this")
    assert browser.page_at().links == {}


async def test_index_is_persistent_and_incremental(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    first = LocalCorpusBackend(corpus, index_dir=index)
    stats = first.build_index()
    assert (stats.documents, stats.converted, stats.loaded_from_disk) == (3, 3, False)

    again = LocalCorpusBackend(corpus, index_dir=index)
    stats = again.build_index()
    assert (stats.documents, stats.converted, stats.loaded_from_disk) == (3, 0, True)
    assert [r.title for r in await again.search("pancake", 5)] == ["Pancake recipe"]

    recipes = corpus / "recipes.txt"
    recipes.write_text("Waffle recipe\nButter and sugar.\n", encoding="utf-8")
    os.utime(recipes, ns=(1, 1))  # a different mtime even on coarse clocks
    (corpus / "notes" / "sampling.md").unlink()
    (corpus / "new.md").write_text("# Zebra facts\n\nZebras have stripes.\n", encoding="utf-8")
    changed = LocalCorpusBackend(corpus, index_dir=index)
    stats = changed.build_index()
    assert (stats.documents, stats.converted, stats.removed, stats.loaded_from_disk) == (3, 2, 1, False)
    assert await changed.search("pancake", 5) == []
    assert [r.title for r in await changed.search("waffle", 5)] == ["Waffle recipe"]
    assert [r.url for r in await changed.search("zebras stripes", 5)] == ["corpus://local/new.md"]
    assert all("sampling.md" not in r.url for r in await changed.search("sampling tokens", 5))
