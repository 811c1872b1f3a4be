"""The harness over real loopback HTTP: `VLLMBackend` against the fake vLLM server, oracle rules."""

from __future__ import annotations

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
