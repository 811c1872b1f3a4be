"""Remove sandbox containers and volumes leaked by processes that died without closing them."""

from __future__ import annotations

import os
import socket
from typing import Any

from agentoss.sandboxes.container import LABEL

__all__ = ["owner_alive", "reap"]


def owner_alive(labels: dict[str, str]) -> bool:
    """True when the process that created the object still runs on this host (unknown owners count as alive
    only when they live on another host, which we cannot check)."""
    if labels.get(f"{LABEL}.host") != socket.gethostname():
        return True
    try:
        pid = int(labels.get(f"{LABEL}.pid", ""))
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap(client: Any, *, everything: bool = False) -> tuple[list[str], list[str]]:
    """Remove labelled containers (then volumes) whose owner is gone, or all of them with `everything`.

    Blocking; returns the ids of the removed containers and the names of the removed volumes.
    """
    containers: list[str] = []
    for entry in client.api.containers(all=True, filters={"label": LABEL}):
        if everything or not owner_alive(entry.get("Labels") or {}):
            try:
                client.api.remove_container(entry["Id"], force=True)
                containers.append(entry["Id"])
            except Exception:
                pass
    volumes: list[str] = []
    listing = client.api.volumes(filters={"label": LABEL}) or {}
    for entry in listing.get("Volumes") or []:
        if everything or not owner_alive(entry.get("Labels") or {}):
            try:
                client.api.remove_volume(entry["Name"], force=True)
                volumes.append(entry["Name"])
            except Exception:
                pass  # still mounted by a container that is being removed: the next reap gets it
    return containers, volumes
