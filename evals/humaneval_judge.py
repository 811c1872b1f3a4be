"""The HumanEval grading program: the problem's tests in a trusted process, the candidate in another.

Grading never trusts anything the candidate's process can write. Inside the sample's sandbox a cell
starts a *judge* process (`JUDGE_SOURCE`) and hands it, on stdin, a fresh random nonce with the
problem. The judge starts the candidate in a separate *candidate* process (`CANDIDATE_SOURCE`) that
never receives the nonce, runs the problem's own `check` with a proxy for the entry point (each
call's arguments and result cross a pipe as tagged JSON, decoded into plain values only), and
prints `VERDICT <nonce> pass` only when `check` returned. The candidate's stdout/stderr go to the
judge, which echoes a quoted tail of it, never raw. So a candidate that exits early (`sys.exit`,
`os._exit`), prints or forges pass markers, or forges the interpreter's reply cannot produce the
pass line: it does not know the nonce. The judge and the cell's interpreter make themselves
non-dumpable first, so a same-uid candidate cannot read the nonce through `/proc/<pid>/mem|fd`.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

__all__ = ["CANDIDATE_SOURCE", "JUDGE_SOURCE", "VERDICT", "grading_cell", "new_nonce", "passed"]

VERDICT = "AGENTOSS-HUMANEVAL-VERDICT"

# Shared by both processes: values as tagged JSON (containers tagged, scalars as JSON).
_CODEC = r"""
import json as _json
import math as _math


