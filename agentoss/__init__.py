"""agentoss: run OpenAI's gpt-oss models as tool-using agents (harmony, backends, tools, the agent loop).

The public face. Names load lazily on first access, so `import agentoss` stays cheap and imports no
harmony tokenizer, HTTP client, Docker SDK or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentoss.errors import AgentossError, RunError
    from agentoss.runtime import (
        Agent,
        FunctionTool,
        Limits,
        RunResult,
        Session,
        Tool,
        ToolCall,
        ToolCallRecord,
        ToolError,
        ToolSpec,
        function_tool,
    )

__all__ = [
    "Agent",
    "AgentossError",
    "FunctionTool",
    "Limits",
    "RunError",
    "RunResult",
    "Session",
    "Tool",
    "ToolCall",
    "ToolCallRecord",
    "ToolError",
    "ToolSpec",
    "__version__",
    "function_tool",
]

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Agent": "agentoss.runtime.agent",
    "Session": "agentoss.runtime.agent",
    "FunctionTool": "agentoss.runtime.function_tool",
    "function_tool": "agentoss.runtime.function_tool",
    "Limits": "agentoss.runtime.limits",
    "RunResult": "agentoss.runtime.result",
    "ToolCallRecord": "agentoss.runtime.result",
    "Tool": "agentoss.runtime.tool",
    "ToolCall": "agentoss.runtime.tool",
    "ToolError": "agentoss.runtime.tool",
    "ToolSpec": "agentoss.runtime.tool",
    "AgentossError": "agentoss.errors",
    "RunError": "agentoss.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentoss' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
