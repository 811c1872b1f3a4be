"""Eval harness overhead: 500 BFCL samples at concurrency 64 against the fake vLLM server (realistic latency).

The fake server runs in its own process (its CPU is not charged to the harness), streaming 1-3 tokens
per chunk with 20 ms before each chunk (~100 tokens/s per stream, a loaded vLLM server).

1. Realistic passes, same samples and concurrency, in ABBA order to cancel drift: the agent runs alone
   (tools built, `Agent.run` awaited, nothing else) and `run_eval` (scheduling, retries, scoring with
   BFCL's checker, JSONL results and transcripts). Reports the wall times and that no sample was lost.
2. Overhead pass: the runs recorded in step 1 are replayed by an instant agent (same tool calls, same
   results, no model), once bare and once through `run_eval`. With the model's time removed, the
   difference of the two wall times per sample is the harness's own cost (target: under 5 ms).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agentoss.evals import EvalConfig, OracleScript, ResultStore, RunSpec, run_eval
from agentoss.evals.bfcl import BFCLTask
from agentoss.evals.runner import default_agent_builder
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentoss.runtime.tool import ToolCall

MIX = {
    "simple": 100,
    "multiple": 80,
    "parallel": 80,
    "parallel_multiple": 60,
    "irrelevance": 60,
    "live_simple": 60,
    "live_multiple": 60,
}
CONCURRENCY = 64
TOKEN_DELAY_S = 0.02


class RecordingAgent:
    """Wraps a real agent and keeps each run's result by task text (for the replay pass)."""

    def __init__(self, agent: Any, results: dict[str, Any]) -> None:
        self.agent, self.results = agent, results

    async def run(self, task: str) -> Any:
        result = await self.agent.run(task)
        self.results[task] = result
        return result


class ReplayAgent:
    """Replays a recorded run instantly: the same tool calls on the new tools, then the same result."""

    def __init__(self, spec: RunSpec, results: dict[str, Any]) -> None:
        self.tools = {f.name: tool for tool in spec.tools for f in tool.spec.functions}
        self.results = results

    async def run(self, task: str) -> Any:
        result = self.results[task]
        for record in result.tool_calls:
            name = record.recipient.split(".", 1)[1]
            await self.tools[name].call(ToolCall(record.recipient, name, record.arguments))
        return result


def recording_builder(results: dict[str, Any]) -> Any:
    def build(backend: Any, spec: RunSpec, effort: str, seed: int, config: EvalConfig) -> RecordingAgent:
        return RecordingAgent(default_agent_builder(backend, spec, effort, seed, config), results)

    return build


def replay_builder(results: dict[str, Any]) -> Any:
    def build(backend: Any, spec: RunSpec, effort: str, seed: int, config: EvalConfig) -> ReplayAgent:
        return ReplayAgent(spec, results)

    return build


class BareEnv:
    """The least a task needs to run a sample: an agent, nothing recorded."""

    def __init__(self, build: Any, seed: int, config: EvalConfig) -> None:
        self.build, self._seed, self.config = build, seed, config

    @property
    def seed(self) -> int:
        return self._seed

    def agent(self, spec: RunSpec) -> Any:
        return self.build(None, spec, "medium", self._seed, self.config)


