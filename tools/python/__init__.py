"""The built-in `python` tool: stateful notebook semantics over a hardened sandbox."""

from __future__ import annotations

from agentoss.tools.python.tool import PythonTool, describe

__all__ = ["PythonTool", "describe"]
