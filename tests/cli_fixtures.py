"""Helpers for the CLI tests: a fake vLLM server subprocess on loopback and `agentoss` subprocess runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AGENTOSS = str(Path(sys.executable).parent / "agentoss")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without any AGENTOSS_* setting, plus `extra`, and a fixed terminal width."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AGENTOSS_")}
    env.update({"COLUMNS": "100", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


@contextmanager
def fake_vllm(script: Sequence[Mapping[str, Any]], directory: Path, *args: str) -> Iterator[str]:
    """Run `python -m agentoss.testing.fake_vllm` with this script; yield its base URL."""
    path = directory / "script.json"
    path.write_text(json.dumps(list(script)), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "agentoss.testing.fake_vllm", "--port", "0", "--script", str(path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_env(),
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("READY ") or not line:
                break
        if not line.startswith("READY "):
            raise RuntimeError(f"the fake vLLM server did not start: {line!r}")
        yield line.split()[1]
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass(frozen=True)
class CliRun:
    """A finished `agentoss` subprocess."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        """stdout parsed as exactly one JSON object."""
        value = json.loads(self.stdout)
        assert isinstance(value, dict)
        return value


def agentoss(
    *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None, cwd: Path | None = None
) -> CliRun:
    """Run `agentoss ARGS` to completion (60 s at most)."""
    done = subprocess.run(
        [AGENTOSS, *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=clean_env(env),
        cwd=cwd,
        timeout=60,
    )
    return CliRun(done.returncode, done.stdout, done.stderr)
