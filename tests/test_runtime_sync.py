"""`Agent.run_sync` / `close()`: one private event loop per agent, reused by every blocking call."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from runtime_fixtures import EchoPython, agent_with, call, final

from agentoss import FunctionTool, function_tool
from agentoss.errors import ConfigurationError
from agentoss.testing.script import Script

TICKET_EPISODE = Script.from_replies([call("functions.ticket", '{"n": 7}'), final("ok")])


def loop_bound_ticket_tool() -> FunctionTool:
    """A tool holding an asyncio.Queue created on first use: like a lazy httpx client, it is bound to
    the first loop that waits on it and raises `RuntimeError` on any other loop."""
    queue: asyncio.Queue[int] | None = None

    @function_tool
    async def ticket(n: int) -> str:
        """Pass a ticket through the queue."""
        nonlocal queue
        if queue is None:
            queue = asyncio.Queue()
        asyncio.get_running_loop().call_soon(queue.put_nowait, n)
        return f"ticket {await queue.get()}"

    return ticket


def agent_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("agentoss-agent-")]


def test_repeated_run_sync_reuses_one_loop_and_its_tools() -> None:
    before = agent_threads()
    python = EchoPython()
    with agent_with(TICKET_EPISODE, tools=[loop_bound_ticket_tool(), python]) as agent:
        first = agent.run_sync("go")
        second = agent.run_sync("again")
        during = agent_threads()
    for result in (first, second):
        assert result.stop_reason == "final" and result.final_text == "ok"
        (record,) = result.tool_calls
        assert not record.is_error and record.output == "ticket 7", record.output
    assert len(during) == len(before) + 1
    assert python.closed  # `with` closed the tools on their loop ...
    deadline = time.monotonic() + 10
    while agent_threads() != before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert agent_threads() == before  # ... and stopped it


def test_aclose_from_another_loop_closes_the_tools_on_theirs() -> None:
    closed_on: list[asyncio.AbstractEventLoop] = []
    used_on: list[asyncio.AbstractEventLoop] = []

    class LoopTool(EchoPython):
        async def call(self, call: object) -> str:
            used_on.append(asyncio.get_running_loop())
            return "done"

        async def aclose(self) -> None:
            closed_on.append(asyncio.get_running_loop())

    agent = agent_with(Script.from_replies([call("python", "print(1)"), final("ok")]), tools=[LoopTool()])
    assert agent.run_sync("go").final_text == "ok"
    asyncio.run(agent.aclose())
    assert closed_on == used_on and len(closed_on) == 1


async def test_blocking_calls_inside_a_running_loop_say_what_to_await() -> None:
    agent = agent_with([final("never")])
    with pytest.raises(ConfigurationError, match=r"await agent\.run\(task\)"):
        agent.run_sync("go")
    with pytest.raises(ConfigurationError, match=r"await agent\.aclose\(\)"):
        agent.close()
    await agent.aclose()


UNCLOSED = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from runtime_fixtures import EchoPython, agent_with, final

class Marker(EchoPython):
    async def aclose(self):
        Path({marker!r}).write_text("closed")

agent = agent_with([final("ok")], tools=[Marker()])
print(agent.run_sync("go").final_text)
"""


def test_an_unclosed_agent_closes_its_tools_at_exit(tmp_path: Path) -> None:
    marker = tmp_path / "closed.txt"
    script = UNCLOSED.format(tests=str(Path(__file__).parent), marker=str(marker))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert marker.read_text() == "closed"
