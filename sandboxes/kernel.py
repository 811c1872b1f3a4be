"""The relay's handle on the kernel process (its pipes and verdicts) and the capped capture of output.

Standard library only: copied into the sandbox image beside `relay.py`, which runs it as a sibling
module; the kernel itself is `interpreter.py`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING or __package__:  # imported as agentoss.sandboxes.kernel (type checks, tests)
    from agentoss.sandboxes.processes import send_signal
else:  # run from the relay in the sandbox: the sibling modules sit next to this file
    from processes import send_signal

__all__ = ["Capture", "Kernel", "KernelFailure"]

HEAD_BYTES = int(os.environ.get("AGENTOSS_OUTPUT_HEAD", "16384"))
TAIL_BYTES = int(os.environ.get("AGENTOSS_OUTPUT_TAIL", "16384"))
MAX_KERNEL_LINE = 64 * 1024
KERNEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "interpreter.py")


class KernelFailure(Exception):
    """The kernel died, or wrote something that is not a verdict: it is replaced and state is lost."""


class Kernel:
    """The child process that runs user code, and the three pipes the relay reads and writes."""

    def __init__(self) -> None:
        cells_r, self.cells_w = os.pipe()
        self.verdicts_r, verdicts_w = os.pipe()
        self.output_r, output_w = os.pipe()
        for fd in (self.cells_w, self.verdicts_r, self.output_r):
            os.set_blocking(fd, False)
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-u", KERNEL, str(cells_r), str(verdicts_w)],
            stdin=subprocess.DEVNULL,
            stdout=output_w,
            stderr=output_w,
            pass_fds=(cells_r, verdicts_w),
            close_fds=True,
        )
        for fd in (cells_r, verdicts_w, output_w):
            os.close(fd)
        self.pid = self.process.pid
        try:  # readable once the kernel exits, even while something it started holds its pipes
            self.pidfd: int | None = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self.pidfd = None
        self.pending = bytearray()
        self.seq = 0
        self.output_open = True

    def close(self) -> None:
        """Kill the kernel (its pipes stay open until `release`, so late output can still be read)."""
        send_signal(self.pid, signal.SIGKILL)
        try:
            self.process.wait(5.0)
        except (subprocess.TimeoutExpired, ChildProcessError):
            pass

    def release(self) -> None:
        for fd in (self.cells_w, self.verdicts_r, self.output_r, self.pidfd):
            if fd is None:
                continue
            try:
                os.close(fd)
            except OSError:
                pass

    def drain_stale(self) -> None:
        """Drop output and verdicts written between cells (background threads of earlier cells)."""
        for fd in (self.output_r, self.verdicts_r):
            while True:
                try:
                    if not os.read(fd, 65536):
                        break
                except (BlockingIOError, InterruptedError):
                    break
        self.pending.clear()

    def read_verdict(self) -> dict[str, Any] | None:
        """The next verdict line if complete; None when more bytes are needed; KernelFailure otherwise."""
        if b"\n" not in self.pending:
            try:
                chunk = os.read(self.verdicts_r, 65536)
            except (BlockingIOError, InterruptedError):
                return None
            if not chunk:
                raise KernelFailure("died")
            self.pending += chunk
        index = self.pending.find(b"\n")
        if index < 0:
            if len(self.pending) > MAX_KERNEL_LINE:
                raise KernelFailure("wrote an oversized verdict")
            return None
        line = bytes(self.pending[:index])
        del self.pending[: index + 1]
        try:
            verdict = json.loads(line)
        except ValueError:
            raise KernelFailure("wrote a malformed verdict") from None
        if not isinstance(verdict, dict):
            raise KernelFailure("wrote a malformed verdict")
        return verdict

    def next_verdict(self, seq: int, token: str) -> dict[str, Any] | None:
        """The verdict for cell `seq` among the complete lines available now (others are stale or forged)."""
        while True:
            verdict = self.read_verdict()
            if verdict is None or (verdict.get("seq") == seq and verdict.get("token") == token):
                return verdict


class Capture:
    """The first and last bytes of one cell's output; the rest is counted and its cut marked."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = HEAD_BYTES - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > TAIL_BYTES:
                del self.tail[: len(self.tail) - TAIL_BYTES]

    def drain(self, fd: int, limit: int = 1 << 62) -> bool:
        """Read what is available now (at most about `limit` bytes); False once the pipe is at its end."""
        start = self.total
        while self.total - start < limit:
            try:
                chunk = os.read(fd, 262144)
            except (BlockingIOError, InterruptedError):
                return True
            if not chunk:
                return False
            self.add(chunk)
        return True

    def value(self) -> bytes:
        dropped = self.total - len(self.head) - len(self.tail)
        if dropped > 0:
            return bytes(self.head) + f"\n[... {dropped} bytes of output omitted ...]\n".encode() + self.tail
        return bytes(self.head + self.tail)
