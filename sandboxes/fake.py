"""`FakeSandbox`: an in-process stand-in for loop tests. It isolates nothing: trusted code only.

By default it runs code in a private namespace of this process with the notebook semantics of the
real interpreter (last expression echoed, traceback on error); or give it `handler`, a function from
code to output text, to script replies. Files live in a dict.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

from agentoss.sandboxes.base import ExecResult, normalize_data_path

__all__ = ["FakeSandbox"]


class FakeSandbox:
    """Implements `Sandbox` without isolation; records every executed cell in `executed`."""

    def __init__(self, handler: Callable[[str], str] | None = None) -> None:
        self.handler = handler
        self.files: dict[str, bytes] = {}
        self.executed: list[str] = []
        self.started = False
        self.closed = False
        self._namespace: dict[str, Any] = {"__name__": "__main__"}

    async def start(self) -> None:
        self.started = True

    async def execute(self, code: str, *, timeout: float) -> ExecResult:  # noqa: ASYNC109 - the Sandbox contract takes a timeout in seconds
        await self.start()
        self.executed.append(code)
        if self.handler is not None:
            return ExecResult(output=self.handler(code))
        from agentoss.sandboxes.interpreter import run_cell

        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            errored = run_cell(code, self._namespace, f"<cell-{len(self.executed)}>")
        return ExecResult(output=buffer.getvalue(), error=errored)

    async def put_file(self, path: str, data: bytes) -> None:
        self.files[normalize_data_path(path)] = bytes(data)

    async def get_file(self, path: str) -> bytes:
        try:
            return self.files[normalize_data_path(path)]
        except KeyError:
            raise FileNotFoundError(path) from None

    async def list_files(self) -> list[str]:
        return sorted(self.files)

    async def aclose(self) -> None:
        self.closed = True
