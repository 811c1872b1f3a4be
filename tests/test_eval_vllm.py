"""The harness over real loopback HTTP: `VLLMBackend` against the fake vLLM server, oracle rules."""

from __future__ import annotations

import json
import select
import subprocess
import sys
from pathlib import Path

from agentoss.evals import EvalConfig, OracleScript, ResultStore, run_eval
from agentoss.evals.bfcl import BFCLTask

from agentoss.backends.http import RetryPolicy
from agentoss.backends.vllm import VLLMBackend
from agentoss.testing.fake_server import Faults
from agentoss.testing.fake_vllm import FakeVLLMServer
from agentoss.testing.script import Script


async def test_bfcl_over_a_fake_vllm_server_scores_the_oracle_fully(tmp_path: Path) -> None:
    task = BFCLTask()
    samples = task.samples(["simple", "parallel", "irrelevance"], limit=4)
    rules = Script.from_json(OracleScript(task, samples).to_rules())
    async with FakeVLLMServer(rules) as server:
        backend = VLLMBackend(server.base_url)
        try:
            run = await run_eval(task, backend, tmp_path, EvalConfig(concurrency=6), samples=samples)
        finally:
            await backend.aclose()
    records = list(ResultStore(tmp_path).records().values())
    assert run.lost == 0 and run.errors == 0 and len(records) == 12
    assert all(r["correct"] for r in records)
    assert all(r["prompt_tokens"] > 0 and r["completion_tokens"] > 0 for r in records)


async def test_a_server_that_keeps_failing_is_retried_then_reported(tmp_path: Path) -> None:
    task = BFCLTask()
    samples = task.samples(["simple"], limit=2)
    rules = Script.from_json(OracleScript(task, samples).to_rules())
    async with FakeVLLMServer(rules, faults=Faults(status=503, status_count=-1)) as server:
        backend = VLLMBackend(server.base_url, retry=RetryPolicy(attempts=1))
        try:
            config = EvalConfig(concurrency=2, max_retries=2, retry_backoff_s=0)
            run = await run_eval(task, backend, tmp_path, config, samples=samples)
        finally:
            await backend.aclose()
    records = list(ResultStore(tmp_path).records().values())
    assert run.lost == 0 and run.errors == 2 and run.retries == 4
    assert all(r["status"] == "error" and r["tries"] == 3 and "503" in r["error"] for r in records)


def _start_fake_vllm(script: Path, model: str) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "agentoss.testing.fake_vllm", "--port", "0", "--script", str(script)]
    proc = subprocess.Popen(
        [*command, "--model", model],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("READY "):
        proc.kill()
        raise AssertionError(f"fake vLLM server did not start: {line!r}")
    return proc, line.split()[1]


def test_resume_into_the_same_directory_never_mixes_two_served_models(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from agentoss.cli.eval import command

    task = BFCLTask()
    samples = task.samples(["simple"], limit=2)
    script = tmp_path / "rules.json"
    script.write_text(json.dumps(OracleScript(task, samples).to_rules()))
    servers = [_start_fake_vllm(script, model) for model in ("org/model-a", "org/model-b")]
    try:
        out = str(tmp_path / "out")
        args = ["run", "bfcl", "--categories", "simple", "--limit", "2", "--no-report", "--out", out]
        runner = CliRunner()
        first = runner.invoke(command, [*args, "--base-url", servers[0][1]])
        second = runner.invoke(command, [*args, "--base-url", servers[1][1]])
        again = runner.invoke(command, [*args, "--base-url", servers[0][1]])
    finally:
        for proc, _ in servers:
            proc.kill()
            proc.wait(timeout=30)
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0 and "resuming" not in second.output, second.output
    assert again.exit_code == 0 and "resuming: 2 of 2" in again.output, again.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    models = {config["model"] for config in manifest["configs"].values()}
    assert models == {"org/model-a", "org/model-b"}
    records = list(ResultStore(tmp_path / "out").records().values())
    assert len(records) == 4 and len({r["config"] for r in records}) == 2
