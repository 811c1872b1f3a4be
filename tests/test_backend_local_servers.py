"""OllamaBackend and LlamaCppBackend against fakes of their own wire protocols over loopback."""

from __future__ import annotations

import asyncio

import pytest
from backend_fixtures import wait_for_disconnect

from agentoss.backends.base import Chunk, FinishReason, SamplingParams
from agentoss.backends.http import RetryPolicy
from agentoss.backends.llamacpp import LlamaCppBackend
from agentoss.backends.ollama import OllamaBackend
from agentoss.errors import BackendResponseError, ContextLengthError
from agentoss.harmony.encoding import encode_special
from agentoss.testing.fake_llamacpp import FakeLlamaCppServer
from agentoss.testing.fake_ollama import FakeOllamaServer
from agentoss.testing.fake_server import Faults

CALL = (
    "<|channel|>analysis<|message|>think about 日本語 é<|end|><|start|>assistant<|channel|>commentary "
    'to=functions.get_weather <|constrain|>json<|message|>{"location":"Tokyo"}<|call|>'
)
FINAL = (
    "<|channel|>analysis<|message|>ok<|end|><|start|>assistant<|channel|>final<|message|>"
    "It is 20 °C.<|return|>"
)
PROMPT = encode_special("<|start|>user<|message|>hello<|end|><|start|>assistant")
FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02)
Backend = OllamaBackend | LlamaCppBackend


async def run(backend: Backend, max_tokens: int = 1000, prompt: list[int] = PROMPT) -> list[Chunk]:
    return [chunk async for chunk in backend.stream(prompt, SamplingParams(max_tokens=max_tokens))]


def tokens(chunks: list[Chunk]) -> list[int]:
    return [t for chunk in chunks for t in chunk.token_ids]


@pytest.mark.parametrize(("reply", "stop"), [(CALL, 200012), (FINAL, 200002)])
async def test_ollama_reencodes_text_and_restores_the_dropped_stop_token(reply: str, stop: int) -> None:
    async with FakeOllamaServer([reply]) as server:
        backend = OllamaBackend(server.base_url, num_ctx=4096)
        chunks = await run(backend, max_tokens=100_000)
        assert await backend.context_window() == 4096
        await backend.aclose()
    assert tokens(chunks) == encode_special(reply)
    assert chunks[-1].finish_reason is FinishReason.STOP and chunks[-1].stop_token == stop
    sent = server.requests[0]
    assert sent["raw"] is True and sent["prompt"] == "<|start|>user<|message|>hello<|end|><|start|>assistant"
    assert sent["options"]["num_ctx"] == 4096 and sent["options"]["num_predict"] == 4096 - len(PROMPT)


async def test_ollama_length_retry_and_unknown_model() -> None:
    faults = Faults(status=500, status_count=1)
    async with FakeOllamaServer([FINAL], faults=faults) as server:
        backend = OllamaBackend(server.base_url, retry=FAST)
        chunks = await run(backend, max_tokens=5)
        assert tokens(chunks) == encode_special(FINAL)[:5] and chunks[-1].finish_reason is FinishReason.LENGTH
        assert len(server.requests) == 2
        missing = OllamaBackend(server.base_url, model="gpt-oss:120b", retry=FAST)
        with pytest.raises(BackendResponseError, match="model 'gpt-oss:120b' not found"):
            await run(missing)
        with pytest.raises(ContextLengthError):
            await run(backend, prompt=PROMPT * 5000)
        await backend.aclose()
        await missing.aclose()


async def test_ollama_dropped_stream_resumes() -> None:
    async with FakeOllamaServer([CALL], faults=Faults(drop_after=8), chunk_tokens=2) as server:
        backend = OllamaBackend(server.base_url, retry=FAST)
        chunks = await run(backend)
        await backend.aclose()
    assert tokens(chunks) == encode_special(CALL) and len(server.requests) == 2


@pytest.mark.parametrize(("reply", "stop"), [(CALL, 200012), (FINAL, 200002)])
async def test_llamacpp_token_prompt_and_return_tokens(reply: str, stop: int) -> None:
    async with FakeLlamaCppServer([reply], n_ctx=2048) as server:
        backend = LlamaCppBackend(server.base_url)
        chunks = await run(backend)
        assert await backend.context_window() == 2048
        await backend.aclose()
    assert tokens(chunks) == encode_special(reply)
    assert chunks[-1].stop_token == stop and chunks[-1].finish_reason is FinishReason.STOP
    sent = server.requests[0]
    assert sent["prompt"] == PROMPT and sent["return_tokens"] is True and sent["n_predict"] == 1000


async def test_llamacpp_limit_context_error_and_resume() -> None:
    async with FakeLlamaCppServer([CALL], n_ctx=len(PROMPT) + 6, faults=Faults(drop_after=3)) as server:
        backend = LlamaCppBackend(server.base_url, retry=FAST)
        chunks = await run(backend)
        assert tokens(chunks) == encode_special(CALL)[:6] and chunks[-1].finish_reason is FinishReason.LENGTH
        assert server.requests[1]["prompt"] == PROMPT + encode_special(CALL)[:3]
        with pytest.raises(ContextLengthError) as info:
            await run(backend, prompt=PROMPT * 3)
        assert info.value.max_model_len == len(PROMPT) + 6
        await backend.aclose()
    # The server's own 400 maps the same way when /props is unavailable.
    async with FakeLlamaCppServer([CALL], n_ctx=4) as server:
        blind = LlamaCppBackend(server.base_url)
        blind._window_known = True
        with pytest.raises(ContextLengthError, match="exceeds the available context size") as info:
            await run(blind)
        assert info.value.max_model_len == 4
        await blind.aclose()


@pytest.mark.parametrize("kind", ["ollama", "llamacpp"])
async def test_sequential_streams_reuse_one_connection(kind: str) -> None:
    server: FakeOllamaServer | FakeLlamaCppServer
    server = FakeOllamaServer([FINAL] * 3) if kind == "ollama" else FakeLlamaCppServer([FINAL] * 3)
    async with server:
        backend: Backend
        backend = OllamaBackend(server.base_url) if kind == "ollama" else LlamaCppBackend(server.base_url)
        results = [await run(backend) for _ in range(3)]
        await backend.aclose()
    assert all(tokens(chunks) == encode_special(FINAL) for chunks in results)
    # The body's end is read after the last event, so httpx pools the connection instead of closing it.
    assert server.completed == 3 and len(server.clients) == 1


async def test_llamacpp_cancellation_closes_the_stream() -> None:
    async with FakeLlamaCppServer([FINAL * 5], faults=Faults(token_delay=0.02)) as server:
        backend = LlamaCppBackend(server.base_url)
        stream = backend.stream(PROMPT, SamplingParams(max_tokens=1000))
        await stream.__anext__()
        await stream.aclose()  # type: ignore[attr-defined]
        await wait_for_disconnect(server)
        await backend.aclose()
    assert server.disconnects == 1 and server.completed == 0


@pytest.mark.parametrize("module", ["agentoss.testing.fake_ollama", "agentoss.testing.fake_llamacpp"])
async def test_fakes_run_as_modules(module: str) -> None:
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, "--port", "0", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().split()
        assert line[0] == "READY"
        backend: Backend = OllamaBackend(line[1]) if "ollama" in module else LlamaCppBackend(line[1])
        chunks = await run(backend)
        await backend.aclose()
        hello = "<|channel|>final<|message|>Hello from the fake server.<|return|>"
        assert tokens(chunks) == encode_special(hello)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
