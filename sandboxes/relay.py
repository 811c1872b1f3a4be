"""The sandbox's first process: owns the host channel, runs user code in a separate kernel process.

Copied into the sandbox image with `interpreter.py` and run as `python3 -I -u relay.py --reap-all` (PID 1
of the container, or of the bubblewrap jail); standard library only, never imports agentoss. Only
this process holds the host channel (stdin/stdout). It makes itself non-dumpable first, so a process
of the same uid (the kernel, anything user code starts) can neither open `/proc/1/fd/*` nor read its
memory nor ptrace it. User code runs in the kernel (`interpreter.py`), a child started with stdin
`/dev/null`, stdout/stderr into an output pipe the relay drains and caps, and two private pipes for
cells and their verdicts: the kernel never holds a descriptor that reaches the host.

Host requests are JSON lines carrying an `id`; every reply is built here and echoes it exactly once.
Ops: `exec` (`code`, optional `alarm` seconds for a self-interrupt and `grace`), `put` (`path`,
base64 `data`), `get` (`path`, `max_bytes`), `list`. An exec reply has `output` (base64, capped,
cut marked), `error`, `files`, `interrupted`, and `state_lost` (+ `oom`) when the kernel died or
misbehaved and was restarted. After every cell the kernel is stopped while every other process in
the sandbox is killed, then resumed: this process, not code the user can patch, does the reaping.
"""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING or __package__:  # imported as agentoss.sandboxes.relay (type checks, tests)
    from agentoss.sandboxes.datadir import (
        DATA_DIR,
        FILE_KEY,
        files_in_data,
        open_in_data,
        safe_names,
        write_all,
        write_file_reply,
    )
    from agentoss.sandboxes.kernel import Capture, Kernel, KernelFailure
    from agentoss.sandboxes.processes import (
        collect_orphans,
        living_pids,
        make_undumpable,
        oom_kills,
        send_signal,
    )
else:  # run as a script in the sandbox (`python3 -I`): the sibling modules sit next to this file
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from datadir import (
        DATA_DIR,
        FILE_KEY,
        files_in_data,
        open_in_data,
        safe_names,
        write_all,
        write_file_reply,
    )
    from kernel import Capture, Kernel, KernelFailure
    from processes import collect_orphans, living_pids, make_undumpable, oom_kills, send_signal

MAX_FILE_BYTES = 64 * 1024 * 1024
DRAIN_AFTER_CELL = 4 * 1024 * 1024
EXIT_POLL_S = 0.25
REAP_ALL = "--reap-all" in sys.argv


