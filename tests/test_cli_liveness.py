"""The CLI always ends and says why: a sync tool stuck past its timeout, Ctrl-C while building, bad output."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from cli_fixtures import AGENTOSS, clean_env

from agentoss.cli import run as run_command
from agentoss.cli.execution import CANCELLED_BEFORE_RUN, EXIT_CANCELLED
from agentoss.cli.options import AgentOptions
from agentoss.testing.fake_vllm import FakeVLLMServer

SLOW_MODULE = '''
import time
from pydantic import BaseModel
from agentoss import function_tool

@function_tool
def slow_sync(seconds: float) -> str:
    """Sleep, blocking the calling thread."""
    time.sleep(seconds)
    return "woke up"

class Verdict(BaseModel):
    city: str
    score: int
'''

CALL_SLOW = (
    "<|channel|>analysis<|message|>Call it.<|end|><|start|>assistant<|channel|>commentary "
    'to=functions.slow_sync <|constrain|>json<|message|>{"seconds": 30}<|call|>'
)
FINISHED = "<|channel|>final<|message|>finished<|return|>"
NOT_JSON = "<|channel|>final<|message|>not json at all<|return|>"


def _agentoss(directory: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    (directory / "slow_tools.py").write_text(SLOW_MODULE, encoding="utf-8")
    return subprocess.run(
        [AGENTOSS, "run", *args],
        input="",
        capture_output=True,
        text=True,
        env=clean_env({"PYTHONPATH": str(directory)}),
        cwd=directory,
        timeout=timeout,
    )


async def test_a_sync_tool_stuck_past_its_timeout_does_not_keep_the_cli_alive(tmp_path: Path) -> None:
    async with FakeVLLMServer([CALL_SLOW, FINISHED]) as server:
        # Liveness, not timing: the tool sleeps 30 s; the CLI must be gone well before that.
        done = await asyncio.to_thread(
            _agentoss,
            tmp_path,
            "--base-url",
            server.base_url,
            "--function-tools",
            "slow_tools",
            "--tool-timeout",
            "1",
            "--json",
            "nap",
            timeout=20,
        )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["final"] == "finished"
    assert result["tool_calls"][0]["output"] == "Tool call timed out after 1 s."


async def test_exhausted_output_retries_are_named_on_stderr(tmp_path: Path) -> None:
    async with FakeVLLMServer([NOT_JSON] * 3) as server:
        done = await asyncio.to_thread(
            _agentoss,
            tmp_path,
            "--base-url",
            server.base_url,
            "--output-type",
            "slow_tools:Verdict",
            "--json",
            "judge",
            timeout=60,
        )
    assert done.returncode == 1
    assert json.loads(done.stdout)["stop_reason"] == "error"
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(
        "agentoss: no final answer: output did not validate against Verdict after 2 retries: "
    ), line


@pytest.mark.parametrize("as_json", [False, True])
async def test_ctrl_c_while_building_prints_the_reason_and_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    building = asyncio.Event()

    async def make_agent_slowly(*args: Any, **kwargs: Any) -> Any:
        building.set()
        await asyncio.Event().wait()  # e.g. a sandbox that takes long to start

    monkeypatch.setattr(run_command, "make_agent", make_agent_slowly)
    options = cast(AgentOptions, SimpleNamespace(approve=False, hide_reasoning=False))
    task = asyncio.create_task(run_command._execute("task", options, (), as_json))
    await building.wait()
    task.cancel()  # what asyncio.Runner does on Ctrl-C
    assert await task == EXIT_CANCELLED
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == [CANCELLED_BEFORE_RUN]
    if as_json:
        result = json.loads(out)
        assert result["stop_reason"] == "cancelled" and result["final"] is None
    else:
        assert out == ""
