"""`agentoss chat`: an interactive multi-turn conversation with tools, shown like `agentoss run`.

With the browser tool, each answer's citations are resolved against the pages the browser has shown
so far in the conversation (links and footnotes, as `agentoss run` draws them).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from agentoss.cli.execution import (
    EXIT_CANCELLED,
    EXIT_USAGE,
    citation_resolver,
    run_main,
    run_turn,
    stop_line,
    terminal_approver,
)
from agentoss.cli.options import NO_BACKEND_HELP, AgentOptions, agent_options, backend_configured
from agentoss.errors import AgentossError, ConfigurationError
from agentoss.runtime.threads import run_blocking

__all__ = ["command"]

_QUIT = ("/exit", "/quit")


@click.command("chat", context_settings={"help_option_names": ["-h", "--help"]})
@agent_options
def command(**kwargs: Any) -> None:
    """Chat with the model over several turns. `/exit` or end of input (Ctrl-D) quits; Ctrl-C stops."""
    options = AgentOptions.from_kwargs(kwargs)
    if not backend_configured(options):
        click.echo(NO_BACKEND_HELP, err=True, nl=False)
        sys.exit(EXIT_USAGE)
    sys.exit(run_main(_chat(options)))


async def _chat(options: AgentOptions) -> int:
    from rich.console import Console

    from agentoss.cli.display import RunDisplay
    from agentoss.cli.run import make_agent

    console = Console()
    approve = terminal_approver() if options.approve else None
    try:
        built = await make_agent(options, options.tools or (), approve=approve)
    except ConfigurationError as exc:
        click.echo(f"agentoss: {exc}", err=True)
        return EXIT_USAGE
    except AgentossError as exc:
        click.echo(f"agentoss: {type(exc).__name__}: {exc}", err=True)
        return 1
    tools = options.tools or ()
    session = built.agent.session()
    cite = citation_resolver(built.agent.tools, tools)
    console.print("[dim]agentoss chat: /exit to quit[/dim]")
    try:
        while True:
            text = await run_blocking(_read_line)  # a daemon thread: Ctrl-C never waits on stdin
            if text is None or text.strip() in _QUIT:
                return 0
            if not text.strip():
                continue
            display = RunDisplay(console, hide_reasoning=options.hide_reasoning, cite=cite)
            outcome = await run_turn(session, text, display)
            if outcome.exit_code == EXIT_CANCELLED:
                return EXIT_CANCELLED
            if outcome.exit_code != 0:
                click.echo(stop_line(outcome.result), err=True)
    finally:
        await built.aclose()


def _read_line() -> str | None:
    click.echo("you> ", nl=False, err=True)
    line = sys.stdin.readline()
    return line.rstrip("\n") if line else None
