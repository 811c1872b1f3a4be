"""The Python agent API: `Agent` (one-shot runs) and `Session` (multi-turn), over the loop in `loop.py`.

An `Agent` holds what stays fixed (backend, tools, instructions, effort, limits, output type,
approval hook, transcript); each `run` starts a fresh conversation. A `Session` keeps the conversation
between user turns and applies the harmony history policy (earlier turns' reasoning is dropped).
The core is async; `run_sync` is the one blocking wrapper: it runs every call of an agent on one
private event loop (`LoopPortal`), so loop-bound tools survive repeated calls; never `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentoss.backends.base import Backend
from agentoss.errors import ConfigurationError
from agentoss.events import AgentEvent, RunFinished
from agentoss.harmony import (
    DeveloperConfig,
    Message,
    PromptBuilder,
    ReasoningEffort,
    SystemConfig,
    normalize_schema,
)
from agentoss.runtime.dispatch import ApproveHook, ToolRouter
from agentoss.runtime.ledger import RunLedger
from agentoss.runtime.limits import Limits
from agentoss.runtime.loop import Episode, EpisodeSettings
from agentoss.runtime.portal import LoopPortal
from agentoss.runtime.result import RunResult
from agentoss.runtime.structured import response_format_for
from agentoss.runtime.tool import Tool
from agentoss.runtime.transcript import TranscriptWriter

__all__ = ["Agent", "Session"]

_log = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S = 30.0
"""How long closing the tools may take when the agent is collected or the interpreter exits."""


class Agent:
    """A gpt-oss agent: a backend, tools, instructions and limits. Each `run` is a new conversation.

    Tools are stateful and shared by every run and session of the agent; `aclose()` (or `async with`)
    closes them, and `close()` (or `with`) in blocking code that used `run_sync`. The backend belongs
    to the caller and is not closed here.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        tools: Sequence[Tool] = (),
        instructions: str | None = None,
        reasoning_effort: ReasoningEffort = "medium",
        output_type: type[BaseModel] | None = None,
        limits: Limits | None = None,
        transcript: str | Path | None = None,
        approve: ApproveHook | Callable[..., Any] | None = None,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> None:
        if reasoning_effort not in ("low", "medium", "high"):
            raise ConfigurationError(
                f"reasoning_effort must be low, medium or high, not {reasoning_effort!r}"
            )
        if output_type is not None and not (
            isinstance(output_type, type) and issubclass(output_type, BaseModel)
        ):
            raise ConfigurationError("output_type must be a pydantic BaseModel subclass")
        self.backend = backend
        self.router = ToolRouter(tools)
        self.instructions = instructions
        self.reasoning_effort: ReasoningEffort = reasoning_effort
        self.output_type = output_type
        self.limits = limits or Limits()
        self.transcript_path = Path(transcript) if transcript is not None else None
        self._writer: TranscriptWriter | None = None
        self._settings = EpisodeSettings(
            backend=backend,
            router=self.router,
            limits=self.limits,
            temperature=temperature,
            seed=seed,
            output_type=output_type,
            approve=approve,
            transcript=None,
        )
        self.schema_warnings: tuple[str, ...] = _schema_warnings(self.router, self.developer_config())
        """What the tools' and the output type's JSON Schemas hold that the prompt cannot show the model
        (e.g. `functions.f: $.rec: additionalProperties shown only in the description`). Each run's
        diagnostics repeat them with the prefix `schema: `."""
        self._portal: LoopPortal | None = None
        self._portal_finalizer: weakref.finalize[Any, Any] | None = None

    @property
    def tools(self) -> tuple[Tool, ...]:
        return self.router.tools

    def system_config(self) -> SystemConfig:
        """The system message this agent renders."""
        return SystemConfig(
            reasoning_effort=self.reasoning_effort,
            builtin_tools=self.router.builtin_namespaces,
            has_function_tools=bool(self.router.function_specs),
        )

    def developer_config(self) -> DeveloperConfig | None:
        """The developer message (None when there are no instructions, functions or output type)."""
        functions = self.router.function_specs
        response_format = response_format_for(self.output_type) if self.output_type is not None else None
        if self.instructions is None and not functions and response_format is None:
            return None
        return DeveloperConfig(
            instructions=self.instructions, functions=functions, response_format=response_format
        )

    def session(self, messages: Sequence[Message] = ()) -> Session:
        """A multi-turn conversation, optionally continuing from earlier `messages`."""
        return Session(self, messages)

    async def run(self, task: str) -> RunResult:
        """Run `task` in a fresh conversation to a stop reason. Raises `RunError` when the run fails."""
        return await self.session().send(task)

    def run_sync(self, task: str) -> RunResult:
        """Blocking `run`, for code without a running event loop (in async code, `await agent.run`).

        Every `run_sync` of this agent runs on the same private event loop (a daemon thread), so
        tools and backends that bind to a loop on first use keep working across calls. `close()`
        (or `with agent:`) closes the tools and stops that loop; so does interpreter exit.
        """
        _refuse_inside_loop("run_sync()", "`await agent.run(task)`")
        return self._sync_portal().call(self.run(task))

    def stream(self, task: str) -> AsyncIterator[AgentEvent]:
        """Run `task` in a fresh conversation, yielding events; the last is `RunFinished`."""
        return self.session().stream(task)

    def _episode_settings(self) -> EpisodeSettings:
        if self.transcript_path is not None and self._writer is None:
            self._writer = TranscriptWriter(self.transcript_path)
            self._settings = dataclasses.replace(self._settings, transcript=self._writer)
        return self._settings

    def _sync_portal(self) -> LoopPortal:
        if self._portal is None:
            self._portal = LoopPortal(name=f"agentoss-agent-{id(self):x}")
            # Closes the tools on their loop if the agent is dropped or the interpreter exits unclosed;
            # it must not reference the agent itself.
            self._portal_finalizer = weakref.finalize(self, _close_portal, self._portal, self.router)
        return self._portal

    async def aclose(self) -> None:
        """Close the tools and the transcript file (and the `run_sync` loop, on which tools then run)."""
        portal = self._release_portal()
        if portal is None or portal.in_portal_thread():
            try:
                await self._close_resources()
            finally:
                if portal is not None:
                    portal.close()
            return
        try:
            await asyncio.wrap_future(portal.submit(self._close_resources()))
        finally:
            await asyncio.to_thread(portal.close)

    def close(self) -> None:
        """Blocking `aclose`, for code without a running event loop (the `run_sync` counterpart)."""
        _refuse_inside_loop("close()", "`await agent.aclose()`")
        portal = self._release_portal() or LoopPortal(name="agentoss-close")
        try:
            portal.call(self._close_resources())
        finally:
            portal.close()

    def _release_portal(self) -> LoopPortal | None:
        """Take the `run_sync` loop away from the agent (the caller closes it) and drop its finalizer."""
        portal, self._portal = self._portal, None
        if self._portal_finalizer is not None:
            self._portal_finalizer.detach()
            self._portal_finalizer = None
        return portal

    async def _close_resources(self) -> None:
        try:
            await self.router.aclose()
        finally:
            if self._writer is not None:
                self._writer.close()

    async def __aenter__(self) -> Agent:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _schema_warnings(router: ToolRouter, developer: DeveloperConfig | None) -> tuple[str, ...]:
    """The schema normalizer's warnings for every function and the response format, by owner."""
    warnings: list[str] = []
    named = [(f"functions.{spec.name}", spec) for spec in router.function_specs]
    named += [(f"{ns.name}.{spec.name}", spec) for ns in router.builtin_namespaces for spec in ns.functions]
    for owner, spec in named:
        if spec.parameters is not None:
            warnings += [f"{owner}: {text}" for text in normalize_schema(spec.parameters).warnings]
    if developer is not None and developer.response_format is not None:
        response_format = developer.response_format
        owner = f"response format {response_format.name}"
        warnings += [f"{owner}: {text}" for text in normalize_schema(response_format.schema).warnings]
    return tuple(warnings)


