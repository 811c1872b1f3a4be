"""Math with the python tool: seeded `reasoning-gym` sets scored by their own scorers; AIME-style files.

Every sample gets its own sandboxed python tool. The model is asked for `\\boxed{}` answers; the
reasoning-gym sets are generated from a fixed seed, so two runs see the same problems.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from agentoss.evals.answers import extract_final_answer, extract_integer
from agentoss.evals.core import Attempt, RunSpec, Sample, SampleEnv, Score, Scorer
from agentoss.evals.oracle import Call, Final, Plan
from agentoss.evals.transcript import attempt_from_results

from agentoss.errors import EvalError

__all__ = ["MATH_INSTRUCTIONS", "AimeTask", "IntegerScorer", "MathTask", "ReasoningGymScorer"]

MATH_INSTRUCTIONS = (
    "Solve the problem. Use the python tool to compute or check whatever is not trivial. "
    "End your final answer with the result alone inside \\boxed{}, e.g. \\boxed{42}."
)
MATH_CATEGORIES = ("gsm_symbolic", "basic_arithmetic", "chain_sum")
DEFAULT_SIZE = 50


@functools.cache
def _dataset(name: str, size: int, seed: int) -> Any:
    try:
        import reasoning_gym
    except ImportError as exc:
        raise EvalError(
            "the math benchmark needs 'reasoning-gym'. Fix: pip install 'agentoss[evals]'"
        ) from exc
    return reasoning_gym.create_dataset(name, size=size, seed=seed)


async def _solve_with_python(question: str, env: SampleEnv) -> Any:
    tool = await env.python_tool()
    agent = env.agent(RunSpec(tools=[tool], instructions=MATH_INSTRUCTIONS))
    return await agent.run(question)


class ReasoningGymScorer:
    """reasoning-gym's own `score_answer` for the sample's dataset (full credit only counts as correct)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    async def __call__(self, sample: Sample, attempt: Attempt, env: SampleEnv) -> Score:
        dataset = _dataset(sample.category, int(sample.metadata["size"]), self.seed)
        entry = dataset[int(sample.metadata["index"])]
        value = float(dataset.score_answer(str(attempt.prediction or ""), entry) or 0.0)
        explanation = f"answer {attempt.prediction!r}, expected {sample.target!r}"
        return Score(1.0 if value >= 1.0 else 0.0, explanation)


class IntegerScorer:
    """The predicted integer equals the target."""

    async def __call__(self, sample: Sample, attempt: Attempt, env: SampleEnv) -> Score:
        ok = attempt.prediction is not None and int(attempt.prediction) == int(sample.target)
        return Score(1.0 if ok else 0.0, f"answer {attempt.prediction!r}, expected {sample.target!r}")


class MathTask:
    """Procedural GSM-style and arithmetic problems from `reasoning-gym`, solved with python."""

    name = "math"
    uses_python = True

    def __init__(self, *, size: int = DEFAULT_SIZE, seed: int = 1234) -> None:
        self.size = size
        """Problems per category when no `limit` is given (item i does not depend on the size)."""
        self.seed = seed
        self.scorer: Scorer = ReasoningGymScorer(seed)

    def categories(self) -> list[str]:
        return list(MATH_CATEGORIES)

    def fingerprint(self) -> dict[str, Any]:
        return {"instructions": MATH_INSTRUCTIONS, "seed": self.seed}

    def samples(self, categories: Sequence[str] | None = None, limit: int | None = None) -> list[Sample]:
        out: list[Sample] = []
        for category in categories or self.categories():
            if category not in MATH_CATEGORIES:
                raise EvalError(
                    f"unknown math category {category!r}; choose from: {', '.join(MATH_CATEGORIES)}"
                )
            size = limit or self.size
            dataset = _dataset(category, size, self.seed)
            for index in range(size):
                entry = dataset[index]
                out.append(
                    Sample(
                        id=f"{category}-{index}",
                        category=category,
                        input=entry["question"],
                        target=str(entry["answer"]),
                        metadata={"index": index, "size": size, "first_user": entry["question"]},
                    )
                )
        return out

    async def solve(self, sample: Sample, env: SampleEnv) -> Attempt:
        result = await _solve_with_python(str(sample.input), env)
        return attempt_from_results(
            [result], prediction=extract_final_answer(getattr(result, "final_text", None))
        )

    async def score(self, sample: Sample, attempt: Attempt, env: SampleEnv) -> Score:
        return await self.scorer(sample, attempt, env)

    def plan(self, sample: Sample, mode: Literal["oracle", "wrong"]) -> Plan:
        if mode == "wrong":
            return [[Final("I could not solve it. \\boxed{no answer}")]]
        return [
            [Call("python", f"print({sample.target!r})"), Final(f"The answer is \\boxed{{{sample.target}}}.")]
        ]


class AimeTask:
    """AIME-style problems from a user JSONL file: `problem` (or `question`) and an integer `answer`."""

    name = "aime"
    uses_python = True

    def __init__(self, path: str | Path | None) -> None:
        if path is None:
            raise EvalError("the aime benchmark reads your own JSONL file: pass --data FILE")
        self.path = Path(path)
        self.scorer: Scorer = IntegerScorer()

    def categories(self) -> list[str]:
        return [self.path.stem]

    def fingerprint(self) -> dict[str, Any]:
        return {"instructions": MATH_INSTRUCTIONS, "file": self.path.name}

    def samples(self, categories: Sequence[str] | None = None, limit: int | None = None) -> list[Sample]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise EvalError(f"cannot read {self.path}: {exc}") from exc
        out: list[Sample] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                problem = str(row.get("problem") or row["question"])
                answer = int(str(row["answer"]).strip())
            except (ValueError, KeyError, TypeError) as exc:
                raise EvalError(
                    f"{self.path}:{number}: needs 'problem' and an integer 'answer' ({exc})"
                ) from exc
            sample_id = str(row.get("id", number))
            category = str(row.get("category", self.path.stem))
            out.append(Sample(sample_id, category, problem, answer, {"first_user": problem}))
        return out[:limit] if limit else out

    async def solve(self, sample: Sample, env: SampleEnv) -> Attempt:
        result = await _solve_with_python(str(sample.input), env)
        return attempt_from_results([result], prediction=extract_integer(getattr(result, "final_text", None)))

    async def score(self, sample: Sample, attempt: Attempt, env: SampleEnv) -> Score:
        return await self.scorer(sample, attempt, env)

    def plan(self, sample: Sample, mode: Literal["oracle", "wrong"]) -> Plan:
        if mode == "wrong":
            return [[Final(f"\\boxed{{{int(sample.target) + 1}}}")]]
        return [[Call("python", f"print({int(sample.target)})"), Final(f"\\boxed{{{sample.target}}}")]]
