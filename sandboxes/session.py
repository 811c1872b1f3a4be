"""Start one interpreter container and wait until it is ready, or discard one (for sessions and the pool)."""

from __future__ import annotations

import asyncio
from typing import Any

from agentoss.sandboxes.container import (
    ContainerConfig,
    LaunchedContainer,
    ProtocolViolation,
    create_volume,
    launch,
    remove,
    remove_volume,
)

from agentoss.errors import SandboxError

__all__ = ["discard_session", "open_session"]

START_TIMEOUT_S = 60.0


async def open_session(
    client: Any, image: str, config: ContainerConfig, volume: str | None = None
) -> LaunchedContainer:
    """Start one interpreter container (with a new data volume unless given) and wait until it is ready."""
    own_volume = volume is None
    if volume is None:
        volume = await asyncio.to_thread(create_volume, client, config)
    try:
        launched = await asyncio.to_thread(launch, client, image, volume, config)
    except BaseException:
        if own_volume:
            await asyncio.to_thread(remove_volume, client, volume)
        raise
    try:
        ready = await launched.channel.receive(START_TIMEOUT_S)
    except (TimeoutError, asyncio.CancelledError, ProtocolViolation):
        await discard_session(client, launched, keep_volume=not own_volume)
        raise
    if ready is None or not ready.get("ready"):
        detail = launched.channel.stderr_tail.decode("utf-8", "replace")[-1000:]
        await discard_session(client, launched, keep_volume=not own_volume)
        raise SandboxError(f"the sandbox interpreter did not start: {detail or ready}")
    return launched


async def discard_session(client: Any, launched: LaunchedContainer, *, keep_volume: bool) -> None:
    """Close the channel and remove the container, and its data volume unless `keep_volume`."""
    launched.channel.close()
    await asyncio.to_thread(remove, client, launched.container_id)
    if not keep_volume:
        await asyncio.to_thread(remove_volume, client, launched.volume)
