"""Containment under attack: each hostile cell is contained, and the host, daemon and loop stay healthy.

Every attack is bounded (small limits, short timeouts) so the whole suite runs in well under a minute.
"""

from __future__ import annotations

import os
import tempfile

import pytest
from sandbox_fixtures import LoopTicker, assert_healthy, docker_sandbox, require_docker

pytestmark = [pytest.mark.docker, pytest.mark.threat]


async def test_network_egress_is_impossible() -> None:
    client = require_docker()
    bridge = client.api.inspect_network("bridge")["IPAM"]["Config"][0].get("Gateway", "172.17.0.1")
    code = f"""
import socket
results = {{}}
try:
    socket.getaddrinfo("example.com", 80)
    results["dns"] = "resolved"
except OSError as exc:
    results["dns"] = type(exc).__name__
for name, host in [("public", "1.1.1.1"), ("metadata", "169.254.169.254"), ("bridge", "{bridge}")]:
    try:
        socket.create_connection((host, 80), timeout=2).close()
        results[name] = "connected"
    except OSError as exc:
        results[name] = "blocked"
print(sorted(results.items()))
print(sorted(name for _, name in socket.if_nameindex()))
"""
    async with docker_sandbox() as sandbox, LoopTicker() as ticker:
        result = await sandbox.execute(code, timeout=20)
        assert "resolved" not in result.output and "connected" not in result.output, result.output
        assert "('bridge', 'blocked')" in result.output and "['lo']" in result.output
        await assert_healthy(sandbox)
    assert ticker.ticks > 0


async def test_host_files_and_environment_secrets_are_invisible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOSS_THREAT_SECRET", "hunter2-secret")
    with tempfile.NamedTemporaryFile("w", prefix="agentoss-threat-", suffix=".txt", delete=False) as handle:
        handle.write("host-only-contents")
    try:
        code = f"""
import os
print(os.path.exists({handle.name!r}), "hunter2" in repr(dict(os.environ)))
print("hunter2" in open("/proc/self/environ", "rb").read().decode("latin-1"))
try:
    print("hunter2" in open("/proc/1/environ", "rb").read().decode("latin-1"))
except PermissionError:
    print("relay environ denied")
for path in ("/root", "/var/lib/docker", "/etc/shadow"):
    try:
        os.listdir(path) if os.path.isdir(path) else open(path).read()
        print(path, "readable")
    except OSError:
        print(path, "denied")
print(os.getuid(), os.getgid())
"""
        async with docker_sandbox() as sandbox:
            result = await sandbox.execute(code, timeout=20)
            lines = result.output.splitlines()
            assert lines[:3] == ["False False", "False", "relay environ denied"], result.output
            assert "readable" not in result.output and "65534 65534" in result.output
            await assert_healthy(sandbox)
    finally:
        os.unlink(handle.name)


async def test_writes_outside_the_allowed_paths_fail_and_tmp_is_noexec() -> None:
    code = """
import os, subprocess
for path in ("/etc/evil", "/usr/evil", "/evil", "/opt/agentoss/evil", "/proc/sys/kernel/evil"):
    try:
        open(path, "w").write("x")
        print(path, "WRITTEN")
    except OSError as exc:
        print(path, "refused")
open("/tmp/ok.sh", "w").write("#!/bin/sh\\necho ran\\n")
os.chmod("/tmp/ok.sh", 0o755)
try:
    subprocess.run(["/tmp/ok.sh"], check=True, capture_output=True)
    print("EXECUTED")
except OSError as exc:
    print("noexec", exc.errno)
open("/mnt/data/fine.txt", "w").write("ok")
"""
    async with docker_sandbox() as sandbox:
        result = await sandbox.execute(code, timeout=20)
        assert "WRITTEN" not in result.output and "EXECUTED" not in result.output, result.output
        assert result.output.count("refused") == 5 and "noexec 13" in result.output
        assert await sandbox.get_file("fine.txt") == b"ok"
        await assert_healthy(sandbox)


