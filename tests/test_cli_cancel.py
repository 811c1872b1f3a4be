"""Ctrl-C during `agentoss run`: a clean exit 130 with a one-line reason, the transcript kept.

The transcript keeps the completion that was streaming when Ctrl-C came."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from cli_fixtures import AGENTOSS, agentoss, clean_env

from agentoss.runtime.transcript import read_transcript
from agentoss.testing.fake_server import Faults
from agentoss.testing.fake_vllm import FakeVLLMServer

SLOW_ANSWER = (
    "<|channel|>analysis<|message|>"
    + "thinking " * 400
    + "<|end|><|start|>assistant<|channel|>final<|message|>late<|return|>"
)


async def test_ctrl_c_ends_cleanly_and_keeps_the_transcript(tmp_path: Path) -> None:
    transcript = tmp_path / "run.jsonl"
    async with FakeVLLMServer([SLOW_ANSWER], faults=Faults(token_delay=0.02), chunk_tokens=1) as server:
        process = await asyncio.create_subprocess_exec(
            AGENTOSS,
            "run",
            "--base-url",
            server.base_url,
            "--transcript",
            str(transcript),
            "--json",
            "think hard",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=clean_env(),
        )
        for _ in range(600):  # wait until the model is streaming
            if transcript.exists() and any(r["event"] == "request" for r in read_transcript(transcript)):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        process.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 130, stderr.decode()
    assert stderr.decode().strip().splitlines()[-1] == "agentoss: no final answer: cancelled"
    assert "Traceback" not in stderr.decode()
    result = json.loads(stdout)
    assert result["stop_reason"] == "cancelled" and result["final"] is None and result["turns"] == 1
    records = list(read_transcript(transcript))
    assert [r["event"] for r in records] == ["run_started", "request", "completion", "run_finished"]
    cut = records[2]  # what the model had sampled when Ctrl-C came is kept, parsed as truncated
    assert cut["cut"] == "cancelled" and cut["sampled"]
    assert cut["messages"][0]["channel"] == "analysis" and cut["messages"][0]["content"].startswith(
        "thinking"
    )
    assert records[-1]["stop_reason"] == "cancelled"
    replay = await asyncio.to_thread(agentoss, "replay", str(transcript))
    assert replay.code == 0 and "finish: None (cut by cancelled)" in replay.stdout, replay.stderr
