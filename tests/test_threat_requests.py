"""Threats to file requests and programs: FIFOs, huge listings, cancelled requests, leftover processes.

User code owns `/mnt/data` and may leave processes running between cells; the host may cancel any
request. Each test plants the hostile state, then asserts the request is answered (or refused) at
once and the session keeps its state, or that a lost state is reported to the model.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import agentoss.sandboxes.datadir as datadir
import agentoss.sandboxes.docker as docker_module
import agentoss.sandboxes.local as local_module
import pytest
from agentoss.sandboxes.docker import DockerSandbox
from agentoss.sandboxes.local import LocalSandbox
from sandbox_fixtures import assert_healthy, docker_sandbox, require_bwrap

from agentoss.errors import SandboxError

PLANT_FIFOS = (
    "import os\nx = 1\nos.mkfifo('/mnt/data/f.csv')\nos.mkfifo('/mnt/data/g.csv')\nos.mkdir('/mnt/data/d')"
)
TAMPERER = r"""
import subprocess, threading, time
def later():
    time.sleep(0.5)  # after this cell's reap: a process left running between cells
    subprocess.Popen(["python3", "-c", '''
import os, time
open("/mnt/data/tamperer.pid", "w").write(str(os.getpid()))
while True:
    open("/mnt/data/answer.py", "w").write("VALUE = 999\\n")
    time.sleep(0.005)
'''], start_new_session=True)
threading.Thread(target=later, daemon=True).start()
"""
PROGRAM = """
import os, sys, time
sys.path.insert(0, '/mnt/data')
open('/mnt/data/answer.py', 'w').write('VALUE = 1\\n')
time.sleep(0.3)
import answer
try:  # a killed tamperer may stay a zombie until its stopped parent (the kernel) collects it
    stat = open('/proc/' + open('/mnt/data/tamperer.pid').read() + '/stat').read()
    state = stat.rpartition(')')[2].split()[0]
    alive = state not in ('Z', 'X')
except OSError:
    alive = False