async def test_fork_bomb_hits_the_pids_limit_and_leaves_nothing_behind() -> None:
    code = "import os\nwhile True:\n    os.fork()"
    async with docker_sandbox(pids_limit=64) as sandbox, LoopTicker() as ticker:
        result = await sandbox.execute(code, timeout=15)
        assert result.error and ("BlockingIOError" in result.output or result.timed_out), result.output
        survivors = await sandbox.execute(
            "import os\nsorted(int(p) for p in os.listdir('/proc') if p.isdigit())", timeout=20
        )
        assert len(eval(survivors.output)) <= 2, survivors.output  # relay (init) + kernel only
        await assert_healthy(sandbox)
    assert ticker.ticks > 0


async def test_thread_bomb_is_stopped_by_the_pids_limit() -> None:
    code = """
import threading, time
threads = []
try:
    while True:
        thread = threading.Thread(target=time.sleep, args=(30,), daemon=True)
        thread.start()
        threads.append(thread)
except RuntimeError as exc:
    print("stopped at", len(threads), exc)
"""
    async with docker_sandbox(pids_limit=64) as sandbox:
        result = await sandbox.execute(code, timeout=20)
        assert "stopped at" in result.output and "can't start new thread" in result.output, result.output
        assert int(result.output.split()[2]) < 64


async def test_memory_bomb_is_killed_and_the_session_restarts() -> None:
    code = "blocks = []\nwhile True:\n    blocks.append(b'x' * (16 << 20))"
    async with docker_sandbox(memory_mb=192) as sandbox, LoopTicker() as ticker:
        result = await sandbox.execute(code, timeout=30)
        assert result.error
        assert (
            result.state_lost and "ran out of memory (limit 192 MB)" in result.output
        ) or "MemoryError" in result.output
        await assert_healthy(sandbox)
    assert ticker.ticks > 0


async def test_infinite_loop_and_interrupt_resistant_code_are_stopped() -> None:
    stubborn = "while True:\n    try:\n        while True:\n            pass\n"
    stubborn += "    except BaseException:\n        pass"
    async with docker_sandbox(interrupt_grace_s=1.0) as sandbox, LoopTicker() as ticker:
        looping = await sandbox.execute("while True:\n    pass", timeout=1)
        assert looping.timed_out and not looping.state_lost
        result = await sandbox.execute(stubborn, timeout=1)
        assert result.timed_out and result.state_lost
        await assert_healthy(sandbox)
    assert ticker.ticks > 0


async def test_disk_fill_stops_at_the_tmpfs_size() -> None:
    code = """
import errno
written = 0
try:
    with open("/mnt/data/fill.bin", "wb") as handle:
        while True:
            handle.write(b"\\0" * (1 << 20))
            written += 1
except OSError as exc:
    print("stopped", written, errno.errorcode[exc.errno])
"""
    async with docker_sandbox(data_mb=32) as sandbox:
        result = await sandbox.execute(code, timeout=30)
        assert "stopped" in result.output and "ENOSPC" in result.output, result.output
        assert int(result.output.split()[1]) <= 32
        await sandbox.execute("import os\nos.remove('/mnt/data/fill.bin')", timeout=10)
        await assert_healthy(sandbox)


async def test_a_gigabyte_of_stdout_is_capped_with_head_and_tail() -> None:
    code = (
        "import sys\nchunk = b'y' * (1 << 20)\nsys.stdout.buffer.write(b'HEAD')\n"
        "for _ in range(1024):\n    sys.stdout.buffer.write(chunk)\nsys.stdout.buffer.write(b'TAIL')\nNone"
    )
    async with docker_sandbox(output_limit=8192) as sandbox, LoopTicker() as ticker:
        result = await sandbox.execute(code, timeout=120)
        assert not result.timed_out, result.output[-300:]
        assert result.output.startswith("HEAD") and result.output.endswith("TAIL")
        assert result.output.count("bytes of output omitted") == 1 and len(result.output) < 9000
        await assert_healthy(sandbox)
    assert ticker.ticks > 0


