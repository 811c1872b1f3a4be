"""The python tool over a real hardened Docker sandbox: notebook semantics, timeouts, files, pool, reaping."""

from __future__ import annotations

import asyncio
import os

import pytest
from agentoss.sandboxes import DockerSandbox, WarmPool, reap
from agentoss.sandboxes.container import LABEL
from agentoss.tools.python import PythonTool
from sandbox_fixtures import docker_sandbox, require_docker

from agentoss.runtime.tool import Tool, ToolCall

pytestmark = pytest.mark.docker


def call(code: str) -> ToolCall:
    return ToolCall(recipient="python", function=None, arguments=code, channel="analysis")


async def test_tool_is_a_stateful_notebook_with_the_trained_description() -> None:
    require_docker()
    tool = PythonTool(timeout=30)
    assert isinstance(tool, Tool)
    assert tool.spec.namespace == "python" and tool.spec.kind == "builtin"
    assert "stateful Jupyter notebook" in tool.spec.description and "30.0 seconds" in tool.spec.description
    try:
        assert await tool.call(call("import math\nr = 3")) == ""
        assert await tool.call(call("print('area')\nround(math.pi * r ** 2, 2)")) == "area\n28.27\n"
        failed = await tool.call(call("def f():\n    return 1 / 0\nf()"))
        assert "Traceback (most recent call last)" in failed and 'File "<cell-3>", line 2, in f' in failed
        assert "ZeroDivisionError: division by zero" in failed and "interpreter.py" not in failed
        syntax = await tool.call(call("def (:"))
        assert "SyntaxError" in syntax
    finally:
        await tool.aclose()


async def test_files_and_figures_are_retrievable_after_the_run() -> None:
    require_docker()
    tool = PythonTool(timeout=60)
    code = (
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\n"
        "open('/mnt/data/result.csv', 'w').write('a,b\\n1,2\\n')\nNone"
    )
    try:
        text = await tool.call(call(code))
        assert "[saved /mnt/data/figure_1_0.png]" in text
        await tool.put_file("in/data.txt", b"from the host")
        assert "from the host" in await tool.call(call("print(open('in/data.txt').read())"))
    finally:
        await tool.aclose()
    assert await tool.list_files() == ["figure_1_0.png", "in/data.txt", "result.csv"]
    assert (await tool.get_file("figure_1_0.png")).startswith(b"\x89PNG")
    assert await tool.get_file("/mnt/data/result.csv") == b"a,b\n1,2\n"


async def test_timeout_interrupts_and_keeps_state() -> None:
    async with docker_sandbox() as sandbox:
        await sandbox.execute("kept = 'yes'", timeout=10)
        result = await sandbox.execute("import time\nwhile True:\n    time.sleep(0.05)", timeout=1)
        assert result.timed_out and not result.state_lost
        assert "KeyboardInterrupt" in result.output and "timed out after 1 seconds" in result.output
        assert (await sandbox.execute("kept", timeout=10)).output == "'yes'\n"


async def test_code_that_ignores_the_interrupt_is_killed_and_the_model_is_told() -> None:
    async with docker_sandbox(interrupt_grace_s=1.0) as sandbox:
        await sandbox.put_file("keep.txt", b"survives")
        await sandbox.execute("lost = 1", timeout=10)
        first = sandbox.container_id
        code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
        result = await sandbox.execute(code, timeout=1)
        assert result.timed_out and result.state_lost and result.error
        assert "all variables and imports are lost" in result.output
        assert sandbox.container_id != first
        assert "NameError" in (await sandbox.execute("lost", timeout=10)).output
        assert await sandbox.get_file("keep.txt") == b"survives"
        assert not require_docker().api.containers(all=True, filters={"id": first})


async def test_stateless_mode_forgets_between_calls_but_keeps_files() -> None:
    require_docker()
    tool = PythonTool(timeout=30, stateless=True)
    assert "stateless" in tool.spec.description and "Jupyter" not in tool.spec.description
    try:
        await tool.call(call("x = 5\nopen('/mnt/data/f.txt', 'w').write('kept')"))
        assert "NameError" in await tool.call(call("x"))
        assert await tool.call(call("print(open('/mnt/data/f.txt').read())")) == "kept\n"
    finally:
        await tool.aclose()


