"""The notebook interpreter that runs inside the sandbox: JSON-line requests in, JSON-line replies out.

This file is copied into the sandbox image and run as `python3 -I -u interpreter.py`; it uses only the
standard library and never imports agentoss. Requests arrive one per line on stdin and replies leave on
the original stdout, which is moved to a private descriptor before any user code runs: user code (and
every process it starts) writes into a pipe that a reader thread drains into a capped buffer (head and
tail kept), and reads `/dev/null` as stdin, so nothing it does can forge or swallow a protocol message.

Requests: `{"op": "exec", "code": str}`, `{"op": "put", "path": str, "data": b64}`,
`{"op": "get", "path": str}`, `{"op": "list"}`. Every reply carries `"ok"` and either the result or
`"message"`. An exec reply has `output` (base64 of the raw captured bytes, cut marked), `error`
(an exception escaped the cell) and `files` (figures saved to the data directory by this cell).
"""

from __future__ import annotations

import ast
import base64
import json
import linecache
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

DATA_DIR = os.environ.get("AGENTOSS_DATA_DIR", "/mnt/data")
HEAD_BYTES = int(os.environ.get("AGENTOSS_OUTPUT_HEAD", "16384"))
TAIL_BYTES = int(os.environ.get("AGENTOSS_OUTPUT_TAIL", "16384"))
MAX_FILE_BYTES = int(os.environ.get("AGENTOSS_MAX_FILE_BYTES", str(64 * 1024 * 1024)))
REAP_ALL = "--reap-all" in sys.argv
MARKER = b"\x00\x00agentoss-cell-end-" + os.urandom(8).hex().encode() + b"\x00\x00"
MAIN_PID = os.getpid()
PREBUILT_MPLCONFIG = "/opt/agentoss/mplconfig"


