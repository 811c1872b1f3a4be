"""Shared helpers for the backend tests."""

from __future__ import annotations

import asyncio
from typing import Protocol


class _CountsDisconnects(Protocol):
    @property
    def disconnects(self) -> int: ...


async def wait_for_disconnect(server: _CountsDisconnects, *, polls: int = 200) -> None:
    """Give the fake server time (`polls` x 10 ms) to notice a client hang-up (counted in `disconnects`)."""
    for _ in range(polls):
        if server.disconnects:
            return
        await asyncio.sleep(0.01)
