"""A per-session cgroup for `LocalSandbox` when running as root: memory, process-count and CPU limits.

Works with cgroup v2 (one unified hierarchy) and v1 (one directory per controller). Without root, or
when the hierarchy is not writable, `LocalCgroup.create` returns None and the sandbox runs without one.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

__all__ = ["LocalCgroup"]

ROOT = Path("/sys/fs/cgroup")


class LocalCgroup:
    """The directories of one session's cgroup; `join()` runs in the child before it execs."""

    def __init__(self, directories: list[Path]) -> None:
        self.directories = directories

    @classmethod
    def create(cls, *, memory_mb: int, pids: int, cpus: float) -> LocalCgroup | None:
        if os.geteuid() != 0 or not ROOT.is_dir():
            return None
        name = f"agentoss-{uuid.uuid4().hex[:12]}"
        quota = f"{int(cpus * 100_000)} 100000"
        created = cls([])
        try:
            if (ROOT / "cgroup.controllers").exists():  # v2
                directory = ROOT / name
                directory.mkdir()
                created.directories.append(directory)
                _write(directory / "memory.max", str(memory_mb << 20))
                _write(directory / "memory.swap.max", "0", optional=True)
                _write(directory / "pids.max", str(pids))
                _write(directory / "cpu.max", quota, optional=True)
                return created
            for controller, settings in (
                ("memory", {"memory.limit_in_bytes": str(memory_mb << 20)}),
                ("pids", {"pids.max": str(pids)}),
                ("cpu", {"cpu.cfs_quota_us": str(int(cpus * 100_000)), "cpu.cfs_period_us": "100000"}),
            ):
                directory = ROOT / controller / name
                directory.mkdir()
                created.directories.append(directory)
                for key, value in settings.items():
                    _write(directory / key, value)
            _write(
                ROOT / "memory" / name / "memory.memsw.limit_in_bytes", str(memory_mb << 20), optional=True
            )
            return created
        except OSError:
            created.remove()
            return None

    def join(self) -> None:
        """Move the calling process into every directory (call it in the child, before exec)."""
        for directory in self.directories:
            (directory / "cgroup.procs").write_text("0")

    def remove(self) -> None:
        """Kill whatever is left inside and remove the directories."""
        for directory in self.directories:
            try:
                for pid in (directory / "cgroup.procs").read_text().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
            except OSError:
                pass
        for directory in self.directories:
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)  # processes just killed still count until they are reaped


def _write(path: Path, value: str, *, optional: bool = False) -> None:
    try:
        path.write_text(value)
    except OSError:
        if not optional:
            raise
