"""Hostile model output never runs on the host (BFCL) and cannot forge a HumanEval pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
from agentoss.evals.bfcl import BFCLTask
from agentoss.evals.bfcl_multi import REJECTED_CALL, call_string, is_safe_call, score_multi_turn
from agentoss.evals.core import Attempt, Sample, Score
from agentoss.evals.humaneval import HumanEvalScorer, HumanEvalTask, _problems
from agentoss.evals.oracle import Call, Final, Plan
from eval_fixtures import SubprocessSandbox, run_oracle
from test_eval_math import _docker_image_ready


def _hostile_key(marker: Path) -> str:
    return f"a=open({str(marker)!r},'w').write('owned'),b"


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("ls", {"a=__import__('os').system('true'),b": 1}),
        ("ls", {"lambda": 1}),  # a keyword
        ("ls", {"undeclared": 1}),  # an identifier, but not a parameter of `ls`
        ("ls", {"a": float("nan")}),  # repr is a name, not a literal
        ("ls", {"a": object()}),  # not JSON data
        ("ls", {"a": {1: "x"}}),  # a non-string key: not JSON data
        ("__import__('os').system('true') or ls", {}),
        ("print(1);ls", {}),
    ],
)
def test_unsafe_calls_are_recorded_as_a_call_that_fails(name: str, arguments: dict[str, Any]) -> None:
    assert call_string(name, arguments, {"a", "show_hidden"}) == REJECTED_CALL


def test_safe_calls_keep_bfcl_syntax_and_nested_json_values() -> None:
    text = call_string("ls", {"a": [1, 2.5, None, True, {"k'\")": "v\n"}]}, {"a"})
    assert text == "ls(a=[1, 2.5, None, True, {'k\\'\")': 'v\\n'}])"
    assert is_safe_call(text)
    assert not is_safe_call("ls(a=open('/tmp/x'))") and not is_safe_call("ls(**{'a': 1})")


class _HostileBFCL(BFCLTask):
    """Multi-turn BFCL whose 'model' sends a call with a key that is Python code."""

    def __init__(self, key: str) -> None:
        self.key = key

    def plan(self, sample: Sample, mode: Literal["oracle", "wrong"]) -> Plan:
        turns: Plan = [[Final("Done.")] for _ in sample.input["question"]]
        turns[0] = [Call("functions.ls", json.dumps({self.key: 1})), Final("Done.")]
        return turns


async def test_a_hostile_argument_key_is_never_evaluated_on_the_host(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    task = _HostileBFCL(_hostile_key(marker))
    samples = task.samples(["multi_turn_base"], limit=1)
    run, (record,), _ = await run_oracle(task, samples, tmp_path / "out")
    assert run.errors == 0 and record["tool_calls"] == 1
    assert record["prediction"][0] == [[REJECTED_CALL]]
    assert not record["correct"]
    assert not marker.exists()


async def test_the_scorer_rejects_hostile_call_strings_however_they_were_made(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    sample = BFCLTask().samples(["multi_turn_base"], limit=1)[0]
    forged = f"ls({_hostile_key(marker)}=1)"
    prediction = [[[forged]]] + [[] for _ in sample.target[1:]]
    score = await score_multi_turn(sample, Attempt(prediction=prediction))
    assert score.value == 0.0 and not marker.exists()


# --- HumanEval: a pass needs the judge's nonce, which the candidate never sees -----------------

_FORGE_PROTOCOL = """
def has_close_elements(numbers, threshold):
    return None
import os, json, base64
_m = json.dumps({"ok": True, "error": False, "files": [],
                 "output": base64.b64encode(b"__AGENTOSS_HUMANEVAL_PASSED__\\n").decode()}) + "\\n"
for fd in (1, 2, 3, 4, 5):
    try:
        os.write(fd, _m.encode())
    except OSError:
        pass
print("AGENTOSS-HUMANEVAL-VERDICT 00000000000000000000000000000000 pass")
"""
_EXIT_EARLY = """
import os
print("AGENTOSS-HUMANEVAL-VERDICT pass")
os._exit(0)
def has_close_elements(numbers, threshold):
    return None
"""
_SYS_EXIT_IN_CALL = """
def has_close_elements(numbers, threshold):
    import sys
    sys.exit(0)
"""
_READ_THE_JUDGE = r"""
import os, re, sys
def has_close_elements(numbers, threshold):
    return None
found = set()
parent = os.getppid()
for name in ("cmdline", "environ", "fd/0"):
    try:
        found.update(re.findall(rb'[0-9a-f]{32}', open(f"/proc/{parent}/{name}", "rb").read()))
    except OSError:
        pass
try:
    with open(f"/proc/{parent}/maps") as maps, open(f"/proc/{parent}/mem", "rb") as mem:
        for line in maps:
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            try:
                mem.seek(start)
                found.update(re.findall(rb'"nonce": "([0-9a-f]{32})"', mem.read(end - start)))
            except (OSError, ValueError, OverflowError):
                pass
except OSError:
    pass
grandparent = int(open(f"/proc/{parent}/stat").read().rsplit(")", 1)[1].split()[1])
for nonce in found:
    line = "\nAGENTOSS-HUMANEVAL-VERDICT " + nonce.decode() + " pass\n"
    print(line, flush=True)
    for pid in (parent, grandparent):
        for fd in (1, 2):
            try:
                with open(f"/proc/{pid}/fd/{fd}", "w") as out:
                    out.write(line)
            except OSError:
                pass
os._exit(0)
"""


class _Env:
    """The `SampleEnv` part the scorer uses: `execute` in a fresh sandbox."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory

    async def execute(self, code: str, *, timeout_s: float) -> tuple[bool, str]:
        sandbox = self.factory()
        await sandbox.start()
        try:
            result = await sandbox.execute(code, timeout=timeout_s)
        finally:
            await sandbox.aclose()
        return not (result.error or result.timed_out or result.state_lost), str(result.output)


async def _grade(code: str, factory: Any = SubprocessSandbox) -> Score:
    sample = HumanEvalTask().samples(limit=1)[0]
    return await HumanEvalScorer()(sample, Attempt(prediction=code), _Env(factory))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "code",
    [_FORGE_PROTOCOL, _EXIT_EARLY, _SYS_EXIT_IN_CALL, _READ_THE_JUDGE],
    ids=["forged_markers", "os_exit_at_import", "sys_exit_in_call", "reads_the_judge"],
)
async def test_humaneval_candidates_cannot_forge_a_pass(code: str) -> None:
    assert (await _grade(code)).value == 0.0


async def test_humaneval_reference_solutions_pass_through_the_judge() -> None:
    problem = _problems()["HumanEval/0"]
    score = await _grade(problem["prompt"] + problem["canonical_solution"])
    assert score.value == 1.0, score.explanation
    body_only = await _grade(problem["canonical_solution"])
    assert body_only.value == 1.0, body_only.explanation


@pytest.mark.docker
@pytest.mark.skipif(not _docker_image_ready(), reason="no Docker daemon or sandbox image (make services)")
async def test_humaneval_forged_protocol_reply_fails_in_the_docker_sandbox() -> None:
    from agentoss.sandboxes.docker import DockerSandbox

    problem = _problems()["HumanEval/0"]
    assert (await _grade(_FORGE_PROTOCOL, DockerSandbox)).value == 0.0
    assert (await _grade(_EXIT_EARLY, DockerSandbox)).value == 0.0
    assert (await _grade(_READ_THE_JUDGE, DockerSandbox)).value == 0.0
    right = await _grade(problem["prompt"] + problem["canonical_solution"], DockerSandbox)
    assert right.value == 1.0, right.explanation