def _enc(value, depth=0):
    if depth > 200:
        raise ValueError("value nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return {"t": "float", "v": repr(value)}
    if kind in (list, tuple, set, frozenset):
        items = sorted(value, key=repr) if kind in (set, frozenset) else value
        return {"t": kind.__name__, "v": [_enc(item, depth + 1) for item in items]}
    if kind is dict:
        return {"t": "dict", "v": [[_enc(k, depth + 1), _enc(v, depth + 1)] for k, v in value.items()]}
    raise TypeError(f"unsupported value of type {kind.__name__}")


_FLOATS = {"inf": _math.inf, "-inf": -_math.inf, "nan": _math.nan}


def _dec(value, depth=0):
    if depth > 200:
        raise ValueError("value nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is not dict or type(value.get("t")) is not str or type(value.get("v")) not in (list, str):
        raise ValueError("malformed value")
    tag, body = value["t"], value["v"]
    if tag == "float" and type(body) is str:
        return _FLOATS[body] if body in _FLOATS else float(body)
    if type(body) is not list:
        raise ValueError("malformed value")
    if tag == "dict":
        pairs = {}
        for pair in body:
            if type(pair) is not list or len(pair) != 2:
                raise ValueError("malformed value")
            pairs[_dec(pair[0], depth + 1)] = _dec(pair[1], depth + 1)
        return pairs
    items = [_dec(item, depth + 1) for item in body]
    if tag == "list":
        return items
    if tag == "tuple":
        return tuple(items)
    if tag == "set":
        return set(items)
    if tag == "frozenset":
        return frozenset(items)
    raise ValueError("malformed value")


def _nondumpable():
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
    except Exception:
        pass
"""

CANDIDATE_SOURCE = (
    _CODEC
    + r"""
import os as _os
import sys as _sys


def _serve():
    inbox = _os.fdopen(int(_sys.argv[1]), "rb")
    outbox = _os.fdopen(int(_sys.argv[2]), "wb")

    def reply(message):
        outbox.write(_json.dumps(message).encode() + b"\n")
        outbox.flush()

    job = _json.loads(inbox.readline())
    namespace = {"__name__": "candidate"}
    try:
        exec(compile(job["code"], "candidate.py", "exec"), namespace)
        function = namespace[job["entry_point"]]
    except BaseException as exc:
        reply({"error": f"{type(exc).__name__}: {exc}"})
        return
    reply({"ready": True})
    for line in inbox:
        try:
            args, kwargs = _dec(_json.loads(line))
            reply({"value": _enc(function(*args, **kwargs))})
        except Exception as exc:
            reply({"error": f"{type(exc).__name__}: {exc}"})


_serve()
"""
)

JUDGE_SOURCE = (
    _CODEC
    + r"""
import os
import subprocess
import sys
import threading

_nondumpable()
job = _json.loads(sys.stdin.buffer.read())
nonce = job.pop("nonce")
limit = 64 * 1024 * 1024
request_r, request_w = os.pipe()
reply_r, reply_w = os.pipe()
candidate = subprocess.Popen(
    [sys.executable, "-I", "-c", job["candidate_source"], str(request_r), str(reply_w)],
    pass_fds=(request_r, reply_w),
    stdin=subprocess.DEVNULL,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    start_new_session=True,
)
os.close(request_r)
os.close(reply_w)
log = bytearray()


def _drain():
    while True:
        chunk = candidate.stdout.read1(65536)
        if not chunk:
            return
        log.extend(chunk)
        del log[:-4000]


threading.Thread(target=_drain, daemon=True).start()
requests = os.fdopen(request_w, "wb")
replies = os.fdopen(reply_r, "rb")


class CandidateFailed(Exception):
    pass


def _ask(message):
    requests.write(_json.dumps(message).encode() + b"\n")
    requests.flush()
    line = replies.readline(limit)
    if not line.endswith(b"\n"):
        raise CandidateFailed("the candidate process ended or sent a malformed reply")
    answer = _json.loads(line)
    if type(answer) is not dict:
        raise CandidateFailed("malformed reply")
    if "error" in answer:
        raise CandidateFailed(str(answer["error"])[:500])
    return answer


def _proxy(*args, **kwargs):
    return _dec(_ask(_enc([list(args), kwargs]))["value"])


try:
    first = _ask({"code": job["code"], "entry_point": job["entry_point"]})
    if first.get("ready") is not True:
        raise CandidateFailed("the candidate did not load")
    namespace = {"__name__": "judge"}
    exec(compile(job["prompt"], "prompt.py", "exec"), namespace)
    namespace[job["entry_point"]] = _proxy  # some tests call the entry point by its name
    exec(compile(job["test"], "test.py", "exec"), namespace)
    namespace["check"](_proxy)
except BaseException as exc:
    verdict = "fail " + repr(f"{type(exc).__name__}: {exc}"[:1000])
else:
    verdict = "pass"
try:
    os.killpg(candidate.pid, 9)
except OSError:
    pass
print("candidate output (quoted):", repr(bytes(log[-1000:]).decode(errors="replace"))[:1500])
print(f"VERDICT {nonce} {verdict}")
"""
).replace("VERDICT {nonce}", VERDICT + " {nonce}")


def new_nonce() -> str:
    """A fresh secret for one grading run."""
    return secrets.token_hex(16)


def grading_cell(problem: dict[str, Any], code: str, nonce: str, timeout_s: float) -> str:
    """The notebook cell that grades `code` on `problem` inside a sandbox, printing the judge's verdict."""
    job = {
        "nonce": nonce,
        "code": code,
        "entry_point": problem["entry_point"],
        "prompt": problem["prompt"],
        "test": problem["test"],
        "candidate_source": CANDIDATE_SOURCE,
    }
    blob = base64.b64encode(json.dumps(job).encode()).decode()
    return (
        "def _agentoss_grade(blob, judge, timeout):\n"
        "    import base64, ctypes, subprocess, sys\n"
        "    try:\n"
        "        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0: keep the nonce private\n"
        "    except Exception:\n"
        "        pass\n"
        "    try:\n"
        "        done = subprocess.run([sys.executable, '-I', '-c', judge], input=base64.b64decode(blob),\n"
        "                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)\n"
        "    except subprocess.TimeoutExpired:\n"
        "        print('the tests timed out')\n"
        "        return\n"
        "    print(done.stdout.decode(errors='replace')[-6000:])\n"
        f"_agentoss_grade({blob!r}, {JUDGE_SOURCE!r}, {timeout_s!r})\n"
    )


def passed(output: str, nonce: str) -> bool:
    """True when the judge printed the pass line carrying this run's nonce."""
    return f"{VERDICT} {nonce} pass" in output.splitlines()
