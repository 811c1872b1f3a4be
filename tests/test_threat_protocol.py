"""Threats to the host channel: forged replies, desync, a patched reaper, garbage and floods on the channel.

User code runs in a kernel process that holds no descriptor reaching the host; the relay (PID 1, not
dumpable) alone writes replies, each echoing the host's random id. These tests attack that boundary
from inside (real Docker container, real bubblewrap jail) and, for the host's own checks, inject bad
lines where a compromised relay would put them. Each asserts the contained outcome and a healthy session.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct

import agentoss.sandboxes.docker as docker_module
import pytest
from agentoss.sandboxes.container import Channel, ProtocolViolation
from agentoss.sandboxes.local import LocalSandbox
from sandbox_fixtures import LoopTicker, assert_healthy, docker_sandbox, require_bwrap

from agentoss.errors import SandboxError

FORGED = json.dumps(
    {"id": "guess", "ok": True, "error": False, "files": ["../../etc/passwd"], "output": "Rk9SR0VE"}
)
FORGE_EVERYWHERE = f"""
import os
forged = {FORGED!r}.encode() + b"\\n"
for fd in range(3, 256):
    try:
        os.write(fd, forged)
    except OSError:
        pass
try:
    os.listdir("/proc/1/fd")
    print("relay fds visible")
except OSError as exc:
    print("relay fds", type(exc).__name__)
for fd in ("0", "1", "2", "3", "4"):
    try:
        with open(f"/proc/1/fd/{{fd}}", "wb") as handle:
            handle.write(forged)
        print("wrote to the relay's fd", fd)
    except OSError:
        pass
print("real output")
"""
GARBAGE_EVERYWHERE = """
import os
for fd in range(3, 256):
    try:
        os.write(fd, b"not json\\n")
    except OSError:
        pass
print("wrote garbage")
"""
DESYNC_THREAD = f"""
import json, os, threading
def forge():
    while True:
        for seq in range(1, 12):
            line = json.dumps({{"seq": seq, "token": "guess", "error": False, "files": []}}) + "\\n"
            for fd in range(3, 64):
                try:
                    os.write(fd, line.encode() + {FORGED!r}.encode() + b"\\n")
                except OSError:
                    pass
threading.Thread(target=forge, daemon=True).start()
print("forger started")
"""
PATCH_REAPER = """
import os, signal, subprocess, sys
main = sys.modules["__main__"]  # the kernel program itself
for name in dir(main):
    if any(word in name.lower() for word in ("reap", "collect", "kill", "signal", "process")):
        setattr(main, name, lambda *args, **kwargs: None)
main.REAP_ALL = False
for signum in (signal.SIGSTOP, signal.SIGTERM, signal.SIGKILL):
    try:
        os.kill(1, signum)
    except OSError:
        pass
subprocess.Popen(["sleep", "300"])
os.system("sleep 301 &")
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "302"])
    os._exit(0)
