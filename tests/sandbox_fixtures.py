"""Shared helpers for the sandbox, python-tool and threat tests: a real Docker daemon or a visible skip.

Under CI (`CI=true`) a missing daemon or image is a failure, never a skip: `make test` installs and
starts Docker and builds the image before the tests run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from agentoss.sandboxes.docker import DockerSandbox

_STATE: dict[str, Any] = {}


def require_docker() -> Any:
    """The Docker client; skip (fail under CI) when no daemon or no sandbox image is available."""
    if "client" not in _STATE:
        from agentoss.sandboxes.image import default_image, docker_client, image_exists

        from agentoss.errors import SandboxUnavailableError

        try:
            client = docker_client(timeout=30)
            missing = None if image_exists(client, default_image()) else f"image {default_image()} missing"
        except SandboxUnavailableError as exc:
            client, missing = None, str(exc)
        _STATE["client"], _STATE["missing"] = client, missing
    if _STATE["missing"]:
        reason = f"Docker sandbox unavailable: {_STATE['missing']} (run `make services`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " — under CI the docker tests must run")
        pytest.skip(reason)
    return _STATE["client"]


@asynccontextmanager
async def docker_sandbox(**options: Any) -> AsyncIterator[DockerSandbox]:
    """A started `DockerSandbox` that is always closed (and checked removed) afterwards."""
    client = require_docker()
    sandbox = DockerSandbox(**options)
    await sandbox.start()
    try:
        yield sandbox
    finally:
        container_ids = [sandbox.container_id] if sandbox.container_id else []
        await sandbox.aclose()
        for container_id in container_ids:
            assert not client.api.containers(all=True, filters={"id": container_id})


class LoopTicker:
    """Counts event-loop ticks while an attack runs: proof the loop was never blocked."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.001)
            self.ticks += 1

    async def __aenter__(self) -> LoopTicker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def assert_healthy(sandbox: DockerSandbox) -> None:
    """The host daemon answers and the session still runs code after an attack."""
    client = require_docker()
    assert client.ping()
    result = await sandbox.execute("print(6 * 7)", timeout=30)
    assert result.output.strip().endswith("42"), result


def require_bwrap() -> None:
    """Skip (fail under CI) when bubblewrap is not installed."""
    if shutil.which("bwrap") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("bubblewrap missing under CI (make services installs it)")
        pytest.skip("bubblewrap (bwrap) is not installed")
