"""The rich display of run events: reasoning, tool panels, truncated output, markdown answer, citations."""

from __future__ import annotations

import re

from agentoss.tools.browser import Page, resolve_citations
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


def _render_answer(text: str, *, cite: bool) -> str:
    pages = [
        Page(url="", title="results", text="[0] query", kind="search"),
        Page(url="https://example.com/tea", title="Tea", text="Tea\nChai uses cardamom.\nAnd ginger.\n"),
    ]
    console = Console(record=True, width=100, force_terminal=False)
    display = RunDisplay(console, cite=(lambda answer: resolve_citations(answer, pages)) if cite else None)
    display.show(RunFinished(result=RunResult(final_text=text, stop_reason="final", turns=1, messages=[])))
    display.close()
    return console.export_text()


def test_citations_become_numbered_links_with_url_and_line_footnotes() -> None:
    text = _render_answer(
        "Cardamom 【1†L1-L2】, again 【1†L1-L2】, ginger 【1†L2】, bad 【0†L1】.", cite=True
    )
    assert "Cardamom [1], again [1], ginger [2], bad 【0†L1】." in text
    assert "[1] Tea: https://example.com/tea L1-L2" in text
    assert "[2] Tea: https://example.com/tea L2" in text
    assert "citation 【0†L1】 not resolved: cursor 0 shows a page without an address" in text


def test_without_a_resolver_citations_are_shown_as_written() -> None:
    text = _render_answer("Cardamom 【1†L1】.", cite=False)
    assert "Cardamom 【1†L1】." in text and "example.com" not in text
