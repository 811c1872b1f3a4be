"""The async eval runner: every (sample, epoch, effort) once, at a bounded concurrency, resumable.

Each unit of work runs the task's agent(s) for one sample with a fresh environment (its own sandbox
when the task uses python), retries backend failures a bounded number of times, scores the attempt
and appends the record (and the transcript) the moment it is done. Units already recorded with
status `ok` under the same config hash are skipped, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agentoss.evals.core import AgentLike, Attempt, RunSpec, Sample, Task
from agentoss.evals.store import ResultKey, ResultStore, config_hash
from pydantic import BaseModel, Field

from agentoss.errors import BackendError, EvalError, RunError

__all__ = ["AgentBuilder", "EvalConfig", "EvalRun", "SandboxFactory", "default_agent_builder", "run_eval"]

Effort = Literal["low", "medium", "high"]
SandboxFactory = Callable[[], Any]
"""Makes an unstarted `agentoss.sandboxes.base.Sandbox`; the runner starts and closes it."""


class EvalConfig(BaseModel):
    """Settings of one eval run. Fields marked as result-changing go into the config hash."""

    efforts: list[Effort] = Field(default_factory=lambda: list[Effort](["medium"]))
    """Reasoning efforts to sweep; each is its own config hash."""
    epochs: int = Field(default=1, ge=1)
    """Attempts per sample (pass@k / pass^k need k <= epochs)."""
    concurrency: int = Field(default=8, ge=1)
    """Samples in flight at once."""
    categories: list[str] | None = None
    """Categories to load (None: the task's defaults)."""
    limit: int | None = Field(default=None, ge=1)
    """Samples per category."""
    max_retries: int = Field(default=3, ge=0)
    """Extra tries of a sample whose run failed with a backend error."""
    retry_backoff_s: float = Field(default=1.0, ge=0.0)
    """First wait before a retry; doubles each time, with jitter."""
    sample_timeout_s: float = Field(default=1800.0, gt=0)
    """Wall-clock limit of one try of one sample (agent runs and scoring)."""
    max_turns: int = Field(default=20, ge=1)
    """Sampling steps per user turn (result-changing)."""
    max_output_tokens_per_call: int | None = None
    """Cap on one completion (result-changing)."""
    temperature: float = 1.0
    """Sampling temperature (result-changing)."""
    seed: int = 0
    """Base seed; each (sample, epoch) derives its own (result-changing)."""
    model: str = "gpt-oss"
    """What is being measured (result-changing: another model is another config). The CLI sets it to
    --model, else the model id the servers report at /v1/models, so a resumed run never mixes two
    models' results."""
    servers: list[str] = Field(default_factory=list)
    """Base URLs of the model servers, for the manifest only (replicas may change between resumes)."""

    def hash_for(self, task: Task, effort: str) -> str:
        return config_hash(
            {
                "task": task.name,
                "task_config": task.fingerprint(),
                "effort": effort,
                "max_turns": self.max_turns,
                "max_output_tokens_per_call": self.max_output_tokens_per_call,
                "temperature": self.temperature,
                "seed": self.seed,
                "model": self.model,
            }
        )


AgentBuilder = Callable[[Any, RunSpec, str, int, EvalConfig], AgentLike]
"""(backend, spec, effort, seed, config) -> an agent."""


def default_agent_builder(
    backend: Any, spec: RunSpec, effort: str, seed: int, config: EvalConfig
) -> AgentLike:
    """`agentoss.Agent` on the backend with the run's effort, seed and limits."""
    from agentoss import Agent, Limits

    limit_args: dict[str, Any] = {"max_turns": spec.max_turns or config.max_turns}
    if config.max_output_tokens_per_call is not None:
        limit_args["max_output_tokens_per_call"] = config.max_output_tokens_per_call
    agent: AgentLike = Agent(
        backend,
        tools=list(spec.tools),
        instructions=spec.instructions,
        reasoning_effort=effort,  # type: ignore[arg-type]
        limits=Limits(**limit_args),
        temperature=config.temperature,
        seed=seed,
    )
    return agent


@dataclass(slots=True)
class EvalRun:
    """What `run_eval` did."""

    out_dir: Path
    planned: int
    skipped: int
    """Units already finished by an earlier run (not redone)."""
    ran: int
    errors: int
    """Units that still failed after their retries (recorded with status `error`)."""
    retries: int
    """Backend-error retries made in total."""
    lost: int
    """Planned units with no record at the end: always 0 unless the run was cancelled."""
    write_s: list[float] = field(default_factory=list)
    """Per unit: seconds spent appending its record and transcript (benchmarks add it to latency)."""


class _Env:
    """`SampleEnv` for one try of one unit."""

    def __init__(
        self,
        backend: Any,
        effort: str,
        seed: int,
        config: EvalConfig,
        builder: AgentBuilder,
        sandboxes: SandboxFactory | None,
    ) -> None:
        self._backend = backend
        self._effort = effort
        self._seed = seed
        self._config = config
        self._builder = builder
        self._sandboxes = sandboxes
        self._closers: list[Any] = []

    @property
    def seed(self) -> int:
        return self._seed

    def agent(self, spec: RunSpec) -> AgentLike:
        return self._builder(self._backend, spec, self._effort, self._seed, self._config)

    async def _sandbox(self) -> Any:
        if self._sandboxes is None:
            raise EvalError("this task needs a sandbox but none was configured (use --sandbox docker|local)")
        sandbox = self._sandboxes()
        self._closers.append(sandbox)
        await sandbox.start()
        return sandbox

    async def python_tool(self) -> Any:
        from agentoss.tools.python import PythonTool

        tool = PythonTool(await self._sandbox())
        self._closers.append(tool)
        return tool

    async def execute(self, code: str, *, timeout_s: float) -> tuple[bool, str]:
        sandbox = await self._sandbox()
        result = await sandbox.execute(code, timeout=timeout_s)
        return (not (result.error or result.timed_out or result.state_lost), str(result.output))

    async def aclose(self) -> None:
        for closer in reversed(self._closers):
            try:
                await asyncio.wait_for(closer.aclose(), timeout=60)
            except Exception:  # closing must never lose a finished result
                pass
        self._closers.clear()


_BACKEND_STOP_REASONS = frozenset({"backend_error", "abort"})


def _is_backend_failure(exc: BaseException) -> bool:
    """A model-server failure (worth a retry), possibly wrapped by the loop's `RunError`.

    Decided by type alone: a `BackendError` anywhere in the cause chain (the loop raises
    `BackendResponseError` for a completion the server ended with `error` / `abort`), or a `RunError`
    whose `stop_reason` names the backend. Never by message text.
    """
    seen: BaseException | None = exc
    for _ in range(32):  # cause chains are short; never loop on a cycle
        if seen is None:
            return False
        if isinstance(seen, BackendError):
            return True
        if isinstance(seen, RunError) and seen.stop_reason in _BACKEND_STOP_REASONS:
            return True
        seen = seen.__cause__
    return False


def _describe(exc: BaseException) -> str:
    """`Type: message`, with the root cause when the loop wrapped it (`RunError` <- `BackendError`)."""
    text = f"{type(exc).__name__}: {exc}"
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    return text if root is exc else f"{text} (caused by {type(root).__name__}: {root})"


def _unit_seed(base: int, sample_id: str, epoch: int) -> int:
    return random.Random(f"{base}:{sample_id}:{epoch}").randrange(2**31)


async def run_eval(
    task: Task,
    backend: Any,
    out_dir: str | Path,
    config: EvalConfig | None = None,
    *,
    agent_builder: AgentBuilder = default_agent_builder,
    sandbox_factory: SandboxFactory | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    on_plan: Callable[[int, int], None] | None = None,
    samples: Sequence[Sample] | None = None,
) -> EvalRun:
    """Run (or resume) `task` against `backend`, writing results to `out_dir`.

    `on_plan(total, already_done)` is called once before work starts; `on_result(record)` after
    each unit is recorded (for progress bars). Returns counts; the scores are in `out_dir`
    (`agentoss.evals.report.load_run`, `write_report`).
    """
    config = config or EvalConfig()
    store = ResultStore(out_dir)
    if samples is None:
        chosen = await asyncio.to_thread(task.samples, config.categories, config.limit)
    else:
        chosen = list(samples)
    if not chosen:
        raise EvalError(f"task {task.name!r} loaded no samples for categories {config.categories}")
    if len({sample.id for sample in chosen}) != len(chosen):
        raise EvalError(f"task {task.name!r} has duplicate sample ids: results are keyed by id")
    hashes: dict[str, str] = {effort: config.hash_for(task, effort) for effort in config.efforts}
    await asyncio.to_thread(_write_manifest, store, task, config, hashes)
    finished = await asyncio.to_thread(store.finished)
    units: list[tuple[Sample, int, str]] = []
    planned_keys: list[ResultKey] = []
    for effort in config.efforts:
        for epoch in range(config.epochs):
            for sample in chosen:
                key = (task.name, sample.id, epoch, hashes[effort])
                planned_keys.append(key)
                if key not in finished:
                    units.append((sample, epoch, effort))
    run = EvalRun(
        Path(out_dir),
        planned=len(planned_keys),
        skipped=len(planned_keys) - len(units),
        ran=0,
        errors=0,
        retries=0,
        lost=0,
    )
    if on_plan is not None:
        on_plan(run.planned, run.skipped)
    queue: asyncio.Queue[tuple[Sample, int, str]] = asyncio.Queue()
    for unit in units:
        queue.put_nowait(unit)

    async def worker() -> None:
        while True:
            try:
                sample, epoch, effort = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            record, transcript = await _run_unit(
                task,
                backend,
                sample,
                epoch,
                effort,
                hashes[effort],
                config,
                agent_builder,
                sandbox_factory,
                run,
            )
            started = time.perf_counter()
            await store.append(record, transcript)
            run.ran += 1
            run.errors += record["status"] != "ok"
            run.write_s.append(time.perf_counter() - started)
            if on_result is not None:
                on_result(record)

    await asyncio.gather(*(worker() for _ in range(min(config.concurrency, len(units)) or 1)))
    done = await asyncio.to_thread(store.records)
    run.lost = sum(1 for key in planned_keys if key not in done)
    return run


async def _run_unit(
    task: Task,
    backend: Any,
    sample: Sample,
    epoch: int,
    effort: str,
    chash: str,
    config: EvalConfig,
    builder: AgentBuilder,
    sandboxes: SandboxFactory | None,
    run: EvalRun,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One unit to (record, transcript); raises only on cancellation."""
    seed = _unit_seed(config.seed, sample.id, epoch)
    started = time.perf_counter()
    attempt: Attempt | None = None
    error: str | None = None
    score_value = 0.0
    explanation = ""
    details: dict[str, Any] = {}
    tries = 0
    while True:
        tries += 1
        env = _Env(backend, effort, seed, config, builder, sandboxes if task.uses_python else None)
        attempt, retry = None, False
        try:
            async with asyncio.timeout(config.sample_timeout_s):
                attempt = await task.solve(sample, env)
                score = await task.score(sample, attempt, env)
            score_value, explanation, details = score.value, score.explanation, dict(score.details)
            error = None
        except TimeoutError:
            error = f"TimeoutError: sample exceeded {config.sample_timeout_s:g}s"
        except Exception as exc:
            error = _describe(exc)
            retry = _is_backend_failure(exc) and tries <= config.max_retries
        finally:
            await env.aclose()
        if not retry:
            break
        run.retries += 1
        delay = config.retry_backoff_s * (2 ** (tries - 1)) * (0.5 + random.random() / 2)
        await asyncio.sleep(delay)
    latency = time.perf_counter() - started
    record: dict[str, Any] = {
        "task": task.name,
        "sample_id": sample.id,
        "epoch": epoch,
        "config": chash,
        "category": sample.category,
        "effort": effort,
        "status": "ok" if error is None else "error",
        "score": score_value if error is None else 0.0,
        "correct": error is None and score_value >= 1.0,
        "explanation": explanation if error is None else "",
        "details": details if error is None else {},
        "error": error,
        "tries": tries,
        "target": sample.target,
        "prediction": attempt.prediction if attempt is not None else None,
        "final_text": attempt.final_text if attempt is not None else None,
        "stop_reason": attempt.stop_reason if attempt is not None else "error",
        "turns": attempt.turns if attempt is not None else 0,
        "tool_calls": attempt.tool_calls if attempt is not None else 0,
        "prompt_tokens": attempt.prompt_tokens if attempt is not None else 0,
        "completion_tokens": attempt.completion_tokens if attempt is not None else 0,
        "latency_s": latency,
        "seed": seed,
    }
    transcript = attempt.transcript if attempt is not None else []
    return record, transcript


def _write_manifest(store: ResultStore, task: Task, config: EvalConfig, hashes: dict[str, str]) -> None:
    import json

    store.directory.mkdir(parents=True, exist_ok=True)
    path = store.directory / "manifest.json"
    manifest: dict[str, Any] = {}
    if path.exists():
        try:
            manifest = json.loads(path.read_text())
        except ValueError:
            manifest = {}
    configs = manifest.setdefault("configs", {})
    for effort, chash in hashes.items():
        configs[chash] = {
            "task": task.name,
            "effort": effort,
            "model": config.model,
            "epochs": config.epochs,
            "task_config": task.fingerprint(),
            "settings": config.model_dump(exclude={"efforts", "concurrency"}),
        }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    tmp.replace(path)
