"""`LocalCorpusBackend`: browse a directory of HTML / Markdown / text / PDF files offline, BM25 search.

The directory is indexed once into a persistent index (bm25s) under the agentoss cache directory.
A manifest records each file's size and modification time with its extracted title and text, so
when files change only the changed files are read and converted again; the BM25 matrix is then
rebuilt from the manifest's texts (a fast step). Documents are addressed as
`corpus://local/<relative path>`; `fetch` also accepts the bare relative path.

Only regular files inside the directory are documents: a symlink is followed only when its target
is a supported, non-hidden file inside the directory too; named pipes, sockets and devices are
never opened, and files over `max_file_bytes` are skipped. Skipped files are listed in
`CorpusStats.skipped` and logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote

from agentoss.tools.browser.backend import FetchError, SearchResult
from agentoss.tools.browser.convert import html_to_page, markdown_to_page, pdf_to_page, text_to_page
from agentoss.tools.browser.page import Page, clean_title, strip_links

from agentoss.vocab import cache_dir

__all__ = ["CORPUS_PREFIX", "DEFAULT_MAX_FILE_BYTES", "CorpusStats", "LocalCorpusBackend"]

CORPUS_PREFIX = "corpus://local/"
DEFAULT_MAX_FILE_BYTES = 32 * 1024 * 1024
_INDEX_VERSION = 2  # 2: cleaned, capped titles and texts; regular files only
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
# Non-blocking so that a file swapped for a named pipe after the check cannot hang the open;
# no-follow so that one swapped for a symlink is refused.
_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
)
_UNSUPPORTED = "an unsupported file type"
_log = logging.getLogger(__name__)


@dataclass
class CorpusStats:
    """What the last indexing pass did (for tests, logs and the benchmark)."""

    documents: int = 0
    converted: int = 0
    """Files read and converted in the last pass (unchanged files are taken from the manifest)."""
    removed: int = 0
    loaded_from_disk: bool = False
    """True when nothing changed and the saved BM25 index was loaded instead of rebuilt."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Files left out of the index (relative path -> why): special files, outside symlinks, too large."""


class _NotADocument(Exception):
    """A path that must not be indexed or opened; the message says why."""


