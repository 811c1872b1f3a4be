"""`PythonTool`: the gpt-oss built-in `python` tool, backed by a `Sandbox` (hardened Docker by default)."""

from __future__ import annotations

from typing import Any

from agentoss.sandboxes.base import DATA_DIR, ExecResult, Sandbox

from agentoss.runtime.tool import ToolCall, ToolSpec

__all__ = ["MAX_KEPT_BYTES", "PythonTool", "describe"]

MAX_KEPT_BYTES = 64 * 1024 * 1024
"""Bytes of `/mnt/data` files copied out of a sandbox the tool created, when the tool is closed."""


def describe(*, timeout: float, stateless: bool) -> str:
    """The tool description shown to the model: the trained text (timeout substituted when not 120 s)."""
    from agentoss.harmony.builtins import python_namespace

    text = python_namespace(stateless).description
    if stateless:
        return text + f" Each execution times out after {float(timeout):.1f} seconds."
    return text.replace("120.0 seconds", f"{float(timeout):.1f} seconds")


def render_result(result: ExecResult) -> str:
    """The text the model reads for one execution."""
    text = result.output
    for name in result.files:
        text += f"\n[saved {DATA_DIR}/{name}]"
    return text


class PythonTool:
    """The `python` namespace. Owns (and closes) a sandbox it creates; a given one stays the caller's."""

    def __init__(
        self, sandbox: Sandbox | None = None, *, timeout: float = 120.0, stateless: bool = False
    ) -> None:
        self.timeout = timeout
        self.stateless = stateless
        self._owns_sandbox = sandbox is None
        self._sandbox = sandbox
        self._spec = ToolSpec(
            namespace="python", kind="builtin", description=describe(timeout=timeout, stateless=stateless)
        )
        self.kept_files: dict[str, bytes] = {}
        """Files copied out of an owned sandbox when the tool closed (readable with `get_file` after)."""
        self._closed = False
        self._used = False

    @property
    def spec(self) -> ToolSpec:
        return self._spec

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox (a hardened `DockerSandbox` created on first use unless one was given)."""
        if self._sandbox is None:
            from agentoss.sandboxes.docker import DockerSandbox

            self._sandbox = DockerSandbox(stateless=self.stateless)
        return self._sandbox

    async def call(self, call: ToolCall) -> str:
        self._used = True
        return render_result(await self.sandbox.execute(call.arguments, timeout=self.timeout))

    async def run(self, code: str) -> ExecResult:
        """Execute code directly (outside an agent loop), with the tool's timeout."""
        self._used = True
        return await self.sandbox.execute(code, timeout=self.timeout)

    async def put_file(self, path: str, data: bytes) -> None:
        self._used = True
        await self.sandbox.put_file(path, data)

    async def get_file(self, path: str) -> bytes:
        if self._closed:
            from agentoss.sandboxes.base import normalize_data_path

            try:
                return self.kept_files[normalize_data_path(path)]
            except KeyError:
                raise FileNotFoundError(path) from None
        return await self.sandbox.get_file(path)

    async def list_files(self) -> list[str]:
        if self._closed:
            return sorted(self.kept_files)
        return await self.sandbox.list_files()

    async def aclose(self) -> None:
        if self._closed:
            return
        sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None and self._owns_sandbox:
            try:
                if self._used:
                    await self._keep_files(sandbox)
            except Exception:
                pass  # a broken sandbox has nothing to keep; closing must still happen
            finally:
                await sandbox.aclose()
        self._closed = True

    async def _keep_files(self, sandbox: Any) -> None:
        total = 0
        for name in await sandbox.list_files():
            data = await sandbox.get_file(name)
            total += len(data)
            if total > MAX_KEPT_BYTES:
                return
            self.kept_files[name] = data
