"""The rich display of run events: reasoning, tool panels, truncated output, markdown answer."""

from __future__ import annotations

import re

from rich.console import Console

from agentoss.cli.display import RunDisplay, truncate_for_display
from agentoss.events import (
    FinalTextDelta,
    ReasoningDelta,
    RunFinished,
    StepStarted,
    ToolCallFinished,
    ToolCallStarted,
)
from agentoss.runtime.result import RunResult


def _render(hide_reasoning: bool) -> str:
    console = Console(record=True, width=100, force_terminal=False)
    display = RunDisplay(console, hide_reasoning=hide_reasoning)
    long_output = "\n".join(f"line {i}" for i in range(100))
    for event in [
        StepStarted(step=1, prompt_tokens=10),
        ReasoningDelta(text="private thoughts"),
        ToolCallStarted(
            recipient="python", channel="analysis", arguments="for i in range(100): print(f'line {i}')"
        ),
        ToolCallFinished(recipient="python", output=long_output, is_error=False, duration_s=0.5),
        FinalTextDelta(text="# Done"),
        RunFinished(
            result=RunResult(
                final_text="# Done\n\n**bold** answer", stop_reason="final", turns=1, messages=[]
            )
        ),
    ]:
        display.show(event)
    display.close()
    return console.export_text()


def test_reasoning_tool_panels_truncation_and_markdown() -> None:
    text = _render(hide_reasoning=False)
    assert "private thoughts" in text
    assert "tool call: python" in text and "for i in range(100)" in text
    assert re.search(r"line 19\b", text) and not re.search(r"line 20\b", text)
    assert "[output truncated for display:" in text
    assert "bold answer" in text and "**bold**" not in text  # rendered as markdown


def test_hidden_reasoning() -> None:
    assert "private thoughts" not in _render(hide_reasoning=True)


def test_truncate_for_display() -> None:
    assert truncate_for_display("short") == ("short", None)
    shown, note = truncate_for_display("x" * 5000)
    assert len(shown) == 2000 and note is not None and "3000 more characters" in note
