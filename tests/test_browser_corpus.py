"""LocalCorpusBackend: BM25 search with snippets, open by path / id, persistent incremental index."""

from __future__ import annotations

import asyncio
import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from agentoss.tools.browser import BrowserTool, FetchError, LocalCorpusBackend
from agentoss.tools.browser.page import MAX_TITLE_CHARS

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


async def test_symlinks_out_of_the_corpus_are_not_indexed_or_opened(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "etc").mkdir(parents=True)
    secret = outside / "etc" / "passwd.txt"
    secret.write_text("root:x:0:0:secretword:/root:/bin/bash\n", encoding="utf-8")
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "real.txt").write_text("Real notes\nsecretword appears here legitimately.\n", encoding="utf-8")
    (root / ".hidden.txt").write_text("hidden secretword\n", encoding="utf-8")
    (root / "passwd.txt").symlink_to(secret)
    (root / "sub" / "etc").symlink_to(outside / "etc", target_is_directory=True)
    (root / "to-hidden.txt").symlink_to(root / ".hidden.txt")
    (root / "alias.md").symlink_to(root / "real.txt")  # inside and not hidden: a document, by its target

    backend = LocalCorpusBackend(root, index_dir=tmp_path / "index")
    stats = backend.build_index()
    assert stats.skipped == {
        "passwd.txt": "it resolves outside the corpus directory",
        "to-hidden.txt": "it resolves to a hidden file",
    }
    assert stats.documents == 2  # real.txt and alias.md; nothing under the symlinked sub/etc
    results = await backend.search("secretword root bash", 10)
    assert {r.url for r in results} == {"corpus://local/real.txt", "corpus://local/alias.md"}
    assert all("root:x" not in r.title + r.snippet and "hidden" not in r.snippet for r in results)

    browser = BrowserTool(backend)
    for name in ("passwd.txt", "sub/etc/passwd.txt", "to-hidden.txt"):
        with pytest.raises(ToolError, match="is not a document of this corpus"):
            await browser.open(id=name)
    alias = await browser.open(id="alias.md")
    assert alias.startswith("[0] Real notes (corpus://local/real.txt)")
    await browser.aclose()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")
def test_named_pipe_is_skipped_without_blocking(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "a.txt").write_text("hello world\n", encoding="utf-8")
    pipe = root / "pipe.txt"
    os.mkfifo(pipe)
    backend = LocalCorpusBackend(root, index_dir=tmp_path / "index")
    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.append(backend.build_index()), daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # blocked opening the pipe: give it a writer so the thread can end, then fail
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=5)
        pytest.fail("indexing blocked on a named pipe")
    [stats] = outcome
    assert stats.documents == 1 and stats.skipped == {"pipe.txt": "not a regular file"}
    with pytest.raises(FetchError, match="is not a document of this corpus"):
        asyncio.run(backend.fetch("pipe.txt"))


async def test_files_over_the_size_cap_are_skipped_and_reported(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "small.txt").write_text("Small file\nabout pelicans\n", encoding="utf-8")
    (root / "huge.txt").write_text("Huge file\n" + "pelicans " * 100, encoding="utf-8")
    backend = LocalCorpusBackend(root, index_dir=tmp_path / "index", max_file_bytes=200)
    stats = backend.build_index()
    assert stats.documents == 1
    assert stats.skipped == {"huge.txt": "larger than 200 bytes (910 bytes)"}
    assert [r.url for r in await backend.search("pelicans", 5)] == ["corpus://local/small.txt"]
    browser = BrowserTool(backend)
    with pytest.raises(ToolError, match=r"`huge.txt` is too large to open: larger than 200 bytes"):
        await browser.open(id="huge.txt")
    assert (await browser.open(id="small.txt")).startswith("[0] Small file")
    await browser.aclose()


async def test_titles_and_text_from_files_are_cleaned(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "evil.md").write_bytes(
        b"# Evil \x1b[2J\xe2\x80\xae title "
        + b"T" * 500
        + b"\r\n\r\nbody\x07 with\x00 controls\r\nand CRLF\r\n"
    )
    backend = LocalCorpusBackend(root, index_dir=tmp_path / "index")
    [result] = await backend.search("controls", 5)
    assert result.title.startswith("Evil [2J title TTT") and result.title.endswith("…")
    assert len(result.title) == MAX_TITLE_CHARS
    browser = BrowserTool(backend)
    out = await browser.open(id="evil.md")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]", out)
    assert "body with controls\nL" in out and "and CRLF" in out
    await browser.aclose()
