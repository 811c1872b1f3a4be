"""Process control for the sandbox's relay: find, signal and collect processes; OOM count; non-dumpable.

Standard library only: copied into the sandbox image beside `relay.py`, which runs it as a sibling
module (it never imports agentoss there).
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["collect_orphans", "living_pids", "make_undumpable", "oom_kills", "send_signal"]

PR_SET_DUMPABLE = 4


def living_pids(exclude: tuple[int | None, ...]) -> list[int]:
    pids: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in exclude:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                state = handle.read().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):  # zombies are dead already; their parent collects them
            pids.append(int(name))
    return pids


def send_signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass


def collect_orphans() -> None:
    """As the sandbox's init, collect dead orphans (a stopped kernel is not reported)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def oom_kills() -> int:
    """The cgroup's OOM-kill count (v2 memory.events or v1 memory.oom_control), 0 when unreadable."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as handle:
                for line in handle:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


def make_undumpable() -> None:
    """Same-uid processes lose access to /proc/<us>/fd, mem, environ and ptrace (needs CAP_SYS_PTRACE)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")
