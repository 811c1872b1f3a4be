"""Agent-loop benchmark: orchestrator overhead per step, and 1000 concurrent episodes on one event loop.

1. Overhead per step (model and tool time excluded) of a 50-step episode on a 100k-token conversation,
   next to a baseline measured in the same run: re-rendering the whole conversation every step, as
   the gpt-oss reference loop does. Target: median under 1 ms.
2. 1000 concurrent 3-step episodes (two function calls, then an answer) against the fake vLLM server
   (a separate process, real loopback HTTP), one event loop, one shared `VLLMBackend`. Target: zero
   errors; the non-model time per step is reported.

Run: `.venv/bin/python benchmarks/loop_bench.py [--episodes N] [--steps N] [--history-tokens N]`.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agentoss import Agent, Limits, function_tool
from agentoss.backends.base import Chunk, FinishReason, SamplingParams, Usage
from agentoss.events import StepStarted, ToolCallFinished
from agentoss.harmony import Message, encode_special, render_prompt

CALL = '<|channel|>commentary to=functions.noop <|constrain|>json<|message|>{"i": 1}<|call|>'
FINAL = "<|channel|>analysis<|message|>Done.<|end|><|start|>assistant<|channel|>final<|message|>finished<|return|>"  # noqa: E501


@function_tool
def noop(i: int) -> str:
    """Does nothing."""
    return "ok"


class InstantBackend:
    """Replies from memory (tool calls, then a final answer) and records the time spent inside `stream`."""

    def __init__(self, steps: int, window: int) -> None:
        self._call = tuple(encode_special(CALL))
        self._final = tuple(encode_special(FINAL))
        self._steps = steps
        self._window = window
        self.calls = 0
        self.model_time: list[float] = []

    async def stream(self, prompt: Sequence[int], params: SamplingParams) -> AsyncIterator[Chunk]:
        started = time.perf_counter()
        self.calls += 1
        reply = self._final if self.calls >= self._steps else self._call
        usage = Usage(prompt_tokens=len(prompt), completion_tokens=len(reply))
        chunk = Chunk(reply, finish_reason=FinishReason.STOP, stop_token=reply[-1], usage=usage)
        self.model_time.append(time.perf_counter() - started)
        yield chunk

    async def context_window(self) -> int | None:
        return self._window

    async def aclose(self) -> None:
        return None


def history(tokens: int) -> list[Message]:
    """Earlier turns totalling about `tokens` tokens (~9 tokens per sentence)."""
    sentence = "The quick brown fox jumps over the lazy dog today. "
    per_turn = 2_000
    turns = max(1, tokens // per_turn)
    body = sentence * (per_turn // 11 // 2)
    messages: list[Message] = []
    for i in range(turns):
        messages.append(Message.user(f"Question {i}: {body}"))
        messages.append(Message(role="assistant", content=f"Answer {i}: {body}", channel="final"))
    return messages


async def overhead_per_step(steps: int, history_tokens: int, *, quiet: bool = False) -> None:
    backend = InstantBackend(steps, window=history_tokens * 2 + 100_000)
    agent = Agent(backend, tools=[noop], limits=Limits(max_turns=steps + 1, max_tool_calls=steps + 1))
    session = agent.session(history(history_tokens))
    starts: list[float] = []
    tool_time: list[float] = []
    prompt_tokens = 0
    async for event in session.stream("Call noop until you are told to stop."):
        if isinstance(event, StepStarted):
            starts.append(time.perf_counter())
            prompt_tokens = event.prompt_tokens
        elif isinstance(event, ToolCallFinished):
            tool_time.append(event.duration_s)
    end = time.perf_counter()
    starts.append(end)
    overhead = [
        (starts[i + 1] - starts[i]) - backend.model_time[i] - (tool_time[i] if i < len(tool_time) else 0.0)
        for i in range(len(starts) - 1)
    ]
    # Baseline: what re-rendering the whole conversation each step costs (the reference loop's approach).
    system, developer = agent.system_config(), agent.developer_config()
    messages = session.messages
    baseline = []
    for _ in range(min(steps, 10)):
        started = time.perf_counter()
        render_prompt(system, developer, messages)
        baseline.append(time.perf_counter() - started)
    ours = statistics.median(overhead[:-1]) * 1e3  # the last step ends the run: not a loop step
    full = statistics.median(baseline) * 1e3
    if quiet:
        return
    print(f"[1] {len(overhead)} steps, final prompt {prompt_tokens:,} tokens")
    p90 = _p90(overhead[:-1]) * 1e3
    print(f"    orchestrator overhead per step: median {ours:.3f} ms, p90 {p90:.3f} ms (target < 1 ms)")
    print(f"    baseline, full re-render per step: median {full:.3f} ms  -> {full / ours:.0f}x slower")


async def concurrent_episodes(base_url: str, episodes: int) -> None:
    from rich.progress import Progress

    from agentoss.backends.vllm import VLLMBackend

    backend = VLLMBackend(base_url, timeout=120.0)
    timed = _TimedBackend(backend)
    agent = Agent(timed, tools=[noop])
    errors: list[str] = []

    async def one(progress: Progress, task: Any) -> None:
        try:
            result = await agent.run("Call noop twice.")
            if result.stop_reason != "final" or result.final_text != "finished":
                errors.append(f"{result.stop_reason}: {result.diagnostics}")
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            progress.advance(task)

    cpu_started, started = time.process_time(), time.perf_counter()
    with Progress(transient=True) as progress:
        task = progress.add_task(f"{episodes} concurrent episodes", total=episodes)
        await asyncio.gather(*(one(progress, task) for _ in range(episodes)))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    await backend.aclose()
    steps = timed.calls
    print(f"[2] {episodes} concurrent episodes, {steps} model calls: {len(errors)} errors, {wall:.2f} s wall")
    print(f"    throughput {episodes / wall:.0f} episodes/s, {steps / wall:.0f} steps/s")
    print(
        f"    client CPU per step (loop + HTTP client): {cpu / max(steps, 1) * 1e3:.3f} ms; "
        f"median wall inside the backend per call: {statistics.median(timed.durations) * 1e3:.1f} ms"
    )
    if errors:
        print("    first errors:", *errors[:5], sep="\n      ")


@contextmanager
def fake_server() -> Iterator[str]:
    """The fake vLLM server in its own process, scripted with two noop calls then an answer."""
    call = "<|channel|>analysis<|message|>Call it.<|end|><|start|>assistant" + CALL
    rules = [{"step": 0, "reply": call}, {"step": 1, "reply": call}, {"step": 2, "reply": FINAL}]
    with tempfile.TemporaryDirectory() as directory:
        script = Path(directory) / "script.json"
        script.write_text(json.dumps(rules), encoding="utf-8")
        server = subprocess.Popen(
            [sys.executable, "-m", "agentoss.testing.fake_vllm", "--port", "0", "--script", str(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            if not line.startswith("READY "):
                raise SystemExit(f"fake server did not start: {line!r}")
            yield line.split()[1]
        finally:
            server.terminate()
            server.wait(timeout=10)


class _TimedBackend:
    """Wraps a backend and records how long each stream took (model + transport time)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0
        self.durations: list[float] = []

    async def stream(self, prompt: Sequence[int], params: SamplingParams) -> AsyncIterator[Chunk]:
        started = time.perf_counter()
        self.calls += 1
        async for chunk in self.inner.stream(prompt, params):
            yield chunk
        self.durations.append(time.perf_counter() - started)

    async def context_window(self) -> int | None:
        return await self.inner.context_window()  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self.inner.aclose()


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--history-tokens", type=int, default=100_000)
    parser.add_argument("--episodes", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(overhead_per_step(5, 1_000, quiet=True))  # warm-up: vocabulary tables, lazy imports
    asyncio.run(overhead_per_step(args.steps, args.history_tokens))
    with fake_server() as base_url:
        asyncio.run(concurrent_episodes(base_url, args.episodes))


if __name__ == "__main__":
    main()
