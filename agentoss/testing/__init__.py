"""Test doubles shipped in the package: scripted replies and fake model servers speaking real wire protocols.

`Script` chooses harmony completions for prompts; `FakeVLLMServer` (`agentoss.testing.fake_vllm`),
`FakeOllamaServer` (`fake_ollama`) and `FakeLlamaCppServer` (`fake_llamacpp`) serve them over loopback
HTTP with injectable `Faults`. The servers load on first access, and aiohttp only when one starts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agentoss.testing.fake_server import Faults
from agentoss.testing.script import Rule, Script

if TYPE_CHECKING:
    from agentoss.testing.fake_llamacpp import FakeLlamaCppServer
    from agentoss.testing.fake_ollama import FakeOllamaServer
    from agentoss.testing.fake_vllm import FakeVLLMServer

__all__ = ["FakeLlamaCppServer", "FakeOllamaServer", "FakeVLLMServer", "Faults", "Rule", "Script"]

_LAZY = {
    "FakeVLLMServer": "agentoss.testing.fake_vllm",
    "FakeOllamaServer": "agentoss.testing.fake_ollama",
    "FakeLlamaCppServer": "agentoss.testing.fake_llamacpp",
}


def __getattr__(name: str) -> Any:
    # Lazy so that `python -m agentoss.testing.fake_vllm` does not import its own module twice.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agentoss.testing' has no attribute {name!r}")