def _read_document(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file `path` (re-checked on the open descriptor), at most `max_bytes`."""
    fd = os.open(path, _OPEN_FLAGS)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _NotADocument("not a regular file")
        if info.st_size > max_bytes:
            raise _NotADocument(f"larger than {max_bytes} bytes ({info.st_size} bytes)")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _NotADocument(f"larger than {max_bytes} bytes")
    return data


def _convert(kind: str, path: Path, url: str, max_bytes: int) -> Page:
    data = _read_document(path, max_bytes)
    if kind == "pdf":
        return pdf_to_page(data, url)
    text = data.decode("utf-8", errors="replace")
    if kind == "html":
        return html_to_page(text, url)
    if kind == "markdown":
        return markdown_to_page(text, url)
    return text_to_page(text, url)


class LocalCorpusBackend:
    """Search and open the files under `directory`; the index lives in `index_dir` (default: cache)."""

    def __init__(
        self,
        directory: str | Path,
        *,
        index_dir: str | Path | None = None,
        source: str = "web",
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.directory = Path(directory).resolve()
        if not self.directory.is_dir():
            from agentoss.errors import ConfigurationError

            raise ConfigurationError(f"browser corpus directory {self.directory} does not exist")
        digest = hashlib.sha256(str(self.directory).encode()).hexdigest()[:16]
        self.index_dir = Path(index_dir) if index_dir is not None else cache_dir() / "corpus-index" / digest
        self._source = source
        self.max_file_bytes = max_file_bytes
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

    def _admit(self, path: Path) -> tuple[Path, os.stat_result]:
        """The real path and status of the document at `path`; raises `_NotADocument` when it is none.

        The path is resolved first, so a symlink (of the file or of a directory above it) counts by
        its target: inside the corpus, not hidden, a supported type, a regular file, not too large.
        """
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise _NotADocument("missing, or a broken or looping symlink") from None
        if not target.is_relative_to(self.directory):
            raise _NotADocument("it resolves outside the corpus directory")
        if any(part.startswith(".") for part in target.relative_to(self.directory).parts):
            raise _NotADocument("it resolves to a hidden file")
        try:
            info = os.lstat(target)
        except OSError as exc:
            raise _NotADocument(f"cannot stat it: {exc.strerror or exc}") from None
        if not stat.S_ISREG(info.st_mode):
            raise _NotADocument("not a regular file")
        if target.suffix.lower() not in _SUFFIXES:
            raise _NotADocument(_UNSUPPORTED)
        if info.st_size > self.max_file_bytes:
            raise _NotADocument(f"larger than {self.max_file_bytes} bytes ({info.st_size} bytes)")
        return target, info

    def _scan(self) -> tuple[dict[str, tuple[int, int]], dict[str, str]]:
        """Documents (relative path -> (mtime, size)) and skipped files (relative path -> why)."""
        found: dict[str, tuple[int, int]] = {}
        skipped: dict[str, str] = {}
        for root, dirs, files in os.walk(self.directory):  # symlinked directories are not entered
            dirs[:] = sorted(name for name in dirs if not name.startswith("."))
            for name in sorted(files):
                path = Path(root) / name
                if name.startswith(".") or path.suffix.lower() not in _SUFFIXES:
                    continue
                rel = path.relative_to(self.directory).as_posix()
                try:
                    _, info = self._admit(path)
                except _NotADocument as exc:
                    skipped[rel] = str(exc)
                    continue
                found[rel] = (info.st_mtime_ns, info.st_size)
        return found, skipped

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
            current, skipped = self._scan()
            files: dict[str, Any] = {}
            converted = 0
            for rel, (mtime, size) in current.items():
                entry = old.get(rel)
                if entry is not None and entry.get("mtime_ns") == mtime and entry.get("size") == size:
                    files[rel] = entry
                    continue
                try:
                    target, _ = self._admit(self.directory / rel)
                    kind = _SUFFIXES[target.suffix.lower()]
                    page = _convert(kind, target, self.url_for(rel), self.max_file_bytes)
                    title, text = page.title, page.text
                except _NotADocument as exc:  # changed since the scan
                    skipped[rel] = str(exc)
                    continue
                except Exception as exc:  # one unreadable file must not stop the index
                    title, text = clean_title(rel), f"(unreadable: {type(exc).__name__})"
                files[rel] = {"mtime_ns": mtime, "size": size, "title": title, "text": text}
                converted += 1
            removed = len(set(old) - set(files))
            if skipped:
                _log.warning(
                    "browser corpus %s: skipped %d file(s): %s",
                    self.directory,
                    len(skipped),
                    "; ".join(f"{rel} ({why})" for rel, why in list(skipped.items())[:10]),
                )
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
                documents=len(self._paths),
                converted=converted,
                removed=removed,
                loaded_from_disk=unchanged,
                skipped=skipped,
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
        try:
            path, _ = self._admit(self.directory / PurePosixPath(rel))
        except _NotADocument as exc:
            if str(exc) == _UNSUPPORTED:
                raise FetchError(f"`{rel}` has an unsupported file type") from None
            if str(exc).startswith("larger than"):
                raise FetchError(f"`{rel}` is too large to open: {exc}") from None
            raise FetchError(f"`{rel}` is not a document of this corpus") from None
        return path.relative_to(self.directory).as_posix(), path

    async def fetch(self, url: str) -> Page:
        rel, path = self._resolve(url)
        kind = _SUFFIXES[path.suffix.lower()]
        try:
            return await asyncio.to_thread(_convert, kind, path, self.url_for(rel), self.max_file_bytes)
        except ImportError:
            raise FetchError("cannot show PDF: install pypdf (pip install 'agentoss[browser]')") from None
        except _NotADocument as exc:
            raise FetchError(f"`{rel}` is not a document of this corpus ({exc})") from None
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
