"""The one exception tree of agentoss: every error that ends an operation derives from `AgentossError`.

agentoss has two error channels. Errors the *model* should see (an unknown tool, bad JSON arguments,
a tool that failed or timed out) never raise out of the run: they become tool messages the model can
read and recover from (see `agentoss.runtime.tool.ToolError`). Everything else raises one of the
classes below, with third-party errors mapped at the boundary (`raise ... from exc`).

Tree::

    AgentossError
    ├── ConfigurationError        bad option, missing optional dependency, unknown registry name
    ├── VocabularyError           the o200k_base vocabulary is missing or corrupt
    ├── HarmonyError              a conversation cannot be rendered (invalid message, unencodable text)
    ├── BackendError              the model server failed
    │   ├── BackendUnavailableError   cannot connect / server down after retries
    │   ├── BackendTimeoutError       connect, read or stream-idle timeout
    │   ├── BackendResponseError      the server answered with an error (status + message verbatim)
    │   └── ContextLengthError        the prompt cannot fit in the model's context window
    ├── SandboxError              the sandbox could not start, or broke in a way the model cannot fix
    │   └── SandboxUnavailableError   no Docker daemon / image / bubblewrap
    ├── EngineError               the embedded engine cannot load or run a checkpoint
    ├── RunError                  an agent run ended abnormally; carries the transcript so far
    └── EvalError                 an eval cannot be set up (unknown benchmark, missing package data)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AgentossError",
    "BackendError",
    "BackendResponseError",
    "BackendTimeoutError",
    "BackendUnavailableError",
    "ConfigurationError",
    "ContextLengthError",
    "EngineError",
    "EvalError",
    "HarmonyError",
    "RunError",
    "SandboxError",
    "SandboxUnavailableError",
    "VocabularyError",
]


class AgentossError(Exception):
    """Root of every error agentoss raises on purpose."""


class ConfigurationError(AgentossError):
    """An option, a registry name or an optional dependency is wrong or missing."""


class VocabularyError(AgentossError):
    """The o200k_base vocabulary file harmony needs is missing or does not match its hash."""


class HarmonyError(AgentossError):
    """A conversation cannot be rendered into harmony tokens."""


class BackendError(AgentossError):
    """A model server failed to produce a completion."""


class BackendUnavailableError(BackendError):
    """The server could not be reached (after the configured retries)."""


class BackendTimeoutError(BackendError):
    """A connect, read or stream-idle timeout expired."""


class BackendResponseError(BackendError):
    """The server answered with an error; `status` and the server's own `message` are kept verbatim."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ContextLengthError(BackendError):
    """The prompt (plus at least one output token) does not fit in the model's context window."""

    def __init__(self, message: str, *, prompt_tokens: int, max_model_len: int) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.max_model_len = max_model_len


class SandboxError(AgentossError):
    """The sandbox failed in a way the model cannot recover from."""


class SandboxUnavailableError(SandboxError):
    """No usable isolation backend (Docker daemon, sandbox image, bubblewrap) is available."""


class EngineError(AgentossError):
    """The embedded engine cannot load or run a checkpoint."""


class RunError(AgentossError):
    """An agent run ended abnormally. `transcript` holds every message produced before the failure."""

    def __init__(self, message: str, *, transcript: Any = None, stop_reason: str = "error") -> None:
        super().__init__(message)
        self.transcript = transcript
        self.stop_reason = stop_reason


class EvalError(AgentossError):
    """An evaluation cannot be set up or resumed."""