async def test_invalid_utf8_and_escape_codes_are_neutralised() -> None:
    code = (
        "import sys\n"
        "sys.stdout.buffer.write(b'ok \\xff\\xfe \\x1b[31mred\\x1b[0m \\x1b]0;pwned\\x07 end\\n')\nNone"
    )
    async with docker_sandbox() as sandbox:
        result = await sandbox.execute(code, timeout=20)
        assert "\x1b" not in result.output and "\x07" not in result.output and "pwned" not in result.output
        assert result.output.startswith("ok \ufffd") and "red" in result.output and "end" in result.output


async def test_no_process_survives_a_call() -> None:
    start = (
        "import os, subprocess\nchild = subprocess.Popen(['sleep', '300'])\nos.system('sleep 300 &')\nNone"
    )
    listing = (
        "import os\nnames = []\nfor pid in os.listdir('/proc'):\n    if pid.isdigit():\n"
        "        names.append(open(f'/proc/{pid}/cmdline', 'rb').read().split(b'\\0')[0].decode())\n"
        "sorted(names)"
    )
    async with docker_sandbox() as sandbox:
        await sandbox.execute(start, timeout=20)
        result = await sandbox.execute(listing, timeout=20)
        assert "sleep" not in result.output and "python3" in result.output, result.output


async def test_the_supervisor_cannot_be_seen_or_traced() -> None:
    host_pid = os.getpid()
    code = f"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
path = "/proc/{host_pid}/cmdline"
print(os.path.exists(path) and b"pytest" in open(path, "rb").read())
print(libc.ptrace(16, {host_pid}, None, None), ctypes.get_errno())
"""
    async with docker_sandbox() as sandbox:
        result = await sandbox.execute(code, timeout=20)
        lines = result.output.splitlines()
        assert lines[0] == "False" and lines[1].startswith("-1 "), result.output
        await assert_healthy(sandbox)


async def test_a_symlink_planted_in_data_is_not_followed_by_the_host() -> None:
    with tempfile.NamedTemporaryFile("w", prefix="agentoss-threat-", delete=False) as handle:
        handle.write("host-secret-contents")
    try:
        async with docker_sandbox() as sandbox:
            await sandbox.execute(
                f"import os\nos.symlink({handle.name!r}, '/mnt/data/leak')\n"
                "os.symlink('/etc/passwd', '/mnt/data/pw')",
                timeout=20,
            )
            for name in ("leak", "pw"):
                with pytest.raises(FileNotFoundError):
                    await sandbox.get_file(name)
            assert await sandbox.list_files() == []
            await assert_healthy(sandbox)
    finally:
        os.unlink(handle.name)


async def test_the_container_runs_with_every_hardened_setting() -> None:
    client = require_docker()
    async with docker_sandbox(memory_mb=512, cpus=0.5, pids_limit=100) as sandbox:
        assert sandbox.container_id is not None
        info = client.api.inspect_container(sandbox.container_id)
        host, config = info["HostConfig"], info["Config"]
        assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"] and not host["CapAdd"] and host["Privileged"] is False
        assert "no-new-privileges:true" in host["SecurityOpt"]
        assert not host["Init"]  # the relay is PID 1 (the init): nothing else holds the container's stdio
        assert host["Memory"] == host["MemorySwap"] == 512 << 20
        assert host["PidsLimit"] == 100 and host["NanoCpus"] == 500_000_000
        assert host["IpcMode"] == "private" and host["PidMode"] == "" and host["UsernsMode"] == ""
        assert "noexec" in host["Tmpfs"]["/tmp"] and not host["Binds"]
        assert {u["Name"] for u in host["Ulimits"]} == {"nofile", "fsize", "core"}
        assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "1", "max-size": "1m"}}
        assert config["User"] == "65534:65534" and config["StopSignal"] == "SIGKILL"
        assert config["Labels"]["agentoss.sandbox"] == "container"
        mounts = {m["Destination"]: m for m in info["Mounts"]}
        assert set(mounts) == {"/mnt/data"} and mounts["/mnt/data"]["Type"] == "volume"
        result = await sandbox.execute(
            "import os\nos.getuid(), os.geteuid(), open('/proc/self/status').read()", timeout=20
        )
        assert result.output.startswith("(65534, 65534,") and "CapEff:\\t0000000000000000" in result.output
        assert "NoNewPrivs:\\t1" in result.output and "Seccomp:\\t2" in result.output
