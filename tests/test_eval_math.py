"""Math with the python tool and HumanEval: the reference answers score 100%, broken ones 0%."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from agentoss.evals.answers import extract_boxed, extract_code, extract_final_answer, extract_integer
from agentoss.evals.humaneval import HumanEvalTask
from agentoss.evals.math_tasks import AimeTask, MathTask
from agentoss.sandboxes.fake import FakeSandbox
from eval_fixtures import SubprocessSandbox, run_oracle


@pytest.mark.parametrize("mode", ["oracle", "wrong"])
async def test_math_oracle_uses_python_and_scores_by_reasoning_gym(tmp_path: Path, mode: str) -> None:
    task = MathTask(size=10)
    samples = task.samples(limit=3)
    assert {s.category for s in samples} == {"gsm_symbolic", "basic_arithmetic", "chain_sum"}
    run, records, _ = await run_oracle(task, samples, tmp_path, mode, sandbox_factory=FakeSandbox)
    assert run.errors == 0 and run.lost == 0
    assert {r["correct"] for r in records} == {mode == "oracle"}
    if mode == "oracle":
        assert all(r["tool_calls"] == 1 for r in records)


def test_math_sets_are_reproducible_from_their_seed() -> None:
    first = [(s.id, s.input, s.target) for s in MathTask(size=5, seed=7).samples(["gsm_symbolic"])]
    again = [(s.id, s.input, s.target) for s in MathTask(size=5, seed=7).samples(["gsm_symbolic"])]
    other = [(s.id, s.input, s.target) for s in MathTask(size=5, seed=8).samples(["gsm_symbolic"])]
    assert first == again and first != other


@pytest.mark.parametrize("mode", ["oracle", "wrong"])
async def test_aime_file_loader_scores_integer_answers(tmp_path: Path, mode: str) -> None:
    data = tmp_path / "aime25.jsonl"
    rows = [{"id": "p1", "problem": "What is 6*7?", "answer": "42"}, {"problem": "2**10?", "answer": 1024}]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    task = AimeTask(data)
    samples = task.samples()
    assert [s.id for s in samples] == ["p1", "2"] and samples[1].target == 1024
    _, records, _ = await run_oracle(task, samples, tmp_path / "out", mode, sandbox_factory=FakeSandbox)
    assert {r["correct"] for r in records} == {mode == "oracle"}


def test_answer_extraction() -> None:
    assert extract_boxed(r"so \boxed{\frac{1}{2}} and \boxed{7}") == "7"
    assert extract_boxed(r"\boxed{\frac{1}{2}}") == r"\frac{1}{2}"
    assert extract_final_answer("The total is 1,250 apples.") == "1250"
    assert extract_integer(r"answer: \boxed{033}") == 33
    assert extract_integer("no number") is None
    assert extract_code("text\n```python\ndef f():\n    return 1\n```\n") == "def f():\n    return 1\n"


@pytest.mark.parametrize("mode", ["oracle", "wrong"])
async def test_humaneval_reference_passes_and_broken_fails(tmp_path: Path, mode: str) -> None:
    task = HumanEvalTask()
    samples = task.samples(limit=5)
    assert len(task.samples()) == 164
    # The grading cell starts processes: a subprocess sandbox, not the in-process FakeSandbox.
    run, records, _ = await run_oracle(task, samples, tmp_path, mode, sandbox_factory=SubprocessSandbox)
    assert run.errors == 0
    assert {r["correct"] for r in records} == {mode == "oracle"}


def _docker_image_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
        if done.returncode != 0:
            return False
        from agentoss.sandboxes.image import default_image, docker_client, image_exists

        return bool(image_exists(docker_client(), default_image()))
    except Exception:
        return False


@pytest.mark.docker
@pytest.mark.skipif(not _docker_image_ready(), reason="no Docker daemon or sandbox image (make services)")
async def test_humaneval_tests_run_inside_the_docker_sandbox(tmp_path: Path) -> None:
    from agentoss.sandboxes.docker import DockerSandbox

    task = HumanEvalTask()
    samples = task.samples(limit=2)
    _, right, _ = await run_oracle(task, samples, tmp_path / "right", sandbox_factory=DockerSandbox)
    _, wrong, _ = await run_oracle(task, samples, tmp_path / "wrong", "wrong", sandbox_factory=DockerSandbox)
    assert [r["correct"] for r in right] == [True, True], [r["error"] or r["explanation"] for r in right]
    assert [r["correct"] for r in wrong] == [False, False]
