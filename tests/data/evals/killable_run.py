"""A BFCL oracle run slow enough to be killed halfway (used by tests/test_eval_runner.py)."""

from __future__ import annotations

import asyncio
import json
import sys

from agentoss.evals import EvalConfig, OracleScript, load_task, run_eval

from agentoss.backends.scripted import ScriptedBackend


async def main(out: str, delay: float) -> None:
    task = load_task("bfcl")
    samples = task.samples(["simple", "parallel"], limit=6)
    backend = ScriptedBackend(OracleScript(task, samples), delay=delay)
    run = await run_eval(task, backend, out, EvalConfig(concurrency=2, retry_backoff_s=0), samples=samples)
    print(json.dumps({"planned": run.planned, "skipped": run.skipped, "ran": run.ran, "lost": run.lost}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
