"""The eval vocabulary: samples, attempts, scores, and the `Task` / `Scorer` interfaces of every benchmark.

A `Task` turns a dataset into samples and a sample into an agent run (tools, instructions, limits),
then hands the run's `Attempt` to its `Scorer`. The runner (`agentoss.evals.runner`) owns everything
else: concurrency, retries, resumable results, epochs and effort sweeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from agentoss.runtime.tool import Tool

__all__ = [
    "AgentLike",
    "Attempt",
    "ExactMatchScorer",
    "RunSpec",
    "Sample",
    "SampleEnv",
    "Score",
    "Scorer",
    "SessionLike",
    "Task",
]


@dataclass(frozen=True, slots=True)
class Sample:
    """One item of a benchmark."""

    id: str
    """Stable id within the task (the dataset's own id where it has one)."""
    category: str
    """Reporting group, e.g. `simple`, `multi_turn_base`, `gsm_symbolic`."""
    input: Any
    """What the task needs to build the run (a question, turns, a prompt)."""
    target: Any = None
    """Ground truth handed to the scorer; shown in the report."""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Score:
    """A scorer's verdict on one attempt."""

    value: float
    """1.0 correct, 0.0 wrong; partial credit in between where a scorer gives it."""
    explanation: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def correct(self) -> bool:
        return self.value >= 1.0


@dataclass(slots=True)
class Attempt:
    """What a task's agent run produced, ready for its scorer."""

    prediction: Any
    """The task-specific answer the scorer reads (JSON-serialisable)."""
    final_text: str | None = None
    stop_reason: str = "final"
    turns: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: int = 0
    transcript: list[dict[str, Any]] = field(default_factory=list)
    """Every message of every run of the sample (role, channel, recipient, content), in order."""


@dataclass(frozen=True, slots=True)
class RunSpec:
    """How one agent is configured for a sample (the runner adds backend, effort, seed and limits)."""

    tools: Sequence[Tool] = ()
    instructions: str | None = None
    max_turns: int | None = None
    """Overrides the run's turn limit (tool steps of one user turn)."""


@runtime_checkable
class SessionLike(Protocol):
    """The part of `agentoss.Session` the harness uses."""

    async def send(self, text: str) -> Any: ...


@runtime_checkable
class AgentLike(Protocol):
    """The part of `agentoss.Agent` the harness uses."""

    async def run(self, task: str) -> Any: ...

    def session(self) -> Any: ...


class SampleEnv(Protocol):
    """What a task gets from the runner for one sample: agents, and a sandbox when it uses python."""

    @property
    def seed(self) -> int:
        """Seed of this (sample, epoch), for the agent and anything the task randomises."""
        ...

    def agent(self, spec: RunSpec) -> AgentLike:
        """An agent on the run's backend with the run's effort and limits."""
        ...

    async def python_tool(self) -> Tool:
        """A fresh python tool with its own sandbox, closed by the runner after the sample."""
        ...

    async def execute(self, code: str, *, timeout_s: float) -> tuple[bool, str]:
        """Run code in this sample's sandbox: (succeeded, output)."""
        ...


@runtime_checkable
class Scorer(Protocol):
    """Judges one attempt against a sample's target."""

    async def __call__(self, sample: Sample, attempt: Attempt, env: SampleEnv) -> Score: ...


class ExactMatchScorer:
    """The simplest scorer: the prediction, as stripped text, equals the target (case-insensitive option)."""

    def __init__(self, *, ignore_case: bool = False) -> None:
        self.ignore_case = ignore_case

    async def __call__(self, sample: Sample, attempt: Attempt, env: SampleEnv) -> Score:
        got, want = str(attempt.prediction or "").strip(), str(sample.target).strip()
        if self.ignore_case:
            got, want = got.lower(), want.lower()
        return Score(1.0 if got == want else 0.0, f"answer {got!r}, expected {want!r}")


@runtime_checkable
class Task(Protocol):
    """A benchmark: its samples, how a sample becomes agent runs, and how an attempt is scored."""

    name: str
    uses_python: bool
    """The runner gives each sample its own sandbox when True."""

    def categories(self) -> list[str]:
        """The categories this task can load."""
        ...

    def samples(self, categories: Sequence[str] | None = None, limit: int | None = None) -> list[Sample]:
        """Load the samples (read from package data, never a hub); `limit` applies per category."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """Task settings that change results (prompts, seeds); part of the config hash."""
        ...

    async def solve(self, sample: Sample, env: SampleEnv) -> Attempt:
        """Run the agent(s) for one sample."""
        ...

    async def score(self, sample: Sample, attempt: Attempt, env: SampleEnv) -> Score:
        """Score one attempt (the built-in tasks delegate to a swappable `scorer` attribute)."""
        ...
