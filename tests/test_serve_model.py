"""`agentoss serve-model` with stand-in `vllm` and `nvidia-smi` executables on PATH."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from agentoss.cli.serve_model import GpuInfo, choose_tensor_parallel, command

AGENTOSS = str(Path(sys.executable).with_name("agentoss"))

VLLM_STUB = f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STUB_RECORD"], "w") as handle:
    json.dump({{"argv": args, "api_key": os.environ.get("VLLM_API_KEY"), "pid": os.getpid()}}, handle)
if os.environ.get("STUB_FAIL"):
    print("CUDA error: no kernel image is available", flush=True)
    sys.exit(3)
port = args[args.index("--port") + 1]
os.execv(sys.executable, [sys.executable, "-m", "agentoss.testing.fake_vllm", "--port", port])
"""


def stub_bin(tmp_path: Path, gpus: str | None) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "vllm").write_text(VLLM_STUB)
    (bin_dir / "vllm").chmod(0o755)
    if gpus is not None:
        (bin_dir / "nvidia-smi").write_text(f"#!/bin/sh\nprintf '{gpus}'\n")
        (bin_dir / "nvidia-smi").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    env["STUB_RECORD"] = str(tmp_path / "record.json")
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_tensor_parallel_follows_memory() -> None:
    h200 = [GpuInfo(0, 139.0)]
    l40 = [GpuInfo(i, 44.4) for i in range(4)]
    assert choose_tensor_parallel("openai/gpt-oss-20b", h200) == 1
    assert choose_tensor_parallel("openai/gpt-oss-120b", h200) == 1
    assert choose_tensor_parallel("openai/gpt-oss-120b", l40) == 2
    assert choose_tensor_parallel("openai/gpt-oss-20b", l40) == 1


def test_dry_run_picks_tp_from_visible_gpus_and_keeps_key_off_argv(tmp_path: Path) -> None:
    env = stub_bin(tmp_path, "0, 46068\\n1, 46068\\n2, 46068\\n")
    env["CUDA_VISIBLE_DEVICES"] = "0,1"
    result = CliRunner().invoke(
        command, ["--model", "120b", "--api-key", "s3cret", "--max-model-len", "65536", "--dry-run"], env=env
    )
    assert result.exit_code == 0, result.output
    argv = result.output.split()
    assert argv[1:3] == ["serve", "openai/gpt-oss-120b"]
    assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
    assert "--async-scheduling" in argv and argv[argv.index("--max-model-len") + 1] == "65536"
    assert "s3cret" not in result.output


@pytest.mark.parametrize(
    ("gpus", "vllm", "message"),
    [
        ("0, 81559\\n", "nonexistent-vllm", "was not found on PATH"),
        (None, "vllm", "no NVIDIA GPU is visible"),
    ],
)
def test_clear_errors_without_vllm_or_gpu(tmp_path: Path, gpus: str | None, vllm: str, message: str) -> None:
    env = stub_bin(tmp_path, gpus)
    result = CliRunner().invoke(command, ["--vllm", vllm], env=env)
    assert result.exit_code == 1 and message in result.output


async def start(env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        AGENTOSS,
        "serve-model",
        "--port",
        str(port),
        "--api-key",
        "s3cret",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_launch_waits_for_health_prints_base_url_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = stub_bin(tmp_path, "0, 81559\\n")
    port = free_port()
    proc = await start(env, port)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        lines = []
        while not any("--base-url" in line for line in lines):
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line, "serve-model exited before vLLM was ready"
            lines.append(line)
        assert f"vLLM is ready at http://127.0.0.1:{port}" in lines[0]
        assert f"--base-url http://127.0.0.1:{port}" in lines[1]
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200
        record = json.loads((tmp_path / "record.json").read_text())
        assert record["api_key"] == "s3cret" and "s3cret" not in record["argv"]
        assert (
            record["argv"][:2] == ["serve", "openai/gpt-oss-20b"] and "--async-scheduling" in record["argv"]
        )
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
        with pytest.raises(ProcessLookupError):
            os.kill(record["pid"], 0)
        log = (await proc.stderr.read()).decode()
        assert "[vllm] READY" in log and "Stopping vLLM" in log
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_vllm_failing_at_start_is_reported(tmp_path: Path) -> None:
    env = stub_bin(tmp_path, "0, 81559\\n")
    env["STUB_FAIL"] = "1"
    proc = await start(env, free_port())
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 3
    assert "[vllm] CUDA error: no kernel image is available" in err.decode()
    assert "vLLM exited with status 3" in err.decode()


def test_model_as_argument_and_extra_vllm_options(tmp_path: Path) -> None:
    env = stub_bin(tmp_path, "0, 81559\\n")
    runner = CliRunner()
    positional = runner.invoke(command, ["120b", "--dry-run", "--", "--max-num-seqs", "64"], env=env)
    assert positional.exit_code == 0, positional.output
    assert positional.output.split()[2] == "openai/gpt-oss-120b"
    assert positional.output.split()[-2:] == ["--max-num-seqs", "64"]
    extra_only = runner.invoke(command, ["--dry-run", "--enforce-eager"], env=env)
    assert (
        extra_only.output.split()[2] == "openai/gpt-oss-20b"
        and extra_only.output.split()[-1] == "--enforce-eager"
    )
