"""The agent runtime: the loop, the Python agent API, function tools, dispatch, limits and transcripts."""

from __future__ import annotations

from agentoss.runtime.agent import Agent, Session
from agentoss.runtime.dispatch import ApproveHook, ToolRouter
from agentoss.runtime.function_tool import FunctionTool, function_tool
from agentoss.runtime.limits import Limits
from agentoss.runtime.result import RunResult, RunUsage, ToolCallRecord
from agentoss.runtime.tool import Tool, ToolCall, ToolError, ToolSpec
from agentoss.runtime.transcript import TranscriptWriter, read_transcript

__all__ = [
    "Agent",
    "ApproveHook",
    "FunctionTool",
    "Limits",
    "RunResult",
    "RunUsage",
    "Session",
    "Tool",
    "ToolCall",
    "ToolCallRecord",
    "ToolError",
    "ToolRouter",
    "ToolSpec",
    "TranscriptWriter",
    "function_tool",
    "read_transcript",
]
