"""Worker threads for blocking user code (sync function tools, sync approval hooks) that never delay exit.

`asyncio.to_thread` uses the loop's default `ThreadPoolExecutor`, whose threads are joined, without a
timeout, when `asyncio.run` ends and again at interpreter exit: a sync tool that never returns would
keep the process alive forever even after its timeout fired. The runtime runs such code here instead:
daemon threads, so a call abandoned after its timeout costs one stuck thread, never a hung exit.
`shutdown_blocking_executor()` cancels queued calls and stops idle workers without waiting.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

__all__ = [
    "DaemonThreadExecutor",
    "blocking_executor",
    "is_async_callable",
    "run_blocking",
    "shutdown_blocking_executor",
]

P = ParamSpec("P")
T = TypeVar("T")

_MAX_WORKERS = 64
"""Enough for many concurrent sync tools; past it calls queue (a tool timeout still bounds the wait)."""

_WorkItem = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonThreadExecutor(Executor):
    """A thread pool of daemon threads: `shutdown` never has to wait for a call that does not return."""

    def __init__(self, max_workers: int = _MAX_WORKERS, *, name: str = "agentoss-blocking") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._max_workers = max_workers
        self._name = name
        self._queue: queue.SimpleQueue[_WorkItem | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._idle = 0
        self._pending = 0
        self._shutdown = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new calls after shutdown")
            self._pending += 1
            self._queue.put((future, fn, args, kwargs))
            if self._pending > self._idle and len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.add(thread)
                thread.start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting calls; `cancel_futures` cancels queued ones; `wait` joins only finished workers.

        A worker stuck in a call that never returns is a daemon thread and is left behind: waiting
        for it is exactly what this executor exists to avoid.
        """
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        self._pending -= 1
                        item[0].cancel()
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                thread.join(timeout=0.1)

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            item = self._queue.get()
            with self._lock:
                self._idle -= 1
                if item is not None:
                    self._pending -= 1
            if item is None:
                with self._lock:
                    self._threads.discard(threading.current_thread())
                return
            future, fn, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
            del item, future, fn, args, kwargs


_executor: DaemonThreadExecutor | None = None
_executor_lock = threading.Lock()


def blocking_executor() -> DaemonThreadExecutor:
    """The runtime's executor for blocking user code (created on first use, again after a shutdown)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = DaemonThreadExecutor()
        return _executor


def shutdown_blocking_executor() -> None:
    """Cancel queued calls and let idle workers end, without waiting for running ones."""
    global _executor
    with _executor_lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=False, cancel_futures=True)


async def run_blocking(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`asyncio.to_thread` on a daemon thread: cancelling the await abandons the call, never the exit."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    call = functools.partial(context.run, fn, *args, **kwargs)
    return await loop.run_in_executor(blocking_executor(), call)


def is_async_callable(fn: object) -> bool:
    """A coroutine function, or an object whose `__call__` is one (those run on the loop itself)."""
    if inspect.iscoroutinefunction(fn):
        return True
    return callable(fn) and inspect.iscoroutinefunction(type(fn).__call__)
