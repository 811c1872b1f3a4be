"""`agentoss run TASK`: run one task to a final answer with a live terminal view (or `--json`).

With the browser tool, `【cursor†Lx-Ly】` citations in the answer are resolved against the pages it
showed: links and footnotes in the terminal view, a `citations` list in `--json` (unresolved ones
become `diagnostics`).
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from agentoss.cli.execution import (
    CANCELLED_BEFORE_RUN,
    EXIT_CANCELLED,
    EXIT_USAGE,
    TurnOutcome,
    citation_resolver,
    citations_json,
    run_main,
    run_turn,
    stop_line,
    terminal_approver,
)
from agentoss.cli.options import NO_BACKEND_HELP, AgentOptions, agent_options, backend_configured
from agentoss.errors import AgentossError, ConfigurationError
from agentoss.runtime.result import RunResult, StopReason

if TYPE_CHECKING:
    from agentoss.tools.browser import CitedText

__all__ = ["Built", "command", "make_agent"]


@click.command("run", context_settings={"help_option_names": ["-h", "--help"]})
@agent_options
@click.option(
    "--json", "as_json", is_flag=True, help="Print exactly one JSON object on stdout, nothing else."
)
@click.option("--from-make", is_flag=True, hidden=True)
@click.argument("task")
def command(task: str, as_json: bool, from_make: bool, **kwargs: Any) -> None:
    """Run TASK (`-` reads it from stdin) to a final answer.

    Exit status: 0 with a final answer, 1 without one, 2 on a usage error, 130 on Ctrl-C.
    """
    options = AgentOptions.from_kwargs(kwargs)
    if task == "-":
        task = sys.stdin.read()
    if not task.strip():
        click.echo(
            'agentoss: the task is empty. Usage: agentoss run "TASK"  or  make run TASK="..."', err=True
        )
        sys.exit(EXIT_USAGE)
    if not backend_configured(options):
        click.echo(NO_BACKEND_HELP, err=True, nl=False)
        sys.exit(EXIT_USAGE)
    tools = options.tools if options.tools is not None else (("python",) if from_make else ())
    sys.exit(run_main(_execute(task, options, tools, as_json)))


@dataclass
class Built:
    """What a command built and must close: the backend, the agent (and its tools), owned sandboxes."""

    backend: Any
    agent: Any
    owned: list[Any]

    async def aclose(self) -> None:
        """Close the tools, then the sandboxes, then the backend; report (never raise) failures."""
        closers = [self.agent.aclose, *(item.aclose for item in self.owned), self.backend.aclose]
        for close in closers:
            try:
                await asyncio.wait_for(close(), timeout=30)
            except Exception as exc:
                click.echo(f"agentoss: cleanup failed: {type(exc).__name__}: {exc}", err=True)


async def make_agent(options: AgentOptions, tools: tuple[str, ...], *, approve: Any = None) -> Built:
    """The backend, tools and `Agent` the options describe (the caller closes them: `Built.aclose`)."""
    from agentoss.cli.options import build_backend, build_tools, load_output_type
    from agentoss.runtime.agent import Agent
    from agentoss.runtime.limits import Limits

    backend = build_backend(options)
    owned: list[Any] = []
    try:
        built_tools, owned = build_tools(options, tools)
        agent = Agent(
            backend,
            tools=built_tools,
            output_type=load_output_type(options.output_type),
            instructions=options.instructions,
            reasoning_effort=options.effort,  # type: ignore[arg-type]
            limits=Limits(
                max_turns=options.max_turns,
                tool_timeout_s=options.tool_timeout,
                timeout_s=options.timeout,
                **({} if options.max_tokens is None else {"max_output_tokens_per_call": options.max_tokens}),
            ),
            transcript=options.transcript,
            approve=approve,
            temperature=options.temperature,
            seed=options.seed,
        )
    except BaseException:
        for item in [*owned, backend]:
            await asyncio.wait_for(item.aclose(), timeout=30)
        raise
    return Built(backend, agent, owned)


async def _execute(task: str, options: AgentOptions, tools: tuple[str, ...], as_json: bool) -> int:
    from rich.console import Console

    from agentoss.cli.display import RunDisplay

    console = Console(stderr=as_json)
    approve = terminal_approver() if options.approve else None
    try:
        built = await make_agent(options, tools, approve=approve)
    except ConfigurationError as exc:
        return _fail(f"agentoss: {exc}", as_json, EXIT_USAGE)
    except AgentossError as exc:
        return _fail(f"agentoss: {type(exc).__name__}: {exc}", as_json, 1)
    except asyncio.CancelledError:  # Ctrl-C while the backend, tools or sandbox were being built
        task_ = asyncio.current_task()
        if task_ is not None:
            task_.uncancel()
        return _fail(CANCELLED_BEFORE_RUN, as_json, EXIT_CANCELLED, stop_reason="cancelled")
    try:
        cite = citation_resolver(built.agent.tools, tools)
        display = None if as_json else RunDisplay(console, hide_reasoning=options.hide_reasoning, cite=cite)
        outcome: TurnOutcome = await run_turn(built.agent.session(), task, display)
        result = outcome.result
        cited = None  # the terminal view resolves citations itself when it draws the answer
        if as_json and cite is not None and result.final_text is not None:
            cited = cite(result.final_text)
    finally:
        await built.aclose()
    if as_json:
        click.echo(json.dumps(_json_object(result, cited), ensure_ascii=False))
    if outcome.exit_code != 0:
        click.echo(stop_line(result), err=True)
    return outcome.exit_code


def _json_object(result: RunResult, cited: CitedText | None) -> dict[str, Any]:
    """`RunResult.to_json_dict()` plus `citations` (and unresolved citations in `diagnostics`)."""
    data = result.to_json_dict()
    citations, unresolved = citations_json(cited) if cited is not None else ([], [])
    data["citations"] = citations
    data["diagnostics"] = [*data["diagnostics"], *unresolved]
    return data


def _fail(message: str, as_json: bool, code: int, *, stop_reason: StopReason = "error") -> int:
    if as_json:
        result = RunResult(
            final_text=None, stop_reason=stop_reason, turns=0, messages=[], diagnostics=[message]
        )
        click.echo(json.dumps(_json_object(result, None)))
    click.echo(message, err=True)
    return code
