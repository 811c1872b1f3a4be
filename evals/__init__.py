"""agentoss.evals: tool-use benchmarks (BFCL, math with python, HumanEval) run through the real agent loop.

Resumable, concurrent, with pass@k / pass^k, bootstrap confidence intervals, an HTML report and a
comparison of two runs. Nothing heavy is imported until a benchmark is chosen.
"""

from __future__ import annotations

from agentoss.evals.benchmarks import BENCHMARKS, load_task
from agentoss.evals.core import Attempt, ExactMatchScorer, RunSpec, Sample, SampleEnv, Score, Scorer, Task
from agentoss.evals.metrics import GroupSummary, bootstrap_ci, pass_at_k, pass_hat_k, summarize
from agentoss.evals.oracle import Call, Final, OracleScript, Plan
from agentoss.evals.runner import EvalConfig, EvalRun, run_eval
from agentoss.evals.store import ResultStore, config_hash

__all__ = [
    "BENCHMARKS",
    "Attempt",
    "Call",
    "EvalConfig",
    "EvalRun",
    "ExactMatchScorer",
    "Final",
    "GroupSummary",
    "OracleScript",
    "Plan",
    "ResultStore",
    "RunSpec",
    "Sample",
    "SampleEnv",
    "Score",
    "Scorer",
    "Task",
    "bootstrap_ci",
    "config_hash",
    "load_task",
    "pass_at_k",
    "pass_hat_k",
    "run_eval",
    "summarize",
]
