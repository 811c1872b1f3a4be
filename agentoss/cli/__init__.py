"""The `agentoss` command line: a lazy click group whose subcommands load only when invoked.

Each subcommand lives in its own module (`agentoss.cli.run`, `agentoss.cli.sandbox`, ...) so that
`agentoss --help` imports no torch, docker or httpx, and so each area owns its own file.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["main"]

# name -> "module:attribute"; the attribute is a click command or group.
_COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("agentoss.cli.run", "Run one task to a final answer."),
    "chat": ("agentoss.cli.chat", "Interactive multi-turn chat with tools."),
    "replay": ("agentoss.cli.replay", "Show a transcript file readably."),
    "doctor": ("agentoss.cli.doctor", "Check vocabulary, Docker, backends and torch, with fixes."),
    "serve-model": ("agentoss.cli.serve_model", "Launch vLLM for gpt-oss-20b / 120b."),
    "sandbox": ("agentoss.cli.sandbox", "Build and inspect the python sandbox image."),
    "engine": ("agentoss.cli.engine", "The embedded PyTorch engine: synth / fetch checkpoints."),
    "eval": ("agentoss.cli.eval", "Run, report and compare tool-use benchmarks."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module = importlib.import_module(_COMMANDS[cmd_name][0])
        command = getattr(module, "command", None)
        if not isinstance(command, click.Command):
            raise click.ClickException(f"{_COMMANDS[cmd_name][0]} defines no click `command`")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in sorted(_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="agentoss")
def main() -> None:
    """agentoss: run OpenAI's gpt-oss models as tool-using agents."""
