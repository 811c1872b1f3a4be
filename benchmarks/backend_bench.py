"""Client overhead of VLLMBackend: many concurrent streams against the fake vLLM server.

The fake server runs in a subprocess (`python -m agentoss.testing.fake_vllm`) with a delay between
chunks, so this process's CPU time is the client's alone. Each round runs N concurrent streaming
requests twice: once through `VLLMBackend` (SSE parsing, token ids, retries bookkeeping, chunks),
once as a same-run baseline that only reads the raw SSE bytes with httpx (`aiter_raw`, from a
pool in the same state as the backend's). Reported: errors, client CPU per generated token for
both, and the difference (what our parsing costs per token). Medians over rounds. Never asserts
time; exits non-zero only when a stream failed.

    python benchmarks/backend_bench.py [--streams 256] [--tokens 64] [--delay 0.01] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from agentoss.backends.base import SamplingParams
from agentoss.backends.http import RetryPolicy, Timeouts
from agentoss.backends.vllm import VLLMBackend
from agentoss.harmony.encoding import encode_special

PROMPT = encode_special("<|start|>user<|message|>Tell me a story.<|end|><|start|>assistant")


def reply_text(tokens: int) -> str:
    words = " ".join(f"w{i}" for i in range(tokens))
    return f"<|channel|>final<|message|>{words}<|return|>"


async def start_server(script: Path, delay: float, chunk: int) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agentoss.testing.fake_vllm",
        "--port",
        "0",
        "--script",
        str(script),
        "--token-delay",
        str(delay),
        "--chunk-tokens",
        str(chunk),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    if not line.startswith("READY "):
        raise SystemExit(f"fake server did not start: {line!r}")
    return proc, line.split()[1]


async def backend_round(base_url: str, streams: int) -> tuple[int, int, float]:
    backend = VLLMBackend(
        base_url, timeout=Timeouts(stream_idle=120.0), retry=RetryPolicy(attempts=1), max_connections=4096
    )
    await backend.context_window()

    async def one() -> int:
        count = 0
        async for chunk in backend.stream(PROMPT, SamplingParams(max_tokens=4096)):
            count += len(chunk.token_ids)
        return count

    cpu = time.process_time()
    results = await asyncio.gather(*(one() for _ in range(streams)), return_exceptions=True)
    cpu = time.process_time() - cpu
    await backend.aclose()
    errors = [r for r in results if isinstance(r, BaseException)]
    for error in errors[:3]:
        print(f"error: {error!r}", file=sys.stderr)
    return len(errors), sum(r for r in results if isinstance(r, int)), cpu


async def baseline_round(base_url: str, streams: int) -> tuple[int, float]:
    limits = httpx.Limits(max_connections=4096, max_keepalive_connections=4096)
    body = {
        "model": "openai/gpt-oss-20b",
        "prompt": PROMPT,
        "max_tokens": 4096,
        "stream": True,
        "stream_options": {"include_usage": True},
        "skip_special_tokens": False,
        "return_token_ids": True,
    }
    async with httpx.AsyncClient(limits=limits, timeout=120.0) as client:
        # Start as VLLMBackend does (its first call reads /v1/models and /version, leaving that
        # connection idle in the pool). The pool's start state alone moves this figure: from a cold
        # pool the 256 streams stay in lock-step and every read takes a batch of events (~48 µs/token
        # here, whatever parses them); from a warm one they drift apart and reads carry fewer events
        # (~60 µs/token). Unmatched, that difference passed for our parsing cost.
        for path in ("/v1/models", "/version"):
            await client.get(base_url + path)

        async def one() -> int:
            size = 0
            async with client.stream("POST", base_url + "/v1/completions", json=body) as response:
                async for block in response.aiter_raw():
                    size += len(block)
                    # Stop at [DONE] and drop the connection, as VLLMBackend does with this many
                    # requests in flight: keeping hundreds of idle connections makes every httpcore
                    # pool operation poll each of them (agentoss.backends.http explains the policy).
                    if block.endswith(b"data: [DONE]\n\n"):
                        break
            return size

        cpu = time.process_time()
        results = await asyncio.gather(*(one() for _ in range(streams)), return_exceptions=True)
        cpu = time.process_time() - cpu
    return sum(1 for r in results if isinstance(r, BaseException)), cpu


def sse_events(tokens: list[int]) -> list[bytes]:
    """vLLM-shaped SSE events, one token each, as the fake server would send them."""
    events = []
    for i, token in enumerate(tokens):
        last = i == len(tokens) - 1
        choice = {
            "index": 0,
            "text": "x",
            "logprobs": None,
            "finish_reason": "stop" if last else None,
            "stop_reason": None,
            "token_ids": [token],
        }
        event = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m", "choices": [choice]}
        events.append(b"data: " + json.dumps(event).encode() + b"\n\n")
    usage = {"prompt_tokens": 7, "completion_tokens": len(tokens), "total_tokens": 7 + len(tokens)}
    events.append(b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


async def in_memory(tokens: list[int], streams: int) -> tuple[float, float]:
    """CPU per token with no sockets (httpx MockTransport): ours vs raw httpx bytes, same events."""
    events = sse_events(tokens)

    async def body() -> AsyncIterator[bytes]:
        for event in events:
            yield event

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "m", "max_model_len": 131072}]})
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    backend = VLLMBackend("http://mock", transport=httpx.MockTransport(handler), token_source="token_ids")
    await backend.context_window()

    async def ours() -> None:
        async for _ in backend.stream(PROMPT, SamplingParams(max_tokens=4096)):
            pass

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))

    async def raw() -> None:
        async with client.stream("POST", "http://mock/v1/completions", json={"prompt": PROMPT}) as response:
            async for _ in response.aiter_raw():
                pass

    figures = []
    for run in (ours, raw):
        gc.collect()
        cpu = time.process_time()
        for _ in range(streams):
            await run()
        figures.append((time.process_time() - cpu) / (streams * len(tokens)))
    await backend.aclose()
    await client.aclose()
    return figures[0], figures[1]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=64, help="tokens per completion")
    parser.add_argument("--delay", type=float, default=0.01, help="seconds between chunks")
    parser.add_argument("--chunk", type=int, default=1, help="tokens per chunk")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    console = Console()
    reply = reply_text(args.tokens)
    expected = len(encode_special(reply))
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "script.json"
        script.write_text(json.dumps([{"reply": reply}]))
        proc, base_url = await start_server(script, args.delay, args.chunk)
        ours: list[float] = []
        raw: list[float] = []
        errors = 0
        try:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("rounds", total=args.rounds * 2)
                for number in range(args.rounds):
                    # Alternate the order so neither side always runs on a warmer (or dirtier) process.
                    for side in ("ours", "raw") if number % 2 == 0 else ("raw", "ours"):
                        gc.collect()
                        if side == "ours":
                            failed, total, cpu = await backend_round(base_url, args.streams)
                            errors += failed + (total != expected * (args.streams - failed))
                            ours.append(cpu / max(total, 1))
                        else:
                            failed, cpu = await baseline_round(base_url, args.streams)
                            errors += failed
                            raw.append(cpu / (expected * args.streams))
                        progress.advance(task)
        finally:
            proc.terminate()
            await proc.wait()
    table = Table(
        title=f"{args.streams} concurrent streams x {expected} tokens, {args.delay * 1e3:g} ms/chunk"
    )
    table.add_column("client")
    table.add_column("CPU µs / token (median)", justify="right")
    table.add_row("VLLMBackend", f"{statistics.median(ours) * 1e6:.2f}")
    table.add_row("baseline: raw httpx SSE bytes", f"{statistics.median(raw) * 1e6:.2f}")
    extra = statistics.median(o - r for o, r in zip(ours, raw, strict=True))
    table.add_row("overhead over baseline", f"{extra * 1e6:.2f}")
    console.print(table)
    tokens = encode_special(reply)
    mem_ours, mem_raw = [], []
    for _ in range(args.rounds):
        a, b = await in_memory(tokens, args.streams)
        mem_ours.append(a)
        mem_raw.append(b)
    memory = Table(title="same events in memory (httpx MockTransport, no sockets), sequential")
    memory.add_column("client")
    memory.add_column("CPU µs / token (median)", justify="right")
    memory.add_row("VLLMBackend", f"{statistics.median(mem_ours) * 1e6:.2f}")
    memory.add_row("baseline: raw httpx SSE bytes", f"{statistics.median(mem_raw) * 1e6:.2f}")
    parse = statistics.median(o - r for o, r in zip(mem_ours, mem_raw, strict=True))
    memory.add_row("overhead over baseline (our parsing)", f"{parse * 1e6:.2f}")
    console.print(memory)
    console.print(f"errors: {errors}  (target: 0; overhead target < 20 µs/token)")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
