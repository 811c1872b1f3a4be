"""Running one user turn from the terminal: drive a session, show it, ask approvals, map outcomes to exits.

Shared by `agentoss run` and `agentoss chat`. Exit statuses: 0 a final answer, 1 a run that ended
without one (or failed), 2 a usage or configuration error, 130 cancelled with Ctrl-C. When the run
has a browser tool, `citation_resolver` binds `resolve_citations` to it: the CLI is the composition
root, so this is where the browser package meets the run (the runtime never imports tools).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from agentoss.cli.display import RunDisplay
from agentoss.errors import RunError
from agentoss.events import RunFinished
from agentoss.runtime.agent import Session
from agentoss.runtime.result import RunResult
from agentoss.runtime.threads import run_blocking, shutdown_blocking_executor
from agentoss.runtime.tool import ToolCall

if TYPE_CHECKING:
    from agentoss.tools.browser import CitedText

__all__ = [
    "CANCELLED_BEFORE_RUN",
    "EXIT_CANCELLED",
    "EXIT_NO_FINAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "TurnOutcome",
    "citation_resolver",
    "citations_json",
    "run_main",
    "run_turn",
    "stop_line",
    "terminal_approver",
]

EXIT_OK = 0
EXIT_NO_FINAL = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130

CANCELLED_BEFORE_RUN = "agentoss: cancelled before the run started"


def run_main(main: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine on a fresh event loop; Ctrl-C that escapes it maps to exit 130.

    Tools, approval hooks and terminal prompts run on the runtime's daemon threads, never on the
    loop's default executor, so closing the loop (which joins that executor without a timeout on
    Python 3.11) never waits for a sync tool left running past its timeout: the process exits.
    """
    try:
        with asyncio.Runner() as runner:
            try:
                return runner.run(main)
            finally:
                shutdown_blocking_executor()
    except KeyboardInterrupt:
        return EXIT_CANCELLED


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
    invalid = next((d for d in reversed(result.diagnostics) if d.startswith("output_invalid: output ")), None)
    if result.stop_reason == "error" and result.error is None and invalid is not None:
        # "output did not validate against T after N retries: <errors>"
        return f"agentoss: no final answer: {invalid[len('output_invalid: ') :]}"
    detail = result.error
    if detail is None:
        prefix = f"{result.stop_reason}:"
        detail = next(
            (d[len(prefix) :].strip() for d in reversed(result.diagnostics) if d.startswith(prefix)), None
        )
    return f"agentoss: no final answer: {result.stop_reason}" + (f" ({detail})" if detail else "")


def terminal_approver() -> Callable[[ToolCall], Awaitable[bool | str]]:
    """An approve hook asking y/n on the terminal (stderr prompt, answer from stdin; EOF denies)."""

    async def approve(call: ToolCall) -> bool | str:
        answer = await run_blocking(_ask, call)  # a daemon thread: Ctrl-C never waits on stdin
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


def citation_resolver(tools: Sequence[Any], names: Sequence[str]) -> Callable[[str], CitedText] | None:
    """`resolve_citations` bound to the run's browser tool (its page stack), or None without one.

    `names` are the built-in tools the run asked for: the browser package is imported only when
    `browser` is among them.
    """
    if "browser" not in names:
        return None
    from agentoss import registry
    from agentoss.tools.browser import resolve_citations

    browser_cls = registry.load("tool", "browser")
    browser = next((tool for tool in tools if isinstance(tool, browser_cls)), None)
    if browser is None:
        return None
    return lambda text: resolve_citations(text, browser)


def citations_json(cited: CitedText) -> tuple[list[dict[str, Any]], list[str]]:
    """The `--json` form of resolved citations, and one diagnostic line per unresolved one.

    Spans are `[start, end)` character offsets of the marker in the answer as the model wrote it
    (the `final` key), not in the rewritten text.
    """
    # A resolved marker became a longer link: shift later offsets back by what earlier links added.
    growth = [(item.start, (item.end - item.start) - len(item.marker)) for item in cited.citations]

    def original(start: int) -> int:
        return start - sum(added for at, added in growth if at < start)

    entries = [
        {
            "cursor": item.cursor,
            "marker": item.marker,
            "url": item.url,
            "title": item.title,
            "lines": list(item.lines),
            "quote": item.quote,
            "span": [original(item.start), original(item.start) + len(item.marker)],
        }
        for item in cited.citations
    ]
    diagnostics = [
        f"citation_unresolved: {item.marker} at {original(item.start)}: {item.reason}"
        for item in cited.unresolved
    ]
    return entries, diagnostics
