"""A private event loop in a daemon thread that blocking code submits coroutines to (`run_sync`).

`asyncio.run()` makes a new loop per call and closes it afterwards, so anything a tool or backend
bound to the first loop (an httpx client, a connection pool, a lock) breaks on the second call.
The portal keeps one loop alive for its owner's lifetime: every blocking call runs on the same loop,
and `close()` stops it and joins the thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from agentoss.errors import ConfigurationError

__all__ = ["LoopPortal"]

T = TypeVar("T")

_CANCEL_GRACE_S = 10.0
"""How long a blocking call interrupted by Ctrl-C waits for its coroutine to wind down (transcripts)."""


class LoopPortal:
    """One event loop in a daemon thread, started on first use; `call` blocks until a coroutine ends."""

    def __init__(self, name: str = "agentoss-portal") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """True while the loop thread runs."""
        return self._thread is not None

    def in_portal_thread(self) -> bool:
        """True when the caller runs on the portal's own loop (a blocking call there would deadlock)."""
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule `coro` on the portal loop (starting it if needed); returns a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the portal loop and block until it ends; Ctrl-C cancels it, then re-raises."""
        if self.in_portal_thread():
            coro.close()
            raise ConfigurationError("a blocking agent call was made from the agent's own event loop")
        done = threading.Event()
        future = self.submit(_signal_when_done(coro, done))
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()  # cancels the task on the loop; let it record the cancellation
            done.wait(_CANCEL_GRACE_S)
            raise

    def close(self, timeout: float = 30.0) -> None:
        """Stop the loop (cancelling what still runs on it) and join the thread, which closes the loop."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        if threading.current_thread() is thread:
            loop.call_soon(loop.stop)  # closing from inside: the thread ends once this callback returns
            return
        asyncio.run_coroutine_threadsafe(_cancel_remaining(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(target=_serve, args=(loop, ready), name=self._name, daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop


def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    loop.run_forever()
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


async def _signal_when_done(coro: Coroutine[Any, Any, T], done: threading.Event) -> T:
    try:
        return await coro
    finally:
        done.set()


async def _cancel_remaining() -> None:
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=10)