def _refuse_inside_loop(what: str, instead: str) -> None:
    """Blocking calls would block a running loop (or deadlock on it): say what to await instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise ConfigurationError(
        f"{what} was called inside a running event loop, which it would block: use {instead}"
    )


def _close_portal(portal: LoopPortal, router: ToolRouter) -> None:
    """Close the tools on the `run_sync` loop and stop it (the agent was dropped, or exit is near)."""
    try:
        if not portal.in_portal_thread():  # from the loop itself, waiting would deadlock
            portal.submit(router.aclose()).result(_CLOSE_TIMEOUT_S)
    except Exception as exc:
        _log.warning("agentoss: closing the tools failed: %s: %s", type(exc).__name__, exc)
    finally:
        try:
            portal.close(_CLOSE_TIMEOUT_S)
        except Exception as exc:
            _log.warning("agentoss: stopping the agent loop failed: %s: %s", type(exc).__name__, exc)


class Session:
    """A conversation with an agent over several user turns; one turn at a time."""

    def __init__(self, agent: Agent, messages: Sequence[Message] = ()) -> None:
        self.agent = agent
        self._builder = PromptBuilder(agent.system_config(), agent.developer_config(), list(messages))
        self._lock = asyncio.Lock()
        self.results: list[RunResult] = []
        """The result of every finished turn so far."""
        self._episode: Episode | None = None

    def partial_result(self) -> RunResult | None:
        """The current or last turn as a `cancelled` result (what a caller shows after cancelling it)."""
        return self._episode.snapshot("cancelled") if self._episode is not None else None

    @property
    def messages(self) -> list[Message]:
        """The conversation so far (after the history policy of the latest user turn)."""
        return self._builder.messages

    async def send(self, text: str) -> RunResult:
        """Add a user message and run to a stop reason. Raises `RunError` when the run fails."""
        result: RunResult | None = None
        async for event in self.stream(text):
            if isinstance(event, RunFinished):
                result = event.run_result
        assert result is not None, "a run always ends with RunFinished"
        return result

    async def stream(self, text: str) -> AsyncIterator[AgentEvent]:
        """Add a user message and run, yielding events; the last is `RunFinished`."""
        async with self._lock:
            settings = self.agent._episode_settings()
            ledger = RunLedger(
                builder=self._builder,
                transcript=settings.transcript,
                run_id=uuid.uuid4().hex[:12],
                diagnostics=[f"schema: {warning}" for warning in self.agent.schema_warnings],
            )
            if settings.transcript is not None:
                ledger.log(
                    "run_started",
                    task=text,
                    reasoning_effort=self.agent.reasoning_effort,
                    tools=self.agent.router.available(),
                    limits=self.agent.limits.model_dump(),
                    history_messages=len(self._builder.messages),
                    schema_warnings=list(self.agent.schema_warnings),
                )
            self._builder.append_message(Message.user(text))
            episode = self._episode = Episode(settings=settings, ledger=ledger)
            async with aclosing(episode.events()) as events:
                async for event in events:
                    if isinstance(event, RunFinished):
                        self.results.append(event.run_result)
                    yield event
