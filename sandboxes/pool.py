"""`WarmPool`: containers started ahead of time so a new session skips the container start-up.

Each pooled container is fully ready (interpreter started, data volume mounted) and is handed to
exactly one session, never reused. Taking one schedules a replacement in the background.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agentoss.sandboxes.container import ContainerConfig, LaunchedContainer
from agentoss.sandboxes.docker import DockerSandbox
from agentoss.sandboxes.image import default_image, docker_client, image_exists
from agentoss.sandboxes.session import discard_session, open_session

from agentoss.errors import SandboxUnavailableError

__all__ = ["WarmPool"]


class WarmPool:
    """Keeps `size` ready interpreter containers for sessions created with `pool.sandbox()`."""

    def __init__(self, image: str | None = None, *, size: int = 2, **limits: Any) -> None:
        self.image = image or ""
        self.size = size
        self.config = ContainerConfig(**limits)
        self.client: Any = None
        self._ready: asyncio.Queue[LaunchedContainer] = asyncio.Queue()
        self._filling: set[asyncio.Task[None]] = set()
        self._started = False
        self._closed = False

    async def start(self) -> None:
        """Connect to Docker and begin filling the pool (returns without waiting for the fill)."""
        if self._started:
            return
        self._started = True
        self.client = await asyncio.to_thread(docker_client)
        self.image = self.image or default_image()
        if not await asyncio.to_thread(image_exists, self.client, self.image):
            raise SandboxUnavailableError(
                f"sandbox image {self.image} is missing. Fix: agentoss sandbox build"
            )
        from agentoss.sandboxes.reaper import reap

        await asyncio.to_thread(reap, self.client)  # leftovers of processes that died without closing
        for _ in range(self.size):
            self._refill()

    async def wait_full(self, timeout: float = 120.0) -> None:  # noqa: ASYNC109 - the Sandbox contract takes a timeout in seconds
        """Wait until every slot holds a ready container (benchmarks and tests use this)."""
        await self.start()
        async with asyncio.timeout(timeout):
            while self._ready.qsize() < self.size:
                if not self._filling:
                    self._refill()
                await asyncio.sleep(0.01)

    def _refill(self) -> None:
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._fill_one())
        self._filling.add(task)
        task.add_done_callback(self._filling.discard)

    async def _fill_one(self) -> None:
        try:
            launched = await open_session(self.client, self.image, self.config)
        except Exception:
            return  # the next acquire starts a container itself and reports the error
        if self._closed:
            await discard_session(self.client, launched, keep_volume=False)
            return
        self._ready.put_nowait(launched)

    async def acquire(self) -> LaunchedContainer:
        """A ready container (started now if the pool is empty); a replacement is started behind it."""
        await self.start()
        try:
            launched = self._ready.get_nowait()
        except asyncio.QueueEmpty:
            launched = None
        if self._ready.qsize() + len(self._filling) < self.size:
            self._refill()
        return launched or await open_session(self.client, self.image, self.config)

    def sandbox(self, *, stateless: bool = False) -> DockerSandbox:
        """A `DockerSandbox` that takes its container from this pool."""
        return DockerSandbox(self.image or None, stateless=stateless, pool=self)

    async def aclose(self) -> None:
        """Stop filling and remove every idle container."""
        self._closed = True
        # Let in-flight fills finish (they discard their container once they see `_closed`): cancelling
        # one mid-launch would leave a container that only the reaper would find.
        await asyncio.gather(*self._filling, return_exceptions=True)
        while not self._ready.empty():
            await discard_session(self.client, self._ready.get_nowait(), keep_volume=False)
