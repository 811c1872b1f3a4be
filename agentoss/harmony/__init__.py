"""The harmony format: typed messages, canonical rendering, robust streaming parsing, prompt building."""

from __future__ import annotations

from agentoss.harmony.builtins import browser_namespace, python_namespace
from agentoss.harmony.encoding import count_tokens, decode, encode, encode_special
from agentoss.harmony.events import (
    ContentDelta,
    DiagnosticEvent,
    MessageEnd,
    MessageStart,
    ParsedCompletion,
    ParseEvent,
)
from agentoss.harmony.history import PromptBuilder, apply_history_policy
from agentoss.harmony.messages import (
    DeveloperConfig,
    Diagnostic,
    FunctionSpec,
    Message,
    ReasoningEffort,
    ResponseFormat,
    SystemConfig,
    ToolNamespace,
)
from agentoss.harmony.parse import StreamParser, parse_completion
from agentoss.harmony.render import render_message, render_prompt
from agentoss.harmony.schema import NormalizedSchema, normalize_schema

__all__ = [
    "ContentDelta",
    "DeveloperConfig",
    "Diagnostic",
    "DiagnosticEvent",
    "FunctionSpec",
    "Message",
    "MessageEnd",
    "MessageStart",
    "NormalizedSchema",
    "ParseEvent",
    "ParsedCompletion",
    "PromptBuilder",
    "ReasoningEffort",
    "ResponseFormat",
    "StreamParser",
    "SystemConfig",
    "ToolNamespace",
    "apply_history_policy",
    "browser_namespace",
    "count_tokens",
    "decode",
    "encode",
    "encode_special",
    "normalize_schema",
    "parse_completion",
    "python_namespace",
    "render_message",
    "render_prompt",
]
