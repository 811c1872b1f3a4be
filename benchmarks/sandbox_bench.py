"""Benchmark the Docker sandbox: warm calls, session start, the reference design, 16 concurrent sessions.

Prints, side by side from one run on this machine:
1. per-call latency of `print(1)` in a warm stateful session (target: median under 5 ms);
2. session start (container ready to run code) without and with the warm pool;
3. the reference design: a fresh hardened `docker run` container per call (`python3 -c`), and our
   stateless mode (fresh container per call, same data volume) for comparison;
4. 16 concurrent sessions, each running a few cells: completed cells and failures (target: zero).

Run: `.venv/bin/python benchmarks/sandbox_bench.py [--calls 300] [--starts 6] [--reference 10]`.
Needs the Docker daemon and the image (`make services`). Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from agentoss.sandboxes import DockerSandbox, WarmPool
from agentoss.sandboxes.image import default_image, docker_client
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

_TARGET_WARM_MS = 5.0


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.9 * (len(ordered) - 1))] * 1000


async def warm_latency(calls: int, progress: Progress) -> list[float]:
    task = progress.add_task("warm print(1)", total=calls)
    sandbox = DockerSandbox()
    await sandbox.start()
    await sandbox.execute("print(1)", timeout=30)
    return await _timed_prints(sandbox, calls, progress, task)


async def _timed_prints(sandbox: DockerSandbox, calls: int, progress: Progress, task: TaskID) -> list[float]:
    """Time `calls` runs of `print(1)` in a started sandbox, then close it."""
    samples: list[float] = []
    try:
        for _ in range(calls):
            begin = time.perf_counter()
            result = await sandbox.execute("print(1)", timeout=30)
            samples.append(time.perf_counter() - begin)
            assert result.output == "1\n", result
            progress.advance(task)
    finally:
        await sandbox.aclose()
    return samples


async def start_latency(starts: int, progress: Progress) -> tuple[list[float], list[float]]:
    task = progress.add_task("session start", total=2 * starts)
    cold: list[float] = []
    for _ in range(starts):
        sandbox = DockerSandbox()
        begin = time.perf_counter()
        await sandbox.start()
        await sandbox.execute("print(1)", timeout=30)
        cold.append(time.perf_counter() - begin)
        await sandbox.aclose()
        progress.advance(task)
    pool = WarmPool(size=2)
    warm: list[float] = []
    try:
        for _ in range(starts):
            await pool.wait_full()
            sandbox = pool.sandbox()
            begin = time.perf_counter()
            await sandbox.start()
            await sandbox.execute("print(1)", timeout=30)
            warm.append(time.perf_counter() - begin)
            await sandbox.aclose()
            progress.advance(task)
    finally:
        await pool.aclose()
    return cold, warm


def _reference_call(client: Any, image: str) -> None:
    """The reference design, hardened: a new container per call, output read from its logs."""
    client.containers.run(
        image,
        ["python3", "-c", "print(1)"],
        remove=True,
        network_mode="none",
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        mem_limit="1024m",
        memswap_limit="1024m",
        pids_limit=128,
        nano_cpus=1_000_000_000,
        user="65534:65534",
        init=True,
        tmpfs={"/tmp": "rw,noexec,nosuid,size=64m"},
    )


async def reference(calls: int, progress: Progress) -> tuple[list[float], list[float]]:
    task = progress.add_task("fresh container per call", total=2 * calls)
    client = await asyncio.to_thread(docker_client)
    image = default_image()
    fresh: list[float] = []
    for _ in range(calls):
        begin = time.perf_counter()
        await asyncio.to_thread(_reference_call, client, image)
        fresh.append(time.perf_counter() - begin)
        progress.advance(task)
    stateless = DockerSandbox(stateless=True)
    await stateless.start()
    return fresh, await _timed_prints(stateless, calls, progress, task)


async def concurrent(sessions: int, cells: int, progress: Progress) -> tuple[int, int, float]:
    task = progress.add_task(f"{sessions} concurrent sessions", total=sessions * cells)
    failures = 0
    completed = 0

    async def one(index: int) -> None:
        nonlocal failures, completed
        sandbox = DockerSandbox(cpus=0.5, memory_mb=256)
        try:
            await sandbox.start()
            await sandbox.execute(f"total = {index}", timeout=60)
            for cell in range(cells):
                result = await sandbox.execute(f"total += sum(range(10000))\nprint({cell})", timeout=60)
                if result.output != f"{cell}\n" or result.error:
                    failures += 1
                else:
                    completed += 1
                progress.advance(task)
        except Exception:
            failures += 1
        finally:
            await sandbox.aclose()

    begin = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(sessions)))
    return completed, failures, time.perf_counter() - begin


async def main(arguments: argparse.Namespace) -> None:
    console = Console()
    with Progress(console=console, transient=True) as progress:
        warm = await warm_latency(arguments.calls, progress)
        cold_start, pooled_start = await start_latency(arguments.starts, progress)
        fresh, stateless = await reference(arguments.reference, progress)
        completed, failures, elapsed = await concurrent(16, arguments.cells, progress)
    table = Table(title="Docker sandbox (medians / p90, this machine, this run)")
    table.add_column("measurement")
    table.add_column("median ms", justify="right")
    table.add_column("p90 ms", justify="right")
    table.add_column("n", justify="right")
    for name, samples in (
        ("warm session: print(1) per call", warm),
        ("session start, no pool (to first output)", cold_start),
        ("session start, warm pool (to first output)", pooled_start),
        ("reference: fresh hardened container per call", fresh),
        ("our stateless mode: fresh container per call", stateless),
    ):
        median, p90 = _ms(samples)
        table.add_row(name, f"{median:.2f}", f"{p90:.2f}", str(len(samples)))
    console.print(table)
    warm_median = _ms(warm)[0]
    verdict = "meets" if warm_median < _TARGET_WARM_MS else "misses"
    console.print(
        f"warm call median {warm_median:.2f} ms {verdict} the {_TARGET_WARM_MS:.0f} ms target; "
        f"{_ms(fresh)[0] / warm_median:.0f}x faster than a fresh container per call; "
        f"warm pool start {_ms(cold_start)[0] / _ms(pooled_start)[0]:.1f}x faster than a cold start"
    )
    console.print(
        f"16 concurrent sessions x {arguments.cells} cells: {completed} completed, {failures} failures, "
        f"{elapsed:.1f} s wall"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--starts", type=int, default=6)
    parser.add_argument("--reference", type=int, default=10)
    parser.add_argument("--cells", type=int, default=10)
    asyncio.run(main(parser.parse_args()))
