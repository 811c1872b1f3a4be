"""Fakes for the eval tests: a plan-following agent (no model, no harmony) and a subprocess sandbox."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any

from agentoss.evals.core import RunSpec
from agentoss.evals.oracle import Call, Final, OracleScript
from agentoss.evals.runner import EvalConfig

from agentoss.runtime.tool import ToolCall


@dataclass
class FakeUsage:
    prompt_tokens: int = 10
    completion_tokens: int = 5


@dataclass
class FakeResult:
    final_text: str | None
    stop_reason: str = "final"
    turns: int = 1
    messages: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[Any] = field(default_factory=list)
    usage: FakeUsage = field(default_factory=FakeUsage)


class FakeSession:
    def __init__(self, agent: PlanAgent, messages: list[dict[str, Any]] | None = None) -> None:
        self.agent = agent
        self.messages: list[dict[str, Any]] = list(messages or [])

    async def send(self, text: str) -> FakeResult:
        self.messages.append({"role": "user", "content": text})
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        steps = self.agent.script.steps_for(users) or [Final("(no plan)")]
        calls = []
        for step in steps:
            await asyncio.sleep(0)
            if isinstance(step, Final):
                self.messages.append({"role": "assistant", "channel": "final", "content": step.text})
                return FakeResult(step.text, messages=list(self.messages), tool_calls=calls)
            output = await self.agent.call(step)
            calls.append(step)
            self.messages.append(
                {"role": "assistant", "recipient": step.recipient, "content": step.arguments}
            )
            self.messages.append({"role": "tool", "author": step.recipient, "content": output})
        return FakeResult(None, stop_reason="max_turns", messages=list(self.messages), tool_calls=calls)


class PlanAgent:
    """Follows an `OracleScript`'s plan for the sample it is asked about, calling the real tools."""

    def __init__(self, script: OracleScript, spec: RunSpec) -> None:
        self.script = script
        self.tools = list(spec.tools)

    async def call(self, step: Call) -> str:
        if step.recipient == "python":
            tool = next(t for t in self.tools if t.spec.namespace == "python")
            return await tool.call(ToolCall("python", None, step.arguments, "analysis"))
        name = step.recipient.split(".", 1)[1]
        for tool in self.tools:
            if any(f.name == name for f in tool.spec.functions):
                return await tool.call(ToolCall(step.recipient, name, step.arguments))
        return f"unknown tool {name}"

    def session(self, messages: list[dict[str, Any]] | None = None) -> FakeSession:
        return FakeSession(self, messages)

    async def run(self, task: str) -> FakeResult:
        return await self.session().send(task)


def plan_builder(script: OracleScript) -> Any:
    def build(backend: Any, spec: RunSpec, effort: str, seed: int, config: EvalConfig) -> PlanAgent:
        return PlanAgent(script, spec)

    return build


@dataclass
class ExecResult:
    output: str
    timed_out: bool = False
    state_lost: bool = False
    error: bool = False


class SubprocessSandbox:
    """Runs each `execute` in a fresh `python -I` subprocess (tests only: no isolation at all)."""

    async def start(self) -> None:
        return None

    async def execute(self, code: str, *, timeout: float) -> ExecResult:  # noqa: ASYNC109
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            async with asyncio.timeout(timeout):
                out, _ = await proc.communicate(code.encode())
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return ExecResult("timed out", timed_out=True)
        return ExecResult(out.decode(errors="replace"), error=proc.returncode != 0)

    async def aclose(self) -> None:
        return None


async def run_oracle(
    task: Any,
    samples: list[Any],
    out: Any,
    mode: str = "oracle",
    *,
    sandbox_factory: Any = None,
    config: EvalConfig | None = None,
    backend: Any = None,
) -> tuple[Any, list[dict[str, Any]], OracleScript]:
    """Run `task` through the real `Agent` on a `ScriptedBackend` answering from the oracle's plans."""
    from agentoss.evals.runner import run_eval
    from agentoss.evals.store import ResultStore

    from agentoss.backends.scripted import ScriptedBackend

    script = OracleScript(task, samples, mode)  # type: ignore[arg-type]
    run = await run_eval(
        task,
        backend or ScriptedBackend(script),
        out,
        config or EvalConfig(concurrency=8),
        samples=samples,
        sandbox_factory=sandbox_factory,
    )
    return run, list(ResultStore(out).records().values()), script
