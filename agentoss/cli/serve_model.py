"""`agentoss serve-model`: launch `vllm serve` for gpt-oss-20b / 120b with the recommended flags.

Chooses the tensor-parallel size from the visible GPUs and their memory, adds `--async-scheduling`,
passes the API key through the environment (never on the command line, where `ps` shows it), streams
vLLM's log, waits for `/health`, prints the `--base-url` to use, and on Ctrl-C / SIGTERM stops vLLM
(SIGTERM to its process group, SIGKILL after a grace period). Clear errors when `vllm` or a GPU is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import click

__all__ = ["GpuInfo", "build_command", "choose_tensor_parallel", "command", "visible_gpus"]

MODELS = {"20b": "openai/gpt-oss-20b", "120b": "openai/gpt-oss-120b"}
NEEDED_GIB = {"openai/gpt-oss-20b": 20.0, "openai/gpt-oss-120b": 70.0}
"""GPU memory for weights (MXFP4 experts) plus a usable KV cache, summed over tensor-parallel ranks."""
_STOP_GRACE_S = 30.0


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """One visible GPU."""

    index: int
    memory_gib: float


def visible_gpus(nvidia_smi: str = "nvidia-smi") -> list[GpuInfo]:
    """GPUs `nvidia-smi` reports, filtered by `CUDA_VISIBLE_DEVICES`; empty when there are none."""
    path = shutil.which(nvidia_smi)
    if path is None:
        return []
    try:
        out = subprocess.run(
            [path, "--query-gpu=index,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    gpus = []
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit():
            with contextlib.suppress(ValueError):
                gpus.append(GpuInfo(int(parts[0]), float(parts[1]) / 1024))
    selected = os.environ.get("CUDA_VISIBLE_DEVICES")
    if selected is not None:
        wanted = [s.strip() for s in selected.split(",") if s.strip()]
        gpus = [g for g in gpus if str(g.index) in wanted]
    return gpus


def choose_tensor_parallel(model: str, gpus: Sequence[GpuInfo]) -> int:
    """The smallest power-of-two tensor-parallel size whose GPUs hold the model; ClickException if none."""
    if not gpus:
        raise click.ClickException(
            "no NVIDIA GPU is visible (nvidia-smi missing or reports none). vLLM needs a GPU; "
            "on a CPU-only machine use Ollama or llama.cpp (see the README, 'Model servers')."
        )
    needed = NEEDED_GIB.get(model, 20.0)
    smallest = min(g.memory_gib for g in gpus)
    for size in (1, 2, 4, 8):
        if size <= len(gpus) and size * smallest * 0.9 >= needed:
            return size
    raise click.ClickException(
        f"{model} needs about {needed:.0f} GiB of GPU memory; {len(gpus)} GPU(s) with "
        f"{smallest:.0f} GiB each are visible. Use gpt-oss-20b, or pass --tensor-parallel-size."
    )


def build_command(
    vllm: str,
    model: str,
    *,
    host: str,
    port: int,
    tensor_parallel: int,
    max_model_len: int | None,
    gpu_memory_utilization: float | None,
    extra: Sequence[str],
) -> list[str]:
    """The `vllm serve` command line (the API key travels in VLLM_API_KEY, not here)."""
    argv = [vllm, "serve", model, "--host", host, "--port", str(port)]
    argv += ["--tensor-parallel-size", str(tensor_parallel), "--async-scheduling"]
    if max_model_len is not None:
        argv += ["--max-model-len", str(max_model_len)]
    if gpu_memory_utilization is not None:
        argv += ["--gpu-memory-utilization", str(gpu_memory_utilization)]
    return argv + list(extra)


async def _pump(stream: asyncio.StreamReader) -> None:
    while line := await stream.readline():
        click.echo(f"[vllm] {line.decode('utf-8', 'replace').rstrip()}", err=True)


async def _healthy(url: str) -> bool:
    import httpx

    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            return (await client.get(url + "/health")).status_code == 200
    except httpx.HTTPError:
        return False


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), _STOP_GRACE_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def _serve(argv: list[str], env: dict[str, str], base_url: str, ready_timeout: float) -> int:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    pump = asyncio.create_task(_pump(proc.stdout))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        deadline = loop.time() + ready_timeout
        while not await _healthy(base_url):
            if proc.returncode is not None or stop.is_set():
                break
            if loop.time() > deadline:
                click.echo(f"vLLM did not become healthy within {ready_timeout:g} s; stopping it.", err=True)
                return 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        else:
            click.echo(f"vLLM is ready at {base_url}")
            click.echo(f'Use it with: agentoss run --backend vllm --base-url {base_url} "your task"')
        if proc.returncode is None and not stop.is_set():
            waiter = asyncio.create_task(proc.wait())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
        if stop.is_set():
            click.echo("Stopping vLLM ...", err=True)
            return 0
        code = await proc.wait()
        click.echo(f"vLLM exited with status {code}.", err=True)
        return code or 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await _stop(proc)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(pump, 5.0)


@click.command("serve-model", context_settings={"ignore_unknown_options": True})
@click.option("--model", "model_name", default="20b", show_default=True, help="20b, 120b, or a model id.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--api-key", envvar="VLLM_API_KEY", default=None, help="Require this key (env VLLM_API_KEY).")
@click.option("--max-model-len", type=int, default=None, help="Context length to serve.")
@click.option("--tensor-parallel-size", type=int, default=None, help="Default: chosen from visible GPUs.")
@click.option("--gpu-memory-utilization", type=float, default=None)
@click.option("--vllm", "vllm_bin", default="vllm", show_default=True, help="The vllm executable.")
@click.option("--ready-timeout", type=float, default=1800.0, show_default=True, help="Seconds to wait.")
@click.option("--dry-run", is_flag=True, help="Print the vllm command and exit.")
@click.argument("model_arg", required=False, metavar="[20b|120b|MODEL]")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def command(
    model_arg: str | None,
    model_name: str,
    host: str,
    port: int,
    api_key: str | None,
    max_model_len: int | None,
    tensor_parallel_size: int | None,
    gpu_memory_utilization: float | None,
    vllm_bin: str,
    ready_timeout: float,
    dry_run: bool,
    extra: tuple[str, ...],
) -> None:
    """Launch vLLM serving gpt-oss and print the --base-url to use. Extra arguments go to `vllm serve`.

    The model is `20b` (default), `120b` or any model id, as the first argument or with --model.
    """
    if model_arg is not None and model_arg.startswith("-"):
        # An unknown option meant for vLLM landed in the model slot: it belongs to the extras.
        extra = (model_arg, *extra)
    elif model_arg is not None:
        model_name = model_arg
    model = MODELS.get(model_name, model_name)
    vllm = shutil.which(vllm_bin)
    if vllm is None:
        raise click.ClickException(
            f"'{vllm_bin}' was not found on PATH. Install vLLM on a Linux machine with an NVIDIA GPU "
            "(`pip install vllm`, see docs.vllm.ai for gpt-oss), or use Ollama / llama.cpp instead."
        )
    tp = tensor_parallel_size or choose_tensor_parallel(model, visible_gpus())
    argv = build_command(
        vllm,
        model,
        host=host,
        port=port,
        tensor_parallel=tp,
        max_model_len=max_model_len,
        gpu_memory_utilization=gpu_memory_utilization,
        extra=extra,
    )
    connect_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base_url = f"http://{connect_host}:{port}"
    if dry_run:
        click.echo(" ".join(argv))
        return
    env = dict(os.environ)
    if api_key:
        env["VLLM_API_KEY"] = api_key
    click.echo(f"Starting: {' '.join(argv)}", err=True)
    code = asyncio.run(_serve(argv, env, base_url, ready_timeout))
    sys.exit(code)