async def bare_pass(task: Any, samples: list[Any], build: Any, config: EvalConfig, advance: Any) -> float:
    """Wall time of running every sample's agent at the same concurrency, without the harness."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int) -> None:
        async with gate:
            await task.solve(samples[index], BareEnv(build, index, config))
            advance()

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(len(samples))))
    return time.perf_counter() - started


def start_server(rules: list[dict[str, object]], workdir: Path) -> tuple[subprocess.Popen[str], str]:
    script = workdir / "script.json"
    script.write_text(json.dumps(rules))
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentoss.testing.fake_vllm", "--port", "0", "--script", str(script),
         "--token-delay", str(TOKEN_DELAY_S)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"fake vLLM server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


async def main() -> None:
    from agentoss.backends.vllm import VLLMBackend

    console = Console()
    task = BFCLTask()
    samples = [s for category, n in MIX.items() for s in task.samples([category], limit=n)]
    assert len(samples) == 500
    workdir = Path(tempfile.mkdtemp(prefix="eval-bench-"))
    server, url = start_server(OracleScript(task, samples).to_rules(), workdir)
    config = EvalConfig(concurrency=CONCURRENCY, retry_backoff_s=0.1)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    recorded: dict[str, Any] = {}
    try:
        backend = VLLMBackend(url)

        def real(_: Any, spec: RunSpec, effort: str, seed: int, cfg: EvalConfig) -> Any:
            return default_agent_builder(backend, spec, effort, seed, cfg)

        with Progress(*columns, console=console) as progress:
            warm = progress.add_task("warm-up", total=CONCURRENCY)
            await bare_pass(task, samples[:CONCURRENCY], real, config, lambda: progress.advance(warm))
            walls: dict[str, list[float]] = {"bare": [], "harness": []}
            runs = []
            for index, kind in enumerate(("bare", "harness", "harness", "bare")):  # ABBA: cancels drift
                bar = progress.add_task(f"realistic {index + 1}/4: {kind}", total=len(samples))
                advance = lambda _=None, bar=bar: progress.advance(bar)  # noqa: E731
                started = time.perf_counter()
                if kind == "bare":
                    await bare_pass(task, samples, real, config, advance)
                else:
                    runs.append(
                        await run_eval(
                            task, backend, workdir / f"real{index}", config,
                            agent_builder=recording_builder(recorded), samples=samples, on_result=advance,
                        )
                    )  # fmt: skip
                walls[kind].append(time.perf_counter() - started)
        await backend.aclose()
    finally:
        server.terminate()
        server.wait(timeout=30)
    run = runs[0]
    records = list(ResultStore(workdir / "real1").records().values())
    ok = sum(1 for r in records if r["status"] == "ok")
    accuracy = sum(r["score"] for r in records) / len(records)

    replay = replay_builder(recorded)
    replay_bare, replay_harness = [], []
    for attempt in range(3):
        replay_bare.append(await bare_pass(task, samples, replay, config, lambda: None))
        started = time.perf_counter()
        again = await run_eval(
            task, None, workdir / f"replay{attempt}", config, agent_builder=replay, samples=samples
        )
        replay_harness.append(time.perf_counter() - started)
        assert again.lost == 0 and again.errors == 0
    bare_ms = statistics.median(replay_bare) / len(samples) * 1000
    harness_ms = statistics.median(replay_harness) / len(samples) * 1000

    table = Table("figure", "value")
    table.add_row("samples planned / recorded / ok", f"{run.planned} / {len(records)} / {ok}")
    table.add_row("lost samples", str(run.lost))
    table.add_row("backend retries / failed samples", f"{run.retries} / {run.errors}")
    table.add_row("oracle accuracy (ambiguous ground truth counts as wrong)", f"{accuracy:.3f}")
    table.add_row("lost samples in the second harness pass", str(runs[1].lost))
    table.add_row(
        "realistic wall, agent runs only (baseline), ABBA", " / ".join(f"{w:.2f} s" for w in walls["bare"])
    )
    table.add_row("realistic wall, run_eval, ABBA", " / ".join(f"{w:.2f} s" for w in walls["harness"]))
    table.add_row(
        "realistic wall ratio run_eval / baseline", f"{sum(walls['harness']) / sum(walls['bare']):.3f}"
    )
    table.add_row("replay: bare agent cost per sample (baseline)", f"{bare_ms:.2f} ms")
    table.add_row("replay: through run_eval, per sample", f"{harness_ms:.2f} ms")
    table.add_row("harness overhead per sample", f"{harness_ms - bare_ms:.2f} ms (target < 5 ms)")
    table.add_row("record append: median", f"{statistics.median(again.write_s) * 1000:.2f} ms")
    console.print(table)
    if run.lost or runs[1].lost or len(records) != len(samples):
        raise SystemExit("lost samples")


if __name__ == "__main__":
    asyncio.run(main())
