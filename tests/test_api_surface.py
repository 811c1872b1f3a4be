"""The public face of `agentoss`: `__all__` matches the README, names resolve, imports stay light."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import agentoss
from agentoss import events

README = Path(__file__).resolve().parent.parent / "README.md"


def _documented(marker: str) -> set[str]:
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith(marker):
            return set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", line[len(marker) :]))
    raise AssertionError(f"{README} has no line starting with {marker!r}")


def test_all_matches_the_readme() -> None:
    assert set(agentoss.__all__) == _documented("Public names (`agentoss`):")


def test_event_names_match_the_readme() -> None:
    assert set(events.__all__) == _documented("Event classes (`agentoss.events`):")


def test_every_public_name_resolves() -> None:
    for name in agentoss.__all__:
        assert getattr(agentoss, name) is not None
    assert "Agent" in dir(agentoss)


def test_event_type_tags_are_stable() -> None:
    tags = {
        name: getattr(events, name).model_fields["type"].default
        for name in events.__all__
        if name != "AgentEvent"
    }
    assert tags == {
        "StepStarted": "step.started",
        "ReasoningDelta": "reasoning.delta",
        "CommentaryDelta": "commentary.delta",
        "FinalTextDelta": "final_text.delta",
        "ToolCallStarted": "tool_call.started",
        "ToolCallFinished": "tool_call.finished",
        "DiagnosticRaised": "diagnostic",
        "StepFinished": "step.finished",
        "RunFinished": "run.finished",
    }


def test_importing_agentoss_and_the_cli_group_is_light() -> None:
    code = (
        "import sys, agentoss, agentoss.cli, agentoss.cli.run, agentoss.events\n"
        "heavy = {'openai_harmony', 'httpx', 'torch', 'docker', 'aiohttp'} & set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
