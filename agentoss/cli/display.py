"""The terminal view of an agent run: rich rendering of the events `Agent.stream` yields.

Reasoning streams dimmed, each tool call is a panel (code syntax-highlighted), tool output is a
panel truncated with a note, the final answer is rendered as markdown, and a spinner runs while the
model has not produced anything yet. Given a `cite` hook (the browser's `resolve_citations`), the
answer's `【cursor†Lx-Ly】` citations become numbered links with footnotes naming URL and lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.panel import Panel
from rich.status import Status
from rich.syntax import Syntax
from rich.text import Text

from agentoss.events import (
    AgentEvent,
    CommentaryDelta,
    DiagnosticRaised,
    FinalTextDelta,
    ReasoningDelta,
    RunFinished,
    StepStarted,
    ToolCallFinished,
    ToolCallStarted,
)

if TYPE_CHECKING:
    from agentoss.tools.browser import CitedText

__all__ = ["RunDisplay", "truncate_for_display"]

_OUTPUT_LINES = 20
_OUTPUT_CHARS = 2_000


class RunDisplay:
    """Feeds events to a rich console; `show(event)` for each, `close()` at the end."""

    def __init__(
        self,
        console: Console,
        *,
        hide_reasoning: bool = False,
        show_diagnostics: bool = True,
        cite: Callable[[str], CitedText] | None = None,
    ) -> None:
        self.console = console
        self.cite = cite
        """Resolves the answer's citations before it is drawn (None: the answer is drawn as written)."""
        self.hide_reasoning = hide_reasoning
        self.show_diagnostics = show_diagnostics
        self._status: Status | None = None
        self._final: list[str] = []
        self._open_stream: str | None = None

    def show(self, event: AgentEvent) -> None:
        if isinstance(event, StepStarted):
            self._end_stream()
            self._spin(f"waiting for the model (step {event.step}, {event.prompt_tokens} prompt tokens)")
        elif isinstance(event, ReasoningDelta):
            if self.hide_reasoning:
                self._spin("thinking...")
            else:
                self._stream("reasoning", event.text, "dim italic")
        elif isinstance(event, CommentaryDelta):
            self._stream("commentary", event.text, "cyan")
        elif isinstance(event, FinalTextDelta):
            self._stop_spinner()
            self._final.append(event.text)
        elif isinstance(event, ToolCallStarted):
            self._end_stream()
            self.console.print(_call_panel(event))
        elif isinstance(event, ToolCallFinished):
            self._end_stream()
            self.console.print(_output_panel(event))
        elif isinstance(event, DiagnosticRaised):
            if self.show_diagnostics:
                self._end_stream()
                self.console.print(Text(f"diagnostic {event.code}: {event.message}", style="yellow dim"))
        elif isinstance(event, RunFinished):
            self._end_stream()
            self._render_final(event.run_result.final_text)

    def close(self) -> None:
        """Stop the spinner and end any half-printed line."""
        self._end_stream()

    def _render_final(self, text: str | None) -> None:
        final = text if text is not None else "".join(self._final)
        self._final = []
        if not final:
            return
        body: RenderableType = Markdown(final)
        if self.cite is not None:
            cited = self.cite(final)
            body = _cited_answer(cited)
            if self.show_diagnostics:
                for item in cited.unresolved:
                    self.console.print(
                        Text(f"citation {item.marker} not resolved: {item.reason}", style="yellow dim")
                    )
        self.console.print(Panel(body, title="answer", border_style="green", title_align="left"))

    def _spin(self, message: str) -> None:
        if self._status is None:
            self._status = self.console.status(message, spinner="dots")
            self._status.start()
        else:
            self._status.update(message)

    def _stop_spinner(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _stream(self, kind: str, text: str, style: str) -> None:
        self._stop_spinner()
        if self._open_stream != kind:
            self._end_stream()
            self._open_stream = kind
        self.console.print(Text(text, style=style), end="", soft_wrap=True, highlight=False)

    def _end_stream(self) -> None:
        self._stop_spinner()
        if self._open_stream is not None:
            self.console.print()
            self._open_stream = None


def _cited_answer(cited: CitedText) -> RenderableType:
    """The answer with each citation as a numbered link, then one footnote per source: URL and lines."""
    numbers: dict[tuple[str, tuple[int, int]], int] = {}
    titles: dict[int, str] = {}
    for citation in cited.citations:
        number = numbers.setdefault((citation.url, citation.lines), len(numbers) + 1)
        titles.setdefault(number, citation.title)
    text = cited.text
    for citation in reversed(cited.citations):  # back to front, so earlier spans stay valid
        number = numbers[(citation.url, citation.lines)]
        text = f"{text[: citation.start]}[\\[{number}\\]](<{citation.url}>){text[citation.end :]}"
    if not numbers:
        return Markdown(text)
    notes = Text()
    for (url, (first, last)), number in numbers.items():
        lines = f"L{first}" if first == last else f"L{first}-L{last}"
        notes.append(f"\n[{number}] ", style="bold")
        if titles[number]:
            notes.append(f"{titles[number]}: ")
        notes.append(f"{url} {lines}", style="cyan")
    return Group(Markdown(text), notes)


def _call_panel(event: ToolCallStarted) -> Panel:
    body: Any
    if event.recipient == "python" or event.recipient.startswith("python."):
        body = Syntax(event.arguments, "python", theme="ansi_dark", word_wrap=True)
    else:
        try:
            pretty = json.dumps(json.loads(event.arguments), indent=2, ensure_ascii=False)
            body = Syntax(pretty, "json", theme="ansi_dark", word_wrap=True)
        except (ValueError, TypeError):
            body = Text(event.arguments)
    return Panel(
        body,
        title=f"tool call: {event.recipient}",
        subtitle=event.channel,
        border_style="blue",
        title_align="left",
    )


def _output_panel(event: ToolCallFinished) -> Panel:
    text, note = truncate_for_display(event.output)
    title = f"{'error from' if event.is_error else 'output of'} {event.recipient} ({event.duration_s:.2f} s)"
    body = Text(text)
    if note:
        body.append(f"\n{note}", style="dim italic")
    return Panel(body, title=title, border_style="red" if event.is_error else "magenta", title_align="left")


def truncate_for_display(text: str) -> tuple[str, str | None]:
    """Cut tool output to a screenful; the note says how much was hidden (the model read all of it)."""
    lines = text.splitlines()
    if len(lines) <= _OUTPUT_LINES and len(text) <= _OUTPUT_CHARS:
        return text, None
    shown = "\n".join(lines[:_OUTPUT_LINES])[:_OUTPUT_CHARS]
    hidden = len(text) - len(shown)
    return shown, f"[output truncated for display: {hidden} more characters; the model read all of it]"