class CapturedOutput:
    """Drains the output pipe on a thread; keeps the first and last bytes of each cell and counts the rest."""

    def __init__(self, read_fd: int) -> None:
        self._fd = read_fd
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._reset()
        threading.Thread(target=self._drain, name="output-drain", daemon=True).start()

    def _reset(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def _add(self, data: bytes) -> None:
        with self._lock:
            self.total += len(data)
            room = HEAD_BYTES - len(self.head)
            if room > 0:
                self.head += data[:room]
                data = data[room:]
            if data:
                self.tail += data
                if len(self.tail) > TAIL_BYTES:
                    del self.tail[: len(self.tail) - TAIL_BYTES]

    def _drain(self) -> None:
        carry = b""
        keep = len(MARKER) - 1
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except InterruptedError:
                continue
            if not chunk:
                return
            buffer = carry + chunk
            index = buffer.find(MARKER)
            if index >= 0:
                self._add(buffer[:index])
                carry = b""  # bytes after the marker come from stray processes: dropped
                self._done.set()
                continue
            self._add(buffer[:-keep] if len(buffer) > keep else b"")
            carry = buffer[-keep:] if len(buffer) > keep else buffer

    def begin(self) -> None:
        with self._lock:
            self._reset()
            self._done.clear()

    def finish(self, write_fd: int) -> bytes:
        """Wait until everything written before now has been drained; return the capped bytes."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        try:
            os.write(write_fd, MARKER)
        except OSError:
            pass
        self._done.wait(5.0)
        with self._lock:
            dropped = self.total - len(self.head) - len(self.tail)
            if dropped > 0:
                cut = f"\n[... {dropped} bytes of output omitted ...]\n".encode()
                return bytes(self.head) + cut + bytes(self.tail)
            return bytes(self.head) + bytes(self.tail)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _cell_traceback(exc: BaseException) -> str:
    """The traceback without this file's frames, like a notebook shows it."""
    if isinstance(exc, SyntaxError):
        return "".join(traceback.format_exception_only(type(exc), exc))
    report = traceback.TracebackException.from_exception(exc)
    frames = [frame for frame in report.stack if frame.filename != __file__]
    report.stack = traceback.StackSummary.from_list(frames)
    return "".join(report.format())


def run_cell(code: str, namespace: dict[str, Any], filename: str) -> bool:
    """Execute one cell; echo the last expression's repr; print the traceback. True if it raised."""
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    try:
        tree = ast.parse(code, filename, "exec")
        last: ast.Expression | None = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            statement = tree.body.pop()
            assert isinstance(statement, ast.Expr)
            last = ast.Expression(statement.value)
        exec(compile(tree, filename, "exec"), namespace)
        if last is not None:
            value = eval(compile(last, filename, "eval"), namespace)
            if value is not None:
                namespace["_"] = value
                print(repr(value))
        return False
    except BaseException as exc:  # the cell's own error, shown to the model
        if os.getpid() != MAIN_PID:
            os._exit(1)  # a forked child must never return into the protocol loop
        sys.stderr.write(_cell_traceback(exc))
        return True


def save_figures() -> list[str]:
    """Save open matplotlib figures into the data directory and close them; return their names."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    names: list[str] = []
    try:
        for number in list(pyplot.get_fignums()):
            index = 0
            while os.path.exists(os.path.join(DATA_DIR, f"figure_{number}_{index}.png")):
                index += 1
            name = f"figure_{number}_{index}.png"
            pyplot.figure(number).savefig(os.path.join(DATA_DIR, name))
            pyplot.close(number)
            names.append(name)
    except Exception as exc:
        sys.stderr.write(f"[could not save figure: {exc}]\n")
    return names


def _other_pids() -> list[int]:
    me = os.getpid()
    return [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) not in (1, me)]


def reap_processes() -> None:
    """Kill every other process of the sandbox (orphans, daemons, fork bombs) and wait until they are gone.

    PID 1 (the init process, which collects orphans) is spared by the kernel; our own dead children
    are collected here so no zombie outlives the cell.
    """
    if not REAP_ALL:
        return
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:  # ESRCH: nothing left to signal
            pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if not _other_pids():
            return
        time.sleep(0.002)


def _open_in_data(path: str, flags: int, mode: int = 0o644) -> int:
    """Open `path` relative to the data directory, refusing `..` and symlinks in every component."""
    parts = [part for part in path.replace("\\", "/").split("/") if part not in ("", ".")]
    if path.startswith(DATA_DIR + "/"):
        parts = [part for part in path[len(DATA_DIR) + 1 :].split("/") if part not in ("", ".")]
    if not parts or any(part == ".." or "\x00" in part for part in parts):
        raise ValueError(f"invalid path {path!r}")
    directory = os.open(DATA_DIR, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            if flags & os.O_CREAT:
                try:
                    os.mkdir(part, 0o755, dir_fd=directory)
                except FileExistsError:
                    pass
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
            os.close(directory)
            directory = child
        return os.open(parts[-1], flags | os.O_NOFOLLOW, mode, dir_fd=directory)
    finally:
        os.close(directory)


def op_put(request: dict[str, Any]) -> dict[str, Any]:
    data = base64.b64decode(request["data"])
    fd = _open_in_data(request["path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return {"ok": True}


def op_get(request: dict[str, Any]) -> dict[str, Any]:
    fd = _open_in_data(request["path"], os.O_RDONLY)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        return {"ok": False, "message": f"file larger than {MAX_FILE_BYTES} bytes"}
    return {"ok": True, "data": base64.b64encode(data).decode("ascii")}


def op_list(request: dict[str, Any]) -> dict[str, Any]:
    names: list[str] = []
    for root, dirs, files in os.walk(DATA_DIR, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in files:
            full = os.path.join(root, name)
            if os.path.isfile(full) and not os.path.islink(full):
                names.append(os.path.relpath(full, DATA_DIR))
        if len(names) > 10000:
            break
    return {"ok": True, "files": sorted(names)}


def _seed_matplotlib_cache() -> None:
    """Copy the font cache built into the image to the writable config dir (saves seconds and a warning)."""
    target = os.environ.get("MPLCONFIGDIR", "")
    if target and os.path.isdir(PREBUILT_MPLCONFIG) and not os.path.exists(target):
        try:
            import shutil

            shutil.copytree(PREBUILT_MPLCONFIG, target)
        except OSError:
            pass


def main() -> None:
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 1)
    os.dup2(write_fd, 2)
    os.set_inheritable(1, True)
    os.set_inheritable(2, True)

    def close_protocol() -> None:
        for fd in (proto_in.fileno(), proto_out, read_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    os.register_at_fork(after_in_child=close_protocol)
    _seed_matplotlib_cache()
    captured = CapturedOutput(read_fd)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    os.makedirs(DATA_DIR, exist_ok=True)
    try:
        os.chdir(DATA_DIR)
    except OSError:
        pass

    def reply(message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        view = memoryview(data)
        while view:
            written = os.write(proto_out, view)
            view = view[written:]

    reply({"ok": True, "ready": True, "pid": os.getpid()})
    cell = 0
    line = bytearray()
    while True:
        try:
            chunk = proto_in.readline()
        except KeyboardInterrupt:  # an interrupt that arrived between cells
            continue
        if not chunk:
            return
        line += chunk
        if not chunk.endswith(b"\n"):
            continue
        try:
            request = json.loads(bytes(line))
        except ValueError as exc:
            line.clear()
            reply({"ok": False, "message": f"bad request: {exc}"})
            continue
        line.clear()
        op = request.get("op")
        try:
            if op == "exec":
                cell += 1
                captured.begin()
                alarm = float(request.get("alarm") or 0)
                if alarm > 0:  # sandboxes that cannot signal us from outside ask for a self-interrupt
                    signal.signal(signal.SIGALRM, _raise_interrupt)
                    signal.setitimer(signal.ITIMER_REAL, alarm)
                try:
                    errored = run_cell(str(request.get("code", "")), namespace, f"<cell-{cell}>")
                finally:
                    if alarm > 0:
                        signal.setitimer(signal.ITIMER_REAL, 0)
                files = save_figures()
                output = captured.finish(write_fd)
                reap_processes()
                message = {"ok": True, "error": errored, "files": files}
                message["output"] = base64.b64encode(output).decode("ascii")
                reply(message)
            elif op == "put":
                reply(op_put(request))
            elif op == "get":
                reply(op_get(request))
            elif op == "list":
                reply(op_list(request))
            else:
                reply({"ok": False, "message": f"unknown op {op!r}"})
        except KeyboardInterrupt:
            reply({"ok": False, "message": "interrupted"})
        except Exception as exc:
            reply({"ok": False, "message": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    main()
