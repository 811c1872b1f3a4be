"""`LocalSandbox`: bubblewrap jail (no network, nobody uid, clean environment) and the unsafe mode."""

from __future__ import annotations

import os
import shutil

import agentoss.sandboxes.local as local_module
import pytest
from agentoss.sandboxes import LocalSandbox

from agentoss.errors import SandboxUnavailableError


def require_bwrap() -> None:
    if shutil.which("bwrap") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("bubblewrap missing under CI (make services installs it)")
        pytest.skip("bubblewrap (bwrap) is not installed")


async def test_bwrap_jail_is_stateful_offline_and_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    require_bwrap()
    monkeypatch.setenv("AGENTOSS_LOCAL_SECRET", "hunter2")
    sandbox = LocalSandbox()
    try:
        await sandbox.execute("x = 40", timeout=10)
        assert (await sandbox.execute("x + 2", timeout=10)).output == "42\n"
        code = (
            "import os, socket\nprint(os.getuid(), 'hunter2' in repr(dict(os.environ)))\n"
            "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\nexcept OSError as exc:\n"
            "    print('blocked', exc.errno)"
        )
        result = await sandbox.execute(code, timeout=10)
        assert result.output.splitlines()[0] == "65534 False" and "blocked" in result.output
        interrupted = await sandbox.execute("while True:\n    pass", timeout=1)
        assert interrupted.timed_out and not interrupted.state_lost
        assert (await sandbox.execute("x", timeout=10)).output == "40\n"
        await sandbox.put_file("in.txt", b"data")
        assert (
            await sandbox.list_files() == ["in.txt"] and await sandbox.get_file("/mnt/data/in.txt") == b"data"
        )
    finally:
        await sandbox.aclose()


async def test_without_bwrap_it_refuses_unless_unsafe(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which
    monkeypatch.setattr(
        local_module.shutil,
        "which",
        lambda name, path=None: None if name == "bwrap" else real_which(name, path=path),
    )
    with pytest.raises(SandboxUnavailableError, match="bubblewrap"):
        await LocalSandbox().start()
    unsafe = LocalSandbox(unsafe=True)
    try:
        result = await unsafe.execute("import os\nsorted(os.environ)", timeout=10)
        assert "AGENTOSS_DATA_DIR" in result.output and "PATH" in result.output and "HOME" in result.output
        assert "VIRTUAL_ENV" not in result.output  # the host environment is cleared even here
    finally:
        await unsafe.aclose()


def test_public_surface() -> None:
    import agentoss.sandboxes as sandboxes

    assert set(sandboxes.__all__) == {
        "DATA_DIR", "DockerSandbox", "ExecResult", "FakeSandbox", "LocalSandbox", "Sandbox", "WarmPool",
        "build_image", "default_image", "reap",
    }  # fmt: skip
    for name in sandboxes.__all__:
        assert getattr(sandboxes, name) is not None


async def test_as_root_a_cgroup_stops_a_fork_bomb_and_nothing_survives() -> None:
    require_bwrap()
    if os.geteuid() != 0:
        pytest.skip("the per-session cgroup needs root")
    sandbox = LocalSandbox(pids_limit=32, memory_mb=256)
    try:
        await sandbox.start()
        assert sandbox.cgroup is not None
        directories = list(sandbox.cgroup.directories)
        bomb = (
            "import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
            "            time.sleep(60)\n        n += 1\nexcept OSError as exc:\n    print('stopped', n)"
        )
        result = await sandbox.execute(bomb, timeout=20)
        assert result.output.startswith("stopped") and int(result.output.split()[1]) < 32, result.output
        survivors = await sandbox.execute(
            "import os\nlen([p for p in os.listdir('/proc') if p.isdigit()])", timeout=20
        )
        assert survivors.output == "2\n"  # bubblewrap's init and the interpreter
    finally:
        await sandbox.aclose()
    assert not any(directory.exists() for directory in directories)
