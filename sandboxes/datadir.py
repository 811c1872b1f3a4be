"""The sandbox's data directory as the relay serves it: opened without following symlinks, listed safely.

Standard library only: copied into the sandbox image beside `relay.py`, which runs it as a sibling
module (it never imports agentoss there).
"""

from __future__ import annotations

import base64
import errno
import json
import os
import stat
from typing import Any

__all__ = [
    "DATA_DIR",
    "FILE_KEY",
    "files_in_data",
    "open_in_data",
    "safe_names",
    "write_all",
    "write_file_reply",
]

DATA_DIR = os.environ.get("AGENTOSS_DATA_DIR", "/mnt/data")
LIST_BYTES = 512 * 1024
MAX_NAMES = 10000
FILE_KEY = "_file"
"""A reply field never sent as is: `(fd, size)` of a file whose base64 `write_file_reply` streams."""
PIECE_BYTES = 3 * 65536
"""File bytes encoded per write (a multiple of 3, so the base64 pieces join into one valid string)."""
NAMES_BYTES = 4096
"""The most JSON the figure names of one cell may take in its reply."""


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
        # Non-blocking, so a FIFO planted by user code cannot hang the relay; only regular files pass.
        try:
            fd = os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_NONBLOCK, mode, dir_fd=directory)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # a FIFO opened for writing with no reader
                raise ValueError(f"{path!r} is not a regular file") from None
            raise
    finally:
        os.close(directory)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{path!r} is not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def files_in_data() -> tuple[list[str], bool]:
    """Regular files under the data directory (no symlinks followed), and whether the list was cut.

    The list stops before it would pass MAX_NAMES names or LIST_BYTES of JSON, checked per file, so one
    directory of many files cannot push the reply past the host's limit.
    """
    names: list[str] = []
    size = 0
    for root, dirs, files in os.walk(DATA_DIR, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in files:
            full = os.path.join(root, name)
            if os.path.isfile(full) and not os.path.islink(full):
                relative = os.path.relpath(full, DATA_DIR)
                size += len(json.dumps(relative)) + 2  # the name and its ", " separator
                if len(names) >= MAX_NAMES or size > LIST_BYTES:
                    return sorted(names), True
                names.append(relative)
    return sorted(names), False


def safe_names(value: Any) -> list[str]:
    """Figure names reported by the kernel: plain file names only (the kernel is untrusted)."""
    if not isinstance(value, list):
        return []
    names = [n for n in value[:100] if isinstance(n, str) and 0 < len(n) <= 255]
    names = [n for n in names if "/" not in n and "\\" not in n and n not in (".", "..") and "\x00" not in n]
    kept: list[str] = []
    size = 0
    for name in names:  # a bound on the reply, whatever the kernel claims
        size += len(json.dumps(name)) + 2
        if size > NAMES_BYTES:
            break
        kept.append(name)
    return kept


def write_all(out: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(out, view) :]


def write_file_reply(out: int, message: dict[str, Any], fd: int, size: int) -> None:
    """Write `message` plus `"data"`: the base64 of at most `size` bytes of `fd`, piece by piece.

    Memory stays at one piece whatever the file's size (the relay holds the whole sandbox's channel
    and must not be the process the memory limit kills). `fd` is closed.
    """
    with os.fdopen(fd, "rb") as handle:
        head = json.dumps(message)[:-1] + (', "data": "' if message else '"data": "')
        write_all(out, head.encode())
        left = size
        while left > 0:
            try:
                piece = handle.read(min(PIECE_BYTES, left))
            except OSError:
                write_all(out, b'", "cut": true}\n')  # the host refuses a file it did not get whole
                return
            if not piece:
                break  # the file shrank meanwhile: send what there was
            left -= len(piece)
            write_all(out, base64.b64encode(piece))
        write_all(out, b'"}\n')
