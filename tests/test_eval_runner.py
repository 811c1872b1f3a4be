"""The runner: bounded retries counted and reported, resume after a kill, concurrency, epochs, efforts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from agentoss.evals import EvalConfig, OracleScript, ResultStore, run_eval, summarize
from agentoss.evals.bfcl import BFCLTask
from agentoss.evals.core import RunSpec
from agentoss.evals.report import summary_data
from agentoss.evals.store import read_jsonl
from eval_fixtures import PlanAgent, plan_builder, run_oracle

from agentoss.backends.base import Chunk, SamplingParams
from agentoss.backends.scripted import ScriptedBackend
from agentoss.errors import BackendUnavailableError
from agentoss.harmony.encoding import decode

ROOT = Path(__file__).resolve().parents[1]


class FlakyBackend:
    """Fails the first `failures[text]` requests whose prompt contains `text` (-1: always)."""

    def __init__(self, inner: Any, failures: dict[str, int]) -> None:
        self.inner = inner
        self.failures = dict(failures)

    async def stream(self, prompt: Sequence[int], params: SamplingParams) -> AsyncIterator[Chunk]:
        text = decode(list(prompt))
        for needle, left in self.failures.items():
            if needle in text and left != 0:
                self.failures[needle] = left - 1
                raise BackendUnavailableError("server down")
        async for chunk in self.inner.stream(prompt, params):
            yield chunk

    async def context_window(self) -> int | None:
        return await self.inner.context_window()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_backend_errors_are_retried_then_counted_not_dropped(tmp_path: Path) -> None:
    task = BFCLTask()
    samples = task.samples(["simple"], limit=4)
    flaky_once, broken = samples[0].metadata["first_user"], samples[1].metadata["first_user"]
    script = OracleScript(task, samples)
    backend = FlakyBackend(ScriptedBackend(script), {flaky_once: 1, broken: -1})
    config = EvalConfig(concurrency=4, max_retries=2, retry_backoff_s=0)
    run, records, _ = await run_oracle(task, samples, tmp_path, config=config, backend=backend)
    by_id = {r["sample_id"]: r for r in records}
    assert by_id[samples[0].id]["tries"] == 2 and by_id[samples[0].id]["correct"]
    failed = by_id[samples[1].id]
    assert (
        failed["status"] == "error" and failed["tries"] == 3 and "BackendUnavailableError" in failed["error"]
    )
    assert run.retries == 3 and run.errors == 1 and run.lost == 0 and len(records) == 4
    (overall,) = [g for g in summarize(records) if g.category == "ALL"]
    assert overall.errors == 1 and overall.samples == 4 and overall.accuracy == 0.75

    # A resumed run redoes only the failed sample.
    healthy = ScriptedBackend(script)
    again = await run_eval(task, healthy, tmp_path, config, samples=samples)
    assert (again.skipped, again.ran, again.errors) == (3, 1, 0)
    assert all(r["correct"] for r in ResultStore(tmp_path).records().values())


async def test_concurrency_limit_is_respected(tmp_path: Path) -> None:
    task = BFCLTask()
    samples = task.samples(["simple"], limit=10)
    script = OracleScript(task, samples)
    state = {"now": 0, "peak": 0}

    class SlowAgent(PlanAgent):
        async def run(self, text: str) -> Any:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            await asyncio.sleep(0.01)
            try:
                return await super().run(text)
            finally:
                state["now"] -= 1

    def build(backend: Any, spec: RunSpec, effort: str, seed: int, config: EvalConfig) -> SlowAgent:
        return SlowAgent(script, spec)

    run = await run_eval(
        task, None, tmp_path, EvalConfig(concurrency=3), agent_builder=build, samples=samples
    )
    assert run.ran == 10 and state["peak"] == 3


async def test_epochs_and_effort_sweep_are_separate_configs(tmp_path: Path) -> None:
    task = BFCLTask()
    samples = task.samples(["simple"], limit=3)
    script = OracleScript(task, samples)
    efforts: list[tuple[str, int]] = []
    builder = plan_builder(script)

    def build(backend: Any, spec: RunSpec, effort: str, seed: int, config: EvalConfig) -> Any:
        efforts.append((effort, seed))
        return builder(backend, spec, effort, seed, config)

    config = EvalConfig(epochs=2, efforts=["low", "high"])
    run = await run_eval(task, None, tmp_path, config, agent_builder=build, samples=samples)
    assert run.planned == 12 and run.ran == 12
    assert {e for e, _ in efforts} == {"low", "high"}
    assert len({seed for _, seed in efforts}) == 6  # per (sample, epoch), shared across efforts
    groups = [g for g in summarize(ResultStore(tmp_path).records().values()) if g.category == "ALL"]
    assert sorted(g.effort for g in groups) == ["high", "low"]
    assert len({g.config for g in groups}) == 2
    assert all(g.epochs == 2 and g.pass_at == {1: 1.0, 2: 1.0} and g.pass_hat[2] == 1.0 for g in groups)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {c["effort"] for c in manifest["configs"].values()} == {"low", "high"}


def _run_script(out: Path, delay: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests/data/evals/killable_run.py"), str(out), str(delay)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _stable(summary: dict[str, Any]) -> list[dict[str, Any]]:
    keep = (
        "task",
        "category",
        "config",
        "samples",
        "attempts",
        "accuracy",
        "ci_low",
        "ci_high",
        "errors",
        "pass_at",
    )
    return [{k: g[k] for k in keep} for g in summary["groups"]]


def test_a_killed_run_resumes_without_redoing_samples_and_ends_with_the_same_report(tmp_path: Path) -> None:
    killed = tmp_path / "killed"
    proc = _run_script(killed, 0.04)
    results = killed / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if results.exists() and len(results.read_text().splitlines()) >= 4:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done_before = len(ResultStore(killed).finished())
    assert 4 <= done_before < 12

    resumed = _run_script(killed, 0.0)
    out, _ = resumed.communicate(timeout=120)
    report = json.loads(out.strip().splitlines()[-1])
    assert report == {"planned": 12, "skipped": done_before, "ran": 12 - done_before, "lost": 0}
    lines = list(read_jsonl(results))  # a line cut by the kill is skipped
    keys = [(r["sample_id"], r["epoch"], r["config"]) for r in lines if r.get("status") == "ok"]
    assert len(keys) == len(set(keys)) == 12

    straight = tmp_path / "straight"
    uninterrupted = _run_script(straight, 0.0)
    uninterrupted.communicate(timeout=120)
    records_a = list(ResultStore(killed).records().values())
    records_b = list(ResultStore(straight).records().values())
    assert _stable(summary_data(records_a, {})) == _stable(summary_data(records_b, {}))


async def test_a_partial_last_line_is_ignored_and_fenced_off(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    record = {"task": "t", "sample_id": "a", "epoch": 0, "config": "c", "status": "ok", "score": 1.0}
    await store.append(record, [])
    with store.results_path.open("ab") as handle:
        handle.write(b'{"task": "t", "sample_id": "b", "ep')  # a writer killed mid-line
    assert set(store.records()) == {("t", "a", 0, "c")}
    await store.append({**record, "sample_id": "b"}, [{"role": "user", "content": "hi"}])
    assert set(store.records()) == {("t", "a", 0, "c"), ("t", "b", 0, "c")}
    assert store.transcripts()[("t", "b", 0, "c")] == [{"role": "user", "content": "hi"}]


def test_backend_failures_are_recognised_by_type_not_by_text_inside_a_message() -> None:
    from agentoss.evals.runner import _is_backend_failure

    from agentoss.errors import BackendResponseError, BackendUnavailableError, RunError
    from agentoss.runtime.tool import ToolError

    def wrapped(inner: BaseException) -> RunError:
        try:
            raise RunError(str(inner), stop_reason="error") from inner
        except RunError as outer:
            return outer

    assert _is_backend_failure(wrapped(BackendUnavailableError("connection refused")))
    # The loop raises BackendResponseError for a completion the server ended with error / abort.
    assert _is_backend_failure(wrapped(BackendResponseError("the backend ended the completion with error")))
    assert not _is_backend_failure(RunError("the backend ended the completion with error: no cause"))
    assert _is_backend_failure(RunError("cut", stop_reason="backend_error"))
    quoted = RunError("tool said: 'the backend ended the completion with error' (not a backend failure)")
    assert not _is_backend_failure(wrapped(ToolError(str(quoted))))
    assert not _is_backend_failure(quoted)
