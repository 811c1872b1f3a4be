"""The notebook kernel inside the sandbox: runs cells the relay sends and reports a verdict for each.

Copied into the sandbox image and started by `relay.py` as `python3 -I -u interpreter.py CELLS VERDICTS`;
it uses only the standard library and never imports agentoss. It holds no descriptor that reaches the
host: stdin is `/dev/null`, stdout/stderr go into a pipe the relay drains and caps, cells arrive as
JSON lines `{"seq": n, "token": str, "code": str}` on the CELLS pipe and verdicts `{"seq": n, "token":
str, "error": bool, "files": [...]}` leave on the VERDICTS pipe. Everything here (and its verdicts)
is untrusted by the relay: user code can rewrite any of it, which only changes its own cell's result.
"""

from __future__ import annotations

import ast
import json
import linecache
import os
import signal
import sys
import traceback
from typing import Any

DATA_DIR = os.environ.get("AGENTOSS_DATA_DIR", "/mnt/data")
MAIN_PID = os.getpid()
PREBUILT_MPLCONFIG = "/opt/agentoss/mplconfig"


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
            os._exit(1)  # a forked child must never return into the kernel loop
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


def _collect_children() -> None:
    """Collect children the relay killed after the previous cell, so no zombie lingers."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


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
    cells_fd, verdicts_fd = int(sys.argv[1]), int(sys.argv[2])
    for fd in (cells_fd, verdicts_fd):
        os.set_inheritable(fd, False)  # no program a cell runs may keep them (or the relay waiting)
    cells = os.fdopen(cells_fd, "rb", buffering=1 << 16)

    def close_private() -> None:
        for fd in (cells_fd, verdicts_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    os.register_at_fork(after_in_child=close_private)
    _seed_matplotlib_cache()
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    os.makedirs(DATA_DIR, exist_ok=True)
    try:
        os.chdir(DATA_DIR)
    except OSError:
        pass

    def verdict(message: dict[str, Any]) -> None:
        view = memoryview((json.dumps(message) + "\n").encode())
        while view:
            view = view[os.write(verdicts_fd, view) :]

    verdict({"ready": True})
    while True:
        try:
            line = cells.readline()
            if not line:
                return
            request = json.loads(line)
            _collect_children()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            errored = run_cell(str(request["code"]), namespace, f"<cell-{request['seq']}>")
            # an interrupt that arrives now would lose the verdict: hold it until the next cell
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            files = save_figures()
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            verdict({"seq": request["seq"], "token": request["token"], "error": errored, "files": files})
        except KeyboardInterrupt:  # an interrupt that arrived between cells
            continue


if __name__ == "__main__":
    main()