async def test_warm_pool_hands_out_ready_distinct_containers_and_refills() -> None:
    require_docker()
    pool = WarmPool(size=2)
    try:
        await pool.wait_full(timeout=120)
        first, second = pool.sandbox(), pool.sandbox()
        await asyncio.gather(first.start(), second.start())
        assert first.container_id != second.container_id
        await first.execute("secret = 1", timeout=10)
        assert "NameError" in (await second.execute("secret", timeout=10)).output
        await pool.wait_full(timeout=120)  # refilled behind the two sessions
        await first.aclose()
        await second.aclose()
    finally:
        await pool.aclose()


async def test_leaked_containers_are_reaped_and_live_ones_kept() -> None:
    client = require_docker()
    async with docker_sandbox() as live:
        leaked = DockerSandbox()
        await leaked.start()
        leaked_id = leaked.container_id
        assert leaked_id is not None
        # Pretend its owner died: relabelling is impossible, so reap by id after checking the label.
        entry = client.api.containers(all=True, filters={"id": leaked_id})[0]
        assert entry["Labels"][LABEL] == "container"
        removed, _ = await asyncio.to_thread(reap, client)
        assert leaked_id not in removed and live.container_id not in removed  # owner (us) is alive
        await asyncio.to_thread(client.api.remove_container, leaked_id, force=True)
        await leaked.aclose()


async def test_a_cancelled_call_is_interrupted_and_the_session_stays_in_step() -> None:
    async with docker_sandbox(interrupt_grace_s=1.0) as sandbox:
        await sandbox.execute("kept = 7", timeout=10)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sandbox.execute("import time\ntime.sleep(60)", timeout=120), 0.5)
        after = await sandbox.execute("kept * 6", timeout=10)
        assert after.output == "42\n" and not after.state_lost  # the stale reply was not taken as this one
        stubborn = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sandbox.execute(stubborn, timeout=120), 0.5)
        lost = await sandbox.execute("'kept' in globals()", timeout=10)
        assert lost.state_lost and lost.output.endswith("False\n") and "was cancelled" in lost.output


async def test_an_agent_runs_python_through_the_sandbox() -> None:
    require_docker()
    from agentoss import Agent
    from agentoss.backends.scripted import ScriptedBackend

    think = "<|channel|>analysis<|message|>Compute it.<|end|><|start|>assistant"
    backend = ScriptedBackend(
        [
            think + "<|channel|>analysis to=python code<|message|>import math\nmath.factorial(20)<|call|>",
            "<|channel|>final<|message|>20! = 2432902008176640000<|return|>",
        ]
    )
    tool = PythonTool(timeout=30)
    agent = Agent(backend, tools=[tool])
    try:
        result = await agent.run("What is 20 factorial?")
    finally:
        await agent.aclose()
    assert result.stop_reason == "final" and result.tool_calls[0].output == "2432902008176640000\n"
    assert not result.tool_calls[0].is_error


async def test_concurrent_first_calls_share_one_container_and_close_ends_a_running_call() -> None:
    client = require_docker()
    mine = {"label": f"agentoss.sandbox.pid={os.getpid()}"}
    sandbox = DockerSandbox()
    first, second = await asyncio.gather(sandbox.execute("1", timeout=10), sandbox.execute("2", timeout=10))
    assert {first.output, second.output} == {"1\n", "2\n"}
    assert len(client.api.containers(all=True, filters=mine)) == 1
    running = asyncio.create_task(sandbox.execute("import time\ntime.sleep(60)", timeout=120))
    await asyncio.sleep(0.5)
    await sandbox.aclose()
    result = await asyncio.wait_for(running, 30)
    assert result.error and "closed during the execution" in result.output
    assert client.api.containers(all=True, filters=mine) == []
    assert not (client.api.volumes(filters=mine) or {}).get("Volumes")
