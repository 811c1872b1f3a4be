"""`agentoss replay FILE`: show a JSONL transcript readably (steps, reasoning, tool calls, answers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text

from agentoss.cli.display import truncate_for_display
from agentoss.harmony.messages import NOT_TOOL_RECIPIENTS

__all__ = ["command", "render_record"]


@click.command("replay", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--hide-reasoning", is_flag=True, help="Do not show the model's chain of thought.")
@click.option("--tokens", is_flag=True, help="Also show sampled token ids.")
def command(path: Path, hide_reasoning: bool, tokens: bool) -> None:
    """Show the transcript in PATH (written by `agentoss run --transcript`)."""
    from agentoss.runtime.transcript import read_transcript

    console = Console()
    count = 0
    for record in read_transcript(path):
        count += 1
        render_record(console, record, hide_reasoning=hide_reasoning, tokens=tokens)
    if count == 0:
        click.echo(f"agentoss: {path} holds no transcript records", err=True)
        sys.exit(1)


def render_record(
    console: Console, record: dict[str, Any], *, hide_reasoning: bool = False, tokens: bool = False
) -> None:
    """Print one transcript record."""
    event = record.get("event")
    if event == "run_started":
        tools = ", ".join(record.get("tools") or []) or "none"
        console.print(Rule(f"run (effort {record.get('reasoning_effort')}, tools: {tools})"))
        console.print(Panel(Text(str(record.get("task", ""))), title="user", title_align="left"))
    elif event == "request":
        console.print(
            Text(
                f"step {record.get('step')}: prompt {record.get('prompt_tokens')} tokens, "
                f"max_tokens {record.get('max_tokens')}",
                style="dim",
            )
        )
    elif event == "completion":
        _completion(console, record, hide_reasoning=hide_reasoning, tokens=tokens)
    elif event == "tool_call":
        text, note = truncate_for_display(str(record.get("output", "")))
        body = Text(text)
        if note:
            body.append(f"\n{note}", style="dim italic")
        title = f"{'error from' if record.get('is_error') else 'output of'} {record.get('recipient')}"
        console.print(
            Panel(
                body,
                title=f"{title} ({record.get('duration_s', 0):.2f} s)",
                title_align="left",
                border_style="red" if record.get("is_error") else "magenta",
            )
        )
    elif event == "elided":
        console.print(
            Text(f"elided the output of {record.get('author')} to fit the context window", style="yellow")
        )
    elif event == "run_finished":
        usage = record.get("usage") or {}
        line = (
            f"stop: {record.get('stop_reason')}, {record.get('turns')} model calls, "
            f"{usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} completion tokens"
        )
        if record.get("error"):
            line += f", error: {record['error']}"
        console.print(Rule(line))
    else:
        console.print(Text(json.dumps(record, ensure_ascii=False), style="dim"))


def _completion(console: Console, record: dict[str, Any], *, hide_reasoning: bool, tokens: bool) -> None:
    for message in record.get("messages") or []:
        channel = message.get("channel")
        content = str(message.get("content", ""))
        recipient = message.get("recipient")
        if recipient not in NOT_TOOL_RECIPIENTS:
            console.print(
                Panel(
                    Text(content),
                    title=f"tool call: {recipient}",
                    subtitle=str(channel),
                    border_style="blue",
                    title_align="left",
                )
            )
        elif channel == "analysis":
            if not hide_reasoning:
                console.print(Text(content, style="dim italic"))
        elif channel == "final":
            console.print(Panel(Markdown(content), title="answer", border_style="green", title_align="left"))
        else:
            console.print(Text(content, style="cyan"))
    for diagnostic in record.get("diagnostics") or []:
        console.print(Text(f"diagnostic {diagnostic}", style="yellow dim"))
    if tokens:
        console.print(Text(f"sampled: {record.get('sampled')}", style="dim"))
    cut = f" (cut by {record['cut']})" if record.get("cut") else ""
    console.print(
        Text(f"finish: {record.get('finish_reason')}{cut}, {record.get('duration_s', 0):.3f} s", style="dim")
    )