print('VALUE', answer.VALUE, 'tamperer alive', alive)
"""


async def _refuses_fifos(sandbox: DockerSandbox | LocalSandbox) -> None:
    await sandbox.execute(PLANT_FIFOS, timeout=20)
    for request in (sandbox.get_file("f.csv"), sandbox.put_file("g.csv", b"hi"), sandbox.get_file("d")):
        with pytest.raises(FileNotFoundError, match="not a regular file"):
            await asyncio.wait_for(request, 30)
    result = await sandbox.execute("print(x)", timeout=20)
    assert result.output == "1\n" and not result.state_lost, result


@pytest.mark.docker
@pytest.mark.threat
async def test_docker_a_fifo_in_the_data_dir_is_refused_not_waited_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(docker_module, "FILE_TIMEOUT_S", 5.0)  # without the refusal: a restart, not a hang
    async with docker_sandbox() as sandbox:
        container = sandbox.container_id
        await _refuses_fifos(sandbox)
        assert sandbox.container_id == container
        await assert_healthy(sandbox)


async def test_local_a_fifo_in_the_data_dir_is_refused_not_waited_on(monkeypatch: pytest.MonkeyPatch) -> None:
    require_bwrap()
    monkeypatch.setattr(local_module, "FILE_TIMEOUT_S", 5.0)
    sandbox = LocalSandbox()
    try:
        await _refuses_fifos(sandbox)
    finally:
        await sandbox.aclose()


def test_a_listing_of_one_huge_directory_stops_at_its_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datadir, "DATA_DIR", str(tmp_path))
    (tmp_path / "small.txt").write_text("x")
    many = tmp_path / "many"
    many.mkdir()
    for number in range(6000):  # ~650 KB of names in one directory, past the 512 KB cap
        (many / f"{number:06d}_{'n' * 100}").touch()
    files, cut = datadir.files_in_data()
    assert cut and 0 < len(files) < 6001
    assert len(json.dumps({"ok": True, "files": files, "cut": cut})) <= datadir.LIST_BYTES + 64
    monkeypatch.setattr(datadir, "DATA_DIR", str(many.parent / "nothing-here"))
    assert datadir.files_in_data() == ([], False)


def test_figure_names_from_the_kernel_are_capped_in_total() -> None:
    names = [("\U0001f600" * 250) + str(number) for number in range(100)]
    kept = datadir.safe_names(names)
    assert 0 < len(kept) < 100 and kept == names[: len(kept)]
    assert len(json.dumps(kept)) <= datadir.NAMES_BYTES
    assert datadir.safe_names(["a.png", "../b.png", "c/d.png", 7]) == ["a.png"]


async def _cancel_after_sent(request: Awaitable[Any], sent: asyncio.Event) -> None:
    task = asyncio.ensure_future(request)
    await asyncio.wait_for(sent.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.docker
@pytest.mark.threat
async def test_docker_a_cancelled_request_leaves_the_channel_in_step() -> None:
    async with docker_sandbox() as sandbox:
        assert sandbox._session is not None
        container = sandbox.container_id
        await sandbox.execute("z = 5", timeout=20)
        await sandbox.put_file("big.bin", b"\0" * (8 << 20))
        channel = sandbox._session.channel
        original = channel.send
        sending, sent = asyncio.Event(), asyncio.Event()

        async def send(message: dict[str, Any]) -> None:
            sending.set()
            await original(message)
            sent.set()

        channel.send = send  # type: ignore[method-assign]
        await _cancel_after_sent(sandbox.put_file("copy.bin", b"\1" * (8 << 20)), sending)  # mid-send
        assert (await sandbox.execute("print(z)", timeout=20)).output == "5\n"
        await _cancel_after_sent(sandbox.get_file("big.bin"), sent)
        result = await sandbox.execute("print(z)", timeout=20)
        assert result.output == "5\n" and not result.state_lost, result
        sent.clear()
        await _cancel_after_sent(sandbox.run_program("import time\ntime.sleep(1)", timeout=20), sent)
        assert await sandbox.list_files() == ["big.bin", "copy.bin"]
        sent.clear()
        await _cancel_after_sent(sandbox.list_files(), sent)
        result = await sandbox.execute("print(z)", timeout=20)
        assert result.output == "5\n" and not result.state_lost, result
        assert sandbox.container_id == container


async def test_local_a_cancelled_request_leaves_the_channel_in_step() -> None:
    require_bwrap()
    sandbox = LocalSandbox()
    try:
        await sandbox.execute("z = 5", timeout=20)
        await sandbox.put_file("big.bin", b"\0" * (8 << 20))
        original = sandbox._receive
        sent = asyncio.Event()

        async def receive(timeout: float, limit: int) -> dict[str, Any] | None:  # noqa: ASYNC109
            sent.set()
            return await original(timeout, limit)

        sandbox._receive = receive  # type: ignore[method-assign]
        await _cancel_after_sent(sandbox.get_file("big.bin"), sent)
        result = await sandbox.execute("print(z)", timeout=20)
        assert result.output == "5\n" and not result.state_lost, result
        sent.clear()
        await _cancel_after_sent(sandbox.execute("import time\ntime.sleep(0.5)\nz = 6", timeout=20), sent)
        assert await sandbox.list_files() == ["big.bin"]
        assert (await sandbox.execute("print(z)", timeout=20)).output == "6\n"
    finally:
        await sandbox.aclose()


@pytest.mark.docker
@pytest.mark.threat
async def test_docker_a_file_request_that_replaces_the_container_tells_the_next_execute() -> None:
    async with docker_sandbox() as sandbox:
        assert sandbox._session is not None
        await sandbox.execute("x = 1", timeout=20)
        sandbox._session.channel._deliver(b"not json")  # what a compromised relay would send
        with pytest.raises(SandboxError, match="protocol"):
            await sandbox.list_files()
        result = await sandbox.execute("print(2)", timeout=20)
        assert result.state_lost and "were lost" in result.output and result.output.endswith("2\n"), result
        after = await sandbox.execute("print(3)", timeout=20)
        assert after.output == "3\n" and not after.state_lost  # reported once
        assert "NameError" in (await sandbox.execute("x", timeout=20)).output


async def test_local_a_file_request_that_restarts_the_process_tells_the_next_execute() -> None:
    require_bwrap()
    sandbox = LocalSandbox()
    try:
        await sandbox.execute("x = 1", timeout=20)
        assert sandbox._process is not None and sandbox._process.stdout is not None
        sandbox._process.stdout.feed_data(b"not json\n")
        with pytest.raises(SandboxError, match="protocol"):
            await sandbox.list_files()
        result = await sandbox.execute("print(2)", timeout=20)
        assert result.state_lost and "were lost" in result.output and result.output.endswith("2\n"), result
        assert not (await sandbox.execute("print(3)", timeout=20)).state_lost
    finally:
        await sandbox.aclose()


@pytest.mark.docker
@pytest.mark.threat
async def test_docker_a_process_left_from_a_cell_cannot_tamper_with_a_program() -> None:
    async with docker_sandbox() as sandbox:
        await sandbox.execute(TAMPERER, timeout=20)
        for _ in range(300):  # the tamperer starts after the cell's reap; wait for it, without a cell
            try:
                pid = await sandbox.get_file("tamperer.pid")
                if pid:
                    break
            except FileNotFoundError:
                pass
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the tamperer never started")
        result = await sandbox.run_program(PROGRAM, timeout=20)
        assert result.exit_code == 0 and "VALUE 1 tamperer alive False" in result.output, result
        listing = await sandbox.execute(f"import os\nos.path.exists('/proc/{int(pid)}')", timeout=20)
        assert listing.output == "False\n", listing  # collected once the kernel resumed
        await assert_healthy(sandbox)


MEMORY_HOGS = r"""
import os, subprocess, threading, time
with open('/mnt/data/big.bin', 'wb') as handle:
    for _ in range(40):
        handle.write(os.urandom(1 << 20))
def later():
    time.sleep(0.5)  # after this cell's reap: processes left holding memory between cells
    for number in range(2):
        subprocess.Popen(["python3", "-c", f'''
x = bytearray(60 << 20)
for i in range(0, len(x), 4096):
    x[i] = 1
open("/mnt/data/hog{number}", "w").write("ready")
import time
time.sleep(300)
'''])
threading.Thread(target=later, daemon=True).start()
"""


@pytest.mark.docker
@pytest.mark.threat
async def test_docker_get_file_streams_so_a_full_memory_limit_does_not_kill_the_relay() -> None:
    async with docker_sandbox(memory_mb=256) as sandbox:
        container = sandbox.container_id
        await sandbox.execute("kept = 1\n" + MEMORY_HOGS, timeout=60)
        for _ in range(400):
            if sorted(await sandbox.list_files()) == ["big.bin", "hog0", "hog1"]:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the memory hogs never started")
        data = await sandbox.get_file("big.bin")
        assert len(data) == 40 << 20
        result = await sandbox.execute("print(kept)", timeout=20)
        assert result.output == "1\n" and not result.state_lost, result
        assert sandbox.container_id == container
