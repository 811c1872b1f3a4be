"""Sandboxes for the python tool: one `Sandbox` interface, Docker (hardened), local (weaker) and a fake.

Names load lazily so `import agentoss.sandboxes` stays cheap and never touches Docker.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentoss.sandboxes.base import DATA_DIR, ExecResult, Sandbox
    from agentoss.sandboxes.docker import DockerSandbox
    from agentoss.sandboxes.fake import FakeSandbox
    from agentoss.sandboxes.image import build_image, default_image
    from agentoss.sandboxes.local import LocalSandbox
    from agentoss.sandboxes.pool import WarmPool
    from agentoss.sandboxes.reaper import reap

__all__ = [
    "DATA_DIR",
    "DockerSandbox",
    "ExecResult",
    "FakeSandbox",
    "LocalSandbox",
    "Sandbox",
    "WarmPool",
    "build_image",
    "default_image",
    "reap",
]

_WHERE = {
    "DATA_DIR": "base",
    "ExecResult": "base",
    "Sandbox": "base",
    "DockerSandbox": "docker",
    "FakeSandbox": "fake",
    "LocalSandbox": "local",
    "WarmPool": "pool",
    "build_image": "image",
    "default_image": "image",
    "reap": "reaper",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'agentoss.sandboxes' has no attribute {name!r}")
    return getattr(importlib.import_module(f"agentoss.sandboxes.{_WHERE[name]}"), name)
