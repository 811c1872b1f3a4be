"""The `Sandbox` interface every python-tool backend implements, and the result of one execution."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["DATA_DIR", "ExecResult", "ProgramResult", "Sandbox", "normalize_data_path"]

DATA_DIR = "/mnt/data"
"""Where the session's files live inside every sandbox (the path the model was trained on)."""


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What one code execution produced, already capped, decoded and cleaned for the model."""

    output: str
    """stdout and stderr interleaved, the last expression's repr, tracebacks, and notes we added."""
    timed_out: bool = False
    """The code ran past its timeout (it was interrupted, or killed when the interrupt failed)."""
    state_lost: bool = False
    """The interpreter was restarted: variables and imports are gone; `/mnt/data` files are kept."""
    error: bool = False
    """The code raised (or the interpreter died)."""
    files: tuple[str, ...] = field(default=())
    """Files this execution saved in the data directory on its own (matplotlib figures)."""


@dataclass(frozen=True, slots=True)
class ProgramResult:
    """What `DockerSandbox.run_program` observed: a separate program's exit status and its output."""

    exit_code: int | None
    """The exit status the sandbox's relay collected (negative: killed by that signal); None when the
    sandbox failed (timed out past its grace, or broke its protocol) and no status could be collected."""
    output: str
    """stdout and stderr interleaved, capped, decoded and cleaned like `ExecResult.output`."""
    timed_out: bool = False
    """The program ran past its timeout and was killed."""


@runtime_checkable
class Sandbox(Protocol):
    """One isolated, stateful python session with a data directory at `/mnt/data`."""

    async def start(self) -> None:
        """Make the session ready (idempotent); raise `SandboxUnavailableError` when it cannot start."""
        ...

    async def execute(self, code: str, *, timeout: float) -> ExecResult:  # noqa: ASYNC109 - the Sandbox contract takes a timeout in seconds
        """Run `code` like a notebook cell; never raises for anything the code itself does."""
        ...

    async def put_file(self, path: str, data: bytes) -> None:
        """Write a file into the data directory (`path` relative to it, or under `/mnt/data/`)."""
        ...

    async def get_file(self, path: str) -> bytes:
        """Read a file from the data directory; symlinks and paths leaving it are refused."""
        ...

    async def list_files(self) -> list[str]:
        """Paths (relative to the data directory) of the regular files in it, sorted."""
        ...

    async def aclose(self) -> None:
        """Stop the session and release everything it holds (idempotent)."""
        ...


def normalize_data_path(path: str) -> str:
    """Return `path` relative to the data directory; `ValueError` for anything that could leave it."""
    if "\x00" in path:
        raise ValueError("path contains a NUL byte")
    text = path.replace("\\", "/")
    if text.startswith(DATA_DIR + "/"):
        text = text[len(DATA_DIR) + 1 :]
    elif text.startswith("/"):
        raise ValueError(f"path {path!r} is outside {DATA_DIR}")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"path {path!r} is empty or leaves {DATA_DIR}")
    return "/".join(parts)