class Relay:
    """The protocol loop: one reply per request, built from what the relay itself observed."""

    def __init__(self) -> None:
        self.kernel = self._start_kernel()
        self.in_cell = False

    def _start_kernel(self) -> Kernel:
        kernel = Kernel()
        deadline = time.monotonic() + 60.0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelFailure("did not start")
            select.select([kernel.verdicts_r], [], [], remaining)
            verdict = kernel.read_verdict()
            if verdict is not None:
                if not verdict.get("ready"):
                    raise KernelFailure("did not start")
                return kernel

    def forward_interrupt(self, signum: int, frame: Any) -> None:
        if self.in_cell:
            try:
                os.kill(self.kernel.pid, signal.SIGINT)
            except OSError:
                pass

    def exec(self, request: dict[str, Any]) -> dict[str, Any]:
        kernel = self.kernel
        kernel.drain_stale()
        kernel.seq += 1
        # A verdict must echo this cell's number and a fresh token: a background thread of an earlier
        # cell cannot end this one by guessing (it would have to dig the token out of the kernel).
        token = os.urandom(16).hex()
        cell = {"seq": kernel.seq, "token": token, "code": str(request.get("code", ""))}
        line = (json.dumps(cell) + "\n").encode()
        alarm = float(request.get("alarm") or 0)
        grace = float(request.get("grace") or 2.0)
        started = time.monotonic()
        capture = Capture()
        oom_before = oom_kills()
        interrupted = False
        verdict: dict[str, Any] | None = None
        failure = ""
        self.in_cell = True
        try:
            view = memoryview(line)
            while verdict is None:
                elapsed = time.monotonic() - started
                if alarm > 0 and not interrupted and elapsed >= alarm:
                    interrupted = True
                    send_signal(kernel.pid, signal.SIGINT)
                if alarm > 0 and interrupted and elapsed >= alarm + grace:
                    failure = "did not stop when interrupted"
                    break
                wait = (alarm if not interrupted else alarm + grace) - elapsed if alarm > 0 else None
                readers = [kernel.verdicts_r] + ([kernel.output_r] if kernel.output_open else [])
                if kernel.pidfd is not None:
                    readers.append(kernel.pidfd)
                elif wait is None or wait > EXIT_POLL_S:
                    wait = EXIT_POLL_S  # no pidfd: look for the kernel's exit now and then
                ready_r, ready_w, _ = select.select(readers, [kernel.cells_w] if view else [], [], wait)
                if ready_w:
                    try:
                        view = view[os.write(kernel.cells_w, view) :]
                    except BlockingIOError:
                        pass
                    except BrokenPipeError:
                        raise KernelFailure("died") from None
                if kernel.output_r in ready_r:
                    kernel.output_open = capture.drain(kernel.output_r)
                if kernel.verdicts_r in ready_r:
                    verdict = kernel.next_verdict(kernel.seq, token)
                if verdict is None and kernel.process.poll() is not None:
                    verdict = kernel.next_verdict(kernel.seq, token)  # a verdict sent just before exiting
                    if verdict is None:
                        raise KernelFailure("died")
        except KernelFailure as exc:
            failure = str(exc)
        finally:
            self.in_cell = False
        reply: dict[str, Any] = {"ok": True, "interrupted": interrupted}

        def drain_rest() -> None:
            capture.drain(kernel.output_r, DRAIN_AFTER_CELL)

        if not failure:
            # Everything the kernel wrote before its verdict is in the pipe; once the kernel is stopped
            # and every other process is dead, the pipe holds a finite remainder.
            self._reap(keep=kernel.pid, then=drain_rest)
        else:
            reply.update(error=True, files=[], state_lost=True, oom=oom_kills() > oom_before)
            kernel.close()
            self._reap(keep=None, then=drain_rest)
            kernel.release()
            self.kernel = self._start_kernel()
            note = f"[The python process {failure}; it was restarted: all variables and imports are lost.]"
            capture.add(("\n" + note + "\n").encode())
        if verdict is not None:
            reply.update(error=bool(verdict.get("error")), files=safe_names(verdict.get("files")))
        reply["output"] = base64.b64encode(capture.value()).decode("ascii")
        return reply

    def _reap(self, keep: int | None, then: Callable[[], None]) -> None:
        """Kill every process but this one and `keep` (stopped meanwhile, so it cannot spawn more)."""
        if not REAP_ALL:
            then()
            return
        if keep is not None:
            send_signal(keep, signal.SIGSTOP)
        try:
            self._kill_others(keep)
            then()
        finally:
            if keep is not None:
                send_signal(keep, signal.SIGCONT)

    def _kill_others(self, keep: int | None) -> None:
        """SIGKILL every process but this one and `keep` until none is left (or 3 s have passed)."""
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            others = living_pids(exclude=(os.getpid(), keep))
            for pid in others:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            collect_orphans()
            if not others:
                break
            time.sleep(0.002)

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run `code` as a fresh `python3` program; report the exit status this process collected.

        The kernel stays stopped meanwhile and every other process (left from earlier cells) is killed
        before the program starts, so nothing but the program itself can tamper with its run.
        """
        kernel = self.kernel.pid
        send_signal(kernel, signal.SIGSTOP)
        output_r: int | None = None
        output_w: int | None = None
        pidfd: int | None = None
        try:
            if REAP_ALL:
                self._kill_others(keep=kernel)
            output_r, output_w = os.pipe()
            child = subprocess.Popen(
                [sys.executable, "-I", "-u", "-"],
                stdin=subprocess.PIPE,
                stdout=output_w,
                stderr=output_w,
                close_fds=True,
                cwd=DATA_DIR,
            )
            os.close(output_w)
            output_w = None
            try:
                pidfd = os.pidfd_open(child.pid)
            except (AttributeError, OSError):
                pidfd = None
            capture, timed_out = self._supervise(child, output_r, pidfd, request)
            self._reap(keep=kernel, then=lambda: _drain(capture, output_r))
        finally:
            send_signal(kernel, signal.SIGCONT)
            for fd in (output_r, output_w, pidfd):
                if fd is not None:
                    os.close(fd)
        output = base64.b64encode(capture.value()).decode("ascii")
        return {"ok": True, "exit_code": child.returncode, "timed_out": timed_out, "output": output}

    def _supervise(
        self, child: subprocess.Popen[bytes], output_r: int, pidfd: int | None, request: dict[str, Any]
    ) -> tuple[Capture, bool]:
        """Feed the program its code and capture its output until it exits or its timeout kills it."""
        os.set_blocking(output_r, False)
        assert child.stdin is not None
        program = child.stdin.fileno()
        os.set_blocking(program, False)
        view = memoryview(str(request.get("code", "")).encode())
        capture = Capture()
        deadline = time.monotonic() + float(request.get("timeout") or 60.0)
        timed_out = False
        while child.poll() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                child.kill()
                child.wait()
                break
            readers = [output_r] + ([pidfd] if pidfd is not None else [])
            wait = remaining if pidfd is not None else min(remaining, EXIT_POLL_S)
            ready_r, ready_w, _ = select.select(readers, [program] if view else [], [], wait)
            if ready_w:
                try:
                    view = view[os.write(program, view) :]
                except BlockingIOError:
                    pass
                except BrokenPipeError:
                    view = view[:0]
                if not view:
                    child.stdin.close()
            if output_r in ready_r:
                capture.drain(output_r)
        if not child.stdin.closed:
            child.stdin.close()
        return capture, timed_out

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "exec":
            return self.exec(request)
        if op == "run":
            return self.run(request)
        if op == "put":
            data = base64.b64decode(str(request["data"]), validate=True)
            fd = open_in_data(str(request["path"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            return {"ok": True}
        if op == "get":
            limit = min(int(request.get("max_bytes") or MAX_FILE_BYTES), MAX_FILE_BYTES)
            fd = open_in_data(str(request["path"]), os.O_RDONLY)
            size = os.fstat(fd).st_size
            if size > limit:
                os.close(fd)
                return {"ok": False, "message": f"file larger than {limit} bytes"}
            # Sent in pieces by `main` (see `write_file_reply`): never the whole file in memory here.
            return {"ok": True, FILE_KEY: (fd, size)}
        if op == "list":
            files, cut = files_in_data()
            return {"ok": True, "files": files, "cut": cut}
        return {"ok": False, "message": f"unknown op {op!r}"}


def _drain(capture: Capture, fd: int) -> None:
    capture.drain(fd, DRAIN_AFTER_CELL)


def main() -> None:
    make_undumpable()
    proto_in = os.fdopen(0, "rb", buffering=1 << 16)
    proto_out = 1
    try:
        relay = Relay()
    except KernelFailure as exc:
        sys.exit(f"the kernel {exc}")
    signal.signal(signal.SIGINT, relay.forward_interrupt)
    # No other handler: as PID 1 every signal we do not handle is dropped when sent from inside.

    def reply(message: dict[str, Any]) -> None:
        attached = message.pop(FILE_KEY, None)
        if attached is not None:
            write_file_reply(proto_out, message, *attached)
            return
        write_all(proto_out, (json.dumps(message) + "\n").encode())

    reply({"ok": True, "ready": True, "pid": os.getpid()})
    while True:
        line = proto_in.readline()
        if not line:
            relay.kernel.close()
            return
        if not line.endswith(b"\n"):
            continue  # a partial last line at end of stream
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            reply({"ok": False, "message": f"bad request: {exc}"})
            continue
        try:
            message = relay.handle(request)
        except KernelFailure as exc:  # could not even restart the kernel: end, so the host replaces us
            sys.exit(f"the kernel {exc}")
        except Exception as exc:
            message = {"ok": False, "message": f"{type(exc).__name__}: {exc}"}
        message["id"] = request.get("id")
        reply(message)


if __name__ == "__main__":
    main()
