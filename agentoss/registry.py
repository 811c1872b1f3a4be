"""Names -> implementations, loaded lazily: how the core finds backends, tools and sandboxes.

The core never imports `agentoss.tools`, `agentoss.sandboxes` or `agentoss.evals` directly (they depend
on the core, not the other way round). It asks this registry for a name, and the module is imported
only then, so choosing `--backend vllm` never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

from agentoss.errors import ConfigurationError

__all__ = ["REGISTRY", "Kind", "load", "names"]

Kind = Literal["backend", "tool", "sandbox"]

REGISTRY: dict[Kind, dict[str, str]] = {
    "backend": {
        "vllm": "agentoss.backends.vllm:VLLMBackend",
        "ollama": "agentoss.backends.ollama:OllamaBackend",
        "llamacpp": "agentoss.backends.llamacpp:LlamaCppBackend",
        "chat": "agentoss.backends.chat:ChatCompletionsBackend",
        "scripted": "agentoss.backends.scripted:ScriptedBackend",
        "torch": "agentoss.engine.backend:TorchBackend",
    },
    "tool": {
        "python": "agentoss.tools.python:PythonTool",
        "browser": "agentoss.tools.browser:BrowserTool",
    },
    "sandbox": {
        "docker": "agentoss.sandboxes.docker:DockerSandbox",
        "local": "agentoss.sandboxes.local:LocalSandbox",
    },
}


def names(kind: Kind) -> list[str]:
    """The registered names of one kind, sorted."""
    return sorted(REGISTRY[kind])


def load(kind: Kind, name: str) -> Any:
    """Import and return the implementation registered as `name`; a clear error when unknown or missing."""
    try:
        target = REGISTRY[kind][name]
    except KeyError:
        raise ConfigurationError(
            f"unknown {kind} {name!r}; choose one of: {', '.join(names(kind))}"
        ) from None
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] == "agentoss":
            raise ConfigurationError(f"{kind} {name!r}: cannot import {module_name} ({exc})") from exc
        raise ConfigurationError(
            f"{kind} {name!r} needs an optional dependency that is not installed ({exc.name}). "
            "Fix: pip install 'agentoss[all]'"
        ) from exc
    return getattr(module, attribute)