print("planted")
"""
LIST_PROCESSES = (
    "import os\nnames = []\nfor pid in os.listdir('/proc'):\n    if pid.isdigit():\n"
    "        names.append(open(f'/proc/{pid}/cmdline', 'rb').read().split(b'\\0')[0].decode())\n"
    "sorted(names)"
)


@pytest.mark.docker
@pytest.mark.threat
async def test_docker_a_forged_reply_never_reaches_the_host() -> None:
    async with docker_sandbox() as sandbox, LoopTicker() as ticker:
        result = await sandbox.execute(FORGE_EVERYWHERE, timeout=20)
        assert "FORGED" not in result.output and result.files == (), result
        assert "relay fds PermissionError" in result.output and "wrote to the relay" not in result.output
        assert result.output.endswith("real output\n") and not result.state_lost
        assert (await sandbox.execute("print('second call')", timeout=20)).output == "second call\n"
        await sandbox.put_file("a.txt", b"hi")
        assert await sandbox.get_file("a.txt") == b"hi" and await sandbox.list_files() == ["a.txt"]
        await assert_healthy(sandbox)
    assert ticker.ticks > 0


@pytest.mark.docker
@pytest.mark.threat
async def test_docker_a_forging_thread_cannot_desync_later_calls() -> None:
    async with docker_sandbox() as sandbox:
        assert "forger started" in (await sandbox.execute(DESYNC_THREAD, timeout=20)).output
        for number in range(5):
            result = await sandbox.execute(f"print('call', {number})", timeout=20)
            assert result.output == f"call {number}\n" and not result.error, result
        assert await sandbox.list_files() == []
        await assert_healthy(sandbox)


@pytest.mark.docker
@pytest.mark.threat
async def test_docker_garbage_on_the_kernel_pipes_restarts_the_kernel_only() -> None:
    async with docker_sandbox() as sandbox:
        container = sandbox.container_id
        await sandbox.execute("x = 1\nopen('/mnt/data/kept.txt', 'w').write('kept')", timeout=20)
        result = await sandbox.execute(GARBAGE_EVERYWHERE, timeout=20)
        assert result.state_lost and result.error and "malformed verdict" in result.output, result
        assert "NameError" in (await sandbox.execute("x", timeout=20)).output
        assert sandbox.container_id == container and await sandbox.get_file("kept.txt") == b"kept"
        await assert_healthy(sandbox)


@pytest.mark.docker
@pytest.mark.threat
async def test_docker_a_patched_reaper_keeps_no_process_alive() -> None:
    async with docker_sandbox() as sandbox:
        assert "planted" in (await sandbox.execute(PATCH_REAPER, timeout=20)).output
        listing = await sandbox.execute(LIST_PROCESSES, timeout=20)
        assert "sleep" not in listing.output and len(eval(listing.output)) == 2, listing.output
        await assert_healthy(sandbox)


@pytest.mark.docker
@pytest.mark.threat
@pytest.mark.parametrize(
    "line",
    [b"not json", b"[1, 2]", json.dumps({"id": "forged", "ok": True, "output": ""}).encode()],
    ids=["not-json", "not-an-object", "wrong-id"],
)
async def test_docker_an_unexpected_reply_replaces_the_container(line: bytes) -> None:
    async with docker_sandbox() as sandbox:
        assert sandbox._session is not None
        first = sandbox.container_id
        await sandbox.execute("x = 1", timeout=20)
        sandbox._session.channel._deliver(line)  # what a compromised relay would send
        result = await sandbox.execute("print('after')", timeout=20)
        assert result.state_lost and result.error and "broke its protocol" in result.output, result
        assert sandbox.container_id != first
        assert_state_gone = await sandbox.execute("x", timeout=20)
        assert "NameError" in assert_state_gone.output
        sandbox._session.channel._deliver(line)
        with pytest.raises(SandboxError, match="protocol"):
            await sandbox.get_file("anything.txt")
        await assert_healthy(sandbox)


@pytest.mark.docker
@pytest.mark.threat
async def test_docker_an_oversized_reply_replaces_the_container(monkeypatch: pytest.MonkeyPatch) -> None:
    async with docker_sandbox(output_limit=4096) as sandbox, LoopTicker() as ticker:
        first = sandbox.container_id
        monkeypatch.setattr(docker_module, "reply_limit", lambda output_limit: 512)
        result = await sandbox.execute("print('y' * 100_000)", timeout=20)
        assert result.state_lost and "longer than 512 bytes" in result.output, result
        assert sandbox.container_id != first
        monkeypatch.undo()
        await assert_healthy(sandbox)
    assert ticker.ticks > 0


class _Attached:
    """What `attach_socket` returns: the raw socket under `_sock`."""

    def __init__(self, raw: socket.socket) -> None:
        self._sock = raw

    def close(self) -> None:
        self._sock.close()


def _frame(payload: bytes, stream: int = 1) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


async def test_channel_refuses_a_flood_past_the_reply_limit_and_keeps_draining() -> None:
    host, peer = socket.socketpair()
    channel = Channel(_Attached(host))
    try:
        channel.expect(64 * 1024)
        chunk = _frame(b"x" * (1 << 20))

        def flood() -> int:
            sent = 0
            for _ in range(32):  # 32 MiB: far past the limit, still drained without blocking the sender
                peer.sendall(chunk)
                sent += len(chunk)
            peer.shutdown(socket.SHUT_WR)
            return sent

        sent = await asyncio.wait_for(asyncio.to_thread(flood), 60)
        with pytest.raises(ProtocolViolation, match="longer than 65536 bytes"):
            await channel.receive(30)
        assert sent > 32 << 20 and channel.broken
    finally:
        channel.close()
        peer.close()


async def test_channel_joins_lines_split_across_frames_and_rejects_non_json() -> None:
    host, peer = socket.socketpair()
    channel = Channel(_Attached(host))
    try:
        message = json.dumps({"id": "a", "ok": True, "output": "z" * 50_000}).encode() + b"\n"
        data = b"".join(_frame(message[i : i + 1000]) for i in range(0, len(message), 1000))
        peer.sendall(data + _frame(b"log line\n", stream=2) + _frame(b"not json\n"))
        assert (await channel.receive(30)) == json.loads(message)
        with pytest.raises(ProtocolViolation, match="not JSON"):
            await channel.receive(30)
        assert channel.stderr_tail == b"log line\n"
    finally:
        channel.close()
        peer.close()


async def test_local_forged_replies_and_garbage_stay_in_the_jail() -> None:
    require_bwrap()
    sandbox = LocalSandbox()
    try:
        result = await sandbox.execute(FORGE_EVERYWHERE, timeout=20)
        assert "FORGED" not in result.output and result.files == (), result
        assert "relay fds PermissionError" in result.output and "wrote to the relay" not in result.output
        await sandbox.execute("x = 1", timeout=20)
        garbage = await sandbox.execute(GARBAGE_EVERYWHERE, timeout=20)
        assert garbage.state_lost and "malformed verdict" in garbage.output, garbage
        assert (await sandbox.execute("print(2)", timeout=20)).output == "2\n"
        assert "planted" in (await sandbox.execute(PATCH_REAPER, timeout=20)).output
        listing = await sandbox.execute(LIST_PROCESSES, timeout=20)
        assert "sleep" not in listing.output and len(eval(listing.output)) == 2, listing.output
    finally:
        await sandbox.aclose()


async def test_local_non_json_on_the_channel_restarts_the_process() -> None:
    require_bwrap()
    sandbox = LocalSandbox()
    try:
        await sandbox.execute("x = 1", timeout=20)
        assert sandbox._process is not None and sandbox._process.stdout is not None
        sandbox._process.stdout.feed_data(b"not json\n")  # what a compromised relay would send
        result = await sandbox.execute("print('after')", timeout=20)
        assert result.state_lost and "broke its protocol" in result.output, result
        assert "NameError" in (await sandbox.execute("x", timeout=20)).output
        assert sandbox._process is not None and sandbox._process.stdout is not None
        sandbox._process.stdout.feed_data(b"not json\n")
        with pytest.raises(SandboxError, match="protocol"):
            await sandbox.list_files()
        after = await sandbox.execute("print(3)", timeout=20)
        assert after.state_lost and after.output.endswith("3\n"), after  # the restart is reported
    finally:
        await sandbox.aclose()


@pytest.mark.docker
@pytest.mark.threat
async def test_docker_run_program_reports_the_exit_status_the_relay_collected() -> None:
    async with docker_sandbox() as sandbox:
        await sandbox.execute("secret = 7", timeout=20)
        ok = await sandbox.run_program("print('hi')", timeout=20)
        assert (ok.exit_code, ok.output, ok.timed_out) == (0, "hi\n", False)
        failed = await sandbox.run_program("import sys\nprint(secret)", timeout=20)
        assert failed.exit_code == 1 and "NameError" in failed.output  # not the session's namespace
        forging = FORGE_EVERYWHERE + "raise SystemExit(3)"
        forged = await sandbox.run_program(forging, timeout=20)
        assert forged.exit_code == 3 and "FORGED" not in forged.output and "real output" in forged.output
        slow = await sandbox.run_program(
            "import subprocess\nsubprocess.Popen(['sleep', '300']).wait()", timeout=1
        )
        assert slow.timed_out and slow.exit_code == -9
        listing = await sandbox.execute(LIST_PROCESSES, timeout=20)
        assert "sleep" not in listing.output and len(eval(listing.output)) == 2, listing.output
        assert (await sandbox.execute("secret", timeout=20)).output == "7\n"
