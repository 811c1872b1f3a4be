"""Running one user turn from the terminal: drive a session, show it, ask approvals, map outcomes to exits.

Shared by `agentoss run` and `agentoss chat`. Exit statuses: 0 a final answer, 1 a run that ended
without one (or failed), 2 a usage or configuration error, 130 cancelled with Ctrl-C.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import Any

import click

from agentoss.cli.display import RunDisplay
from agentoss.errors import RunError
from agentoss.events import RunFinished
from agentoss.runtime.agent import Session
from agentoss.runtime.result import RunResult
from agentoss.runtime.tool import ToolCall

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_NO_FINAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "TurnOutcome",
    "run_turn",
    "stop_line",
    "terminal_approver",
]

EXIT_OK = 0
EXIT_NO_FINAL = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    """How a turn ended: its result (always present) and the exit status it maps to."""

    result: RunResult
    exit_code: int


async def run_turn(session: Session, text: str, display: RunDisplay | None) -> TurnOutcome:
    """Send `text`, showing events; a failure or Ctrl-C still yields a result (error / cancelled)."""
    result: RunResult | None = None
    try:
        async for event in session.stream(text):
            if display is not None:
                display.show(event)
            if isinstance(event, RunFinished):
                result = event.run_result
    except RunError:
        pass  # the RunFinished event before it carried the result
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        result = session.partial_result()
    finally:
        if display is not None:
            display.close()
    if result is None:
        result = RunResult(final_text=None, stop_reason="cancelled", turns=0, messages=[])
    if result.stop_reason == "final":
        return TurnOutcome(result, EXIT_OK)
    return TurnOutcome(result, EXIT_CANCELLED if result.stop_reason == "cancelled" else EXIT_NO_FINAL)


def stop_line(result: RunResult) -> str:
    """One line saying why a run ended without a final answer."""
    detail = result.error
    if detail is None:
        prefix = f"{result.stop_reason}:"
        detail = next(
            (d[len(prefix) :].strip() for d in reversed(result.diagnostics) if d.startswith(prefix)), None
        )
    return f"agentoss: no final answer: {result.stop_reason}" + (f" ({detail})" if detail else "")


def terminal_approver(console: Any = None) -> Any:
    """An approve hook asking y/n on the terminal (stderr prompt, answer from stdin; EOF denies)."""

    async def approve(call: ToolCall) -> bool | str:
        answer = await asyncio.to_thread(_ask, call)
        if answer is None:
            return "no answer from the user (end of input)"
        return True if answer in ("y", "yes") else "The user denied this tool call."

    return approve


def _ask(call: ToolCall) -> str | None:
    click.echo(f"Allow tool call to {call.recipient}? [y/N] ", err=True, nl=False)
    line = sys.stdin.readline()
    if not line:
        click.echo("", err=True)
        return None
    return line.strip().lower()
