"""The sandbox's data directory as the relay serves it: opened without following symlinks, listed safely.

Standard library only: copied into the sandbox image beside `relay.py`, which runs it as a sibling
module (it never imports agentoss there).
"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["DATA_DIR", "files_in_data", "open_in_data", "safe_names"]

DATA_DIR = os.environ.get("AGENTOSS_DATA_DIR", "/mnt/data")
LIST_BYTES = 512 * 1024


def open_in_data(path: str, flags: int, mode: int = 0o644) -> int:
    """Open `path` relative to the data directory, refusing `..` and symlinks in every component."""
    parts = [part for part in path.replace("\\", "/").split("/") if part not in ("", ".")]
    if path.startswith(DATA_DIR + "/"):
        parts = [part for part in path[len(DATA_DIR) + 1 :].split("/") if part not in ("", ".")]
    if not parts or any(part == ".." or "\x00" in part for part in parts):
        raise ValueError(f"invalid path {path!r}")
    directory = os.open(DATA_DIR, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            if flags & os.O_CREAT:
                try:
                    os.mkdir(part, 0o755, dir_fd=directory)
                except FileExistsError:
                    pass
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
            os.close(directory)
            directory = child
        return os.open(parts[-1], flags | os.O_NOFOLLOW, mode, dir_fd=directory)
    finally:
        os.close(directory)


def files_in_data() -> list[str]:
    """Regular files under the data directory (no symlinks followed), at most LIST_BYTES of names."""
    names: list[str] = []
    size = 0
    for root, dirs, files in os.walk(DATA_DIR, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in files:
            full = os.path.join(root, name)
            if os.path.isfile(full) and not os.path.islink(full):
                names.append(os.path.relpath(full, DATA_DIR))
                size += len(json.dumps(names[-1]))
        if len(names) > 10000 or size > LIST_BYTES:
            break
    return sorted(names)


def safe_names(value: Any) -> list[str]:
    """Figure names reported by the kernel: plain file names only (the kernel is untrusted)."""
    if not isinstance(value, list):
        return []
    names = [n for n in value[:100] if isinstance(n, str) and 0 < len(n) <= 255]
    return [n for n in names if "/" not in n and "\\" not in n and n not in (".", "..") and "\x00" not in n]
