"""`LocalCorpusBackend`: browse a directory of HTML / Markdown / text / PDF files offline, BM25 search.

The directory is indexed once into a persistent index (bm25s) under the agentoss cache directory.
A manifest records each file's size and modification time with its extracted title and text, so
when files change only the changed files are read and converted again; the BM25 matrix is then
rebuilt from the manifest's texts (a fast step). Documents are addressed as
`corpus://local/<relative path>`; `fetch` also accepts the bare relative path.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote

from agentoss.tools.browser.backend import FetchError, SearchResult
from agentoss.tools.browser.convert import html_to_page, markdown_to_page, pdf_to_page, text_to_page
from agentoss.tools.browser.page import Page, strip_links

from agentoss.vocab import cache_dir

__all__ = ["CORPUS_PREFIX", "CorpusStats", "LocalCorpusBackend"]

CORPUS_PREFIX = "corpus://local/"
_INDEX_VERSION = 1
_SUFFIXES = {
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".pdf": "pdf",
}
_SNIPPET_CHARS = 200
_WORD_RE = re.compile(r"\w\w+")


@dataclass
class CorpusStats:
    """What the last indexing pass did (for tests, logs and the benchmark)."""

    documents: int = 0
    converted: int = 0
    """Files read and converted in the last pass (unchanged files are taken from the manifest)."""
    removed: int = 0
    loaded_from_disk: bool = False
    """True when nothing changed and the saved BM25 index was loaded instead of rebuilt."""


def _convert(kind: str, path: Path, url: str) -> Page:
    if kind == "pdf":
        return pdf_to_page(path.read_bytes(), url)
    text = path.read_text(encoding="utf-8", errors="replace")
    if kind == "html":
        return html_to_page(text, url)
    if kind == "markdown":
        return markdown_to_page(text, url)
    return text_to_page(text, url)


class LocalCorpusBackend:
    """Search and open the files under `directory`; the index lives in `index_dir` (default: cache)."""

    def __init__(
        self, directory: str | Path, *, index_dir: str | Path | None = None, source: str = "web"
    ) -> None:
        self.directory = Path(directory).resolve()
        if not self.directory.is_dir():
            from agentoss.errors import ConfigurationError

            raise ConfigurationError(f"browser corpus directory {self.directory} does not exist")
        digest = hashlib.sha256(str(self.directory).encode()).hexdigest()[:16]
        self.index_dir = Path(index_dir) if index_dir is not None else cache_dir() / "corpus-index" / digest
        self._source = source
        self.stats = CorpusStats()
        self._lock = threading.RLock()
        self._ready = False
        self._paths: list[str] = []
        self._titles: list[str] = []
        self._texts: list[str] = []
        self._retriever: Any = None

    @property
    def source(self) -> str:
        return self._source

    # -- indexing -----------------------------------------------------------------------------------

    def _scan(self) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        for root, dirs, files in os.walk(self.directory):
            dirs[:] = sorted(name for name in dirs if not name.startswith("."))
            for name in sorted(files):
                path = Path(root) / name
                if name.startswith(".") or path.suffix.lower() not in _SUFFIXES:
                    continue
                stat = path.stat()
                found[path.relative_to(self.directory).as_posix()] = (stat.st_mtime_ns, stat.st_size)
        return found

    def _load_manifest(self) -> dict[str, Any]:
        try:
            manifest = json.loads((self.index_dir / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if manifest.get("version") != _INDEX_VERSION or manifest.get("directory") != str(self.directory):
            return {}
        return dict(manifest.get("files", {}))

    def build_index(self) -> CorpusStats:
        """Index the directory now (blocking): reuse what is unchanged, convert the rest, save."""
        import bm25s

        with self._lock:
            old = self._load_manifest()
            current = self._scan()
            files: dict[str, Any] = {}
            converted = 0
            for rel, (mtime, size) in current.items():
                entry = old.get(rel)
                if entry is not None and entry.get("mtime_ns") == mtime and entry.get("size") == size:
                    files[rel] = entry
                    continue
                kind = _SUFFIXES[Path(rel).suffix.lower()]
                try:
                    page = _convert(kind, self.directory / rel, self.url_for(rel))
                    title, text = page.title, page.text
                except Exception as exc:  # one unreadable file must not stop the index
                    title, text = rel, f"(unreadable: {type(exc).__name__})"
                files[rel] = {"mtime_ns": mtime, "size": size, "title": title, "text": text}
                converted += 1
            removed = len(set(old) - set(current))
            self._paths = list(files)
            self._titles = [files[rel]["title"] for rel in self._paths]
            self._texts = [files[rel]["text"] for rel in self._paths]
            bm25_dir = self.index_dir / "bm25"
            unchanged = (
                converted == 0 and removed == 0 and bool(old) and (bm25_dir / "params.index.json").exists()
            )
            if unchanged:
                self._retriever = bm25s.BM25.load(str(bm25_dir), show_progress=False)
            else:
                self._retriever = self._fit(bm25s)
                self._save(files)
            self.stats = CorpusStats(
                documents=len(self._paths), converted=converted, removed=removed, loaded_from_disk=unchanged
            )
            self._ready = True
            return self.stats

    def _fit(self, bm25s: Any) -> Any:
        if not self._texts:
            return None
        corpus = [f"{title}\n{text}" for title, text in zip(self._titles, self._texts, strict=True)]
        tokens = bm25s.tokenize(corpus, stopwords="en", show_progress=False)
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return retriever

    def _save(self, files: dict[str, Any]) -> None:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        bm25_dir = self.index_dir / "bm25"
        staging = Path(tempfile.mkdtemp(dir=self.index_dir, prefix=".bm25-"))
        if self._retriever is not None:
            self._retriever.save(str(staging), show_progress=False)
        shutil.rmtree(bm25_dir, ignore_errors=True)
        os.replace(staging, bm25_dir)
        manifest = {"version": _INDEX_VERSION, "directory": str(self.directory), "files": files}
        fd, tmp = tempfile.mkstemp(dir=self.index_dir, prefix=".manifest-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle)
        os.replace(tmp, self.index_dir / "manifest.json")

    def _ensure_sync(self) -> None:
        with self._lock:
            if not self._ready:
                self.build_index()

    async def ensure_index(self) -> None:
        """Build or refresh the index on first use (in a thread; concurrent first calls build once)."""
        if not self._ready:
            await asyncio.to_thread(self._ensure_sync)

    # -- search / fetch -----------------------------------------------------------------------------

    def url_for(self, rel: str) -> str:
        return CORPUS_PREFIX + quote(rel)

    def search_sync(self, query: str, topn: int) -> list[SearchResult]:
        """BM25 search (blocking); results with a zero score are dropped."""
        import bm25s

        tokens = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)
        if not tokens or not tokens[0] or topn <= 0:
            return []
        with self._lock:
            if self._retriever is None:
                return []
            k = min(topn, len(self._paths))
            documents, scores = self._retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        terms = {term.lower() for term in tokens[0]}
        results = []
        for index, score in zip(documents[0], scores[0], strict=True):
            if float(score) <= 0.0:
                continue
            doc = int(index)
            rel = self._paths[doc]
            results.append(
                SearchResult(
                    url=self.url_for(rel), title=self._titles[doc], snippet=_snippet(self._texts[doc], terms)
                )
            )
        return results

    async def search(self, query: str, topn: int) -> list[SearchResult]:
        await self.ensure_index()
        return await asyncio.to_thread(self.search_sync, query, topn)

    def _resolve(self, url: str) -> tuple[str, Path]:
        rel = unquote(url[len(CORPUS_PREFIX) :]) if url.startswith(CORPUS_PREFIX) else url
        rel = rel.split("#", 1)[0].lstrip("/")
        if "://" in rel or not rel:
            raise FetchError(f"`{url}` is not a document of this corpus (it has no web access)")
        if any(part.startswith(".") for part in PurePosixPath(rel).parts if part != ".."):
            raise FetchError(f"`{rel}` is not a document of this corpus")
        path = (self.directory / PurePosixPath(rel)).resolve()
        if not path.is_relative_to(self.directory) or not path.is_file():
            raise FetchError(f"`{rel}` is not a document of this corpus")
        if path.suffix.lower() not in _SUFFIXES:
            raise FetchError(f"`{rel}` has an unsupported file type")
        return path.relative_to(self.directory).as_posix(), path

    async def fetch(self, url: str) -> Page:
        rel, path = self._resolve(url)
        kind = _SUFFIXES[path.suffix.lower()]
        try:
            return await asyncio.to_thread(_convert, kind, path, self.url_for(rel))
        except ImportError:
            raise FetchError("cannot show PDF: install pypdf (pip install 'agentoss[browser]')") from None
        except (OSError, ValueError) as exc:
            raise FetchError(f"cannot read `{rel}`: {exc}") from None

    async def aclose(self) -> None:
        return None


def _snippet(text: str, terms: set[str]) -> str:
    """About `_SNIPPET_CHARS` characters around the first query term in `text` (else its start)."""
    body = text.split("\n", 2)[-1] if text.startswith("\nURL: ") else text
    flat = " ".join(strip_links(body).split())
    lowered = flat.lower()
    start = 0
    for match in _WORD_RE.finditer(lowered):
        if match.group() in terms:
            start = max(0, match.start() - 60)
            break
    snippet = flat[start : start + _SNIPPET_CHARS]
    if start > 0:
        snippet = "…" + snippet.split(" ", 1)[-1]
    if start + _SNIPPET_CHARS < len(flat):
        snippet = snippet.rsplit(" ", 1)[0] + "…"
    return snippet
