"""VLLMBackend against the fake vLLM server over loopback: profiles, faults, retries, failover, cancel."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from backend_fixtures import wait_for_disconnect

from agentoss.backends.base import Chunk, FinishReason, SamplingParams
from agentoss.backends.http import RetryPolicy, Timeouts
from agentoss.backends.vllm import VLLMBackend
from agentoss.errors import (
    BackendResponseError,
    BackendTimeoutError,
    BackendUnavailableError,
    ContextLengthError,
)
from agentoss.harmony.encoding import encode_special
from agentoss.testing import FakeVLLMServer, Faults

REPLY = (
    "<|channel|>analysis<|message|>think about 日本語 and é<|end|><|start|>assistant<|channel|>commentary "
    'to=functions.get_weather <|constrain|>json<|message|>{"location":"Tokyo"}<|call|>'
)
LONG = "<|channel|>final<|message|>" + " ".join(f"w{i}" for i in range(60)) + "<|return|>"
PROMPT = encode_special("<|start|>user<|message|>hello<|end|><|start|>assistant")
FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02)


async def run(backend: VLLMBackend, max_tokens: int = 1000, prompt: list[int] = PROMPT) -> list[Chunk]:
    return [chunk async for chunk in backend.stream(prompt, SamplingParams(max_tokens=max_tokens))]


def tokens(chunks: list[Chunk]) -> list[int]:
    return [t for chunk in chunks for t in chunk.token_ids]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("profile", ["0.10.1", "0.10.2", "0.33"])
@pytest.mark.parametrize("streaming", [True, False])
async def test_exact_token_ids_in_every_profile(profile: str, streaming: bool) -> None:
    async with FakeVLLMServer([REPLY], profile=profile) as server:
        backend = VLLMBackend(server.base_url + "/v1/", streaming=streaming)
        chunks = await run(backend)
        await backend.aclose()
    assert tokens(chunks) == encode_special(REPLY)
    last = chunks[-1]
    assert last.finish_reason is FinishReason.STOP and last.stop_token == 200012
    assert last.usage is not None and last.usage.prompt_tokens == len(PROMPT)
    assert last.usage.completion_tokens == len(encode_special(REPLY))
    sent = server.requests[0]
    assert sent["prompt"] == PROMPT and sent["skip_special_tokens"] is False
    assert sent["stop_token_ids"] == [200002, 200012] and sent["model"] == "openai/gpt-oss-20b"
    if streaming:
        assert len(chunks) > 2


@pytest.mark.parametrize(("profile", "asks_ids"), [("0.10.1", False), ("0.10.2", True), ("0.33", True)])
async def test_mode_comes_from_the_version_endpoint(profile: str, asks_ids: bool) -> None:
    async with FakeVLLMServer([REPLY], profile=profile) as server:
        backend = VLLMBackend(server.base_url)
        await run(backend)
        await backend.aclose()
    (sent,) = server.requests
    assert ("return_token_ids" in sent) is asks_ids and ("logprobs" in sent) is not asks_ids


class NoVersion(FakeVLLMServer):
    async def _version(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response({"detail": "Not Found"}, status=404)


class LyingVersion(FakeVLLMServer):
    async def _version(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response({"version": "0.10.2"})


async def test_without_version_the_first_request_probes_both_ways() -> None:
    async with NoVersion([REPLY], profile="0.10.1") as server:
        backend = VLLMBackend(server.base_url)
        first, second = await run(backend), await run(backend)
        await backend.aclose()
    assert tokens(first) == tokens(second) == encode_special(REPLY)
    probe, after = server.requests
    assert probe["return_token_ids"] is True and probe["return_tokens_as_token_ids"] is True
    assert "return_token_ids" not in after and after["logprobs"] == 0


async def test_a_server_ignoring_return_token_ids_is_downgraded_mid_stream() -> None:
    async with LyingVersion([REPLY], profile="0.10.1") as server:
        backend = VLLMBackend(server.base_url)
        first, second = await run(backend), await run(backend)
        await backend.aclose()
    # First reply: no ids and no logprobs asked, so the special-token text is re-encoded exactly.
    assert tokens(first) == tokens(second) == encode_special(REPLY)
    assert "logprobs" not in server.requests[0] and server.requests[1]["return_tokens_as_token_ids"] is True


@pytest.mark.parametrize(("reply", "stop"), [(REPLY, 200012), (LONG, 200002)])
async def test_text_fallback_reencodes_special_text_exactly(reply: str, stop: int) -> None:
    async with FakeVLLMServer([reply], profile="0.10.1", chunk_tokens=(2, 5)) as server:
        backend = VLLMBackend(server.base_url, token_source="text")
        chunks = await run(backend)
        await backend.aclose()
    assert "logprobs" not in server.requests[0]
    assert tokens(chunks) == encode_special(reply) and chunks[-1].stop_token == stop


async def test_max_tokens_sized_to_context_and_overflow_raises_before_any_request() -> None:
    async with FakeVLLMServer([LONG], max_model_len=len(PROMPT) + 10) as server:
        backend = VLLMBackend(server.base_url)
        chunks = await run(backend, max_tokens=1000)
        assert server.requests[0]["max_tokens"] == 10
        assert chunks[-1].finish_reason is FinishReason.LENGTH and chunks[-1].stop_token is None
        assert len(tokens(chunks)) == 10
        assert await backend.context_window() == len(PROMPT) + 10
        with pytest.raises(ContextLengthError) as info:
            await run(backend, prompt=PROMPT * 3)
        await backend.aclose()
    assert info.value.prompt_tokens == len(PROMPT) * 3 and info.value.max_model_len == len(PROMPT) + 10
    assert len(server.requests) == 1


async def test_server_context_400_maps_to_context_length_error() -> None:
    async with FakeVLLMServer([LONG], faults=Faults(context_length=True)) as server:
        backend = VLLMBackend(server.base_url, retry=FAST)
        with pytest.raises(ContextLengthError, match="maximum context length is 131072"):
            await run(backend)
        await backend.aclose()
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_5xx_and_429_are_retried(status: int) -> None:
    faults = Faults(status=status, status_count=2, retry_after=0.01 if status == 429 else None)
    async with FakeVLLMServer([REPLY], faults=faults) as server:
        backend = VLLMBackend(server.base_url, retry=FAST)
        chunks = await run(backend)
        await backend.aclose()
    assert tokens(chunks) == encode_special(REPLY)
    assert len(server.requests) == 3


async def test_retries_are_bounded_and_the_message_is_verbatim() -> None:
    async with FakeVLLMServer([REPLY], faults=Faults(status=500, status_count=-1)) as server:
        backend = VLLMBackend(server.base_url, retry=FAST)
        with pytest.raises(BackendResponseError, match="injected fault: HTTP 500") as info:
            await run(backend)
        await backend.aclose()
    assert info.value.status == 500 and len(server.requests) == 3


async def test_4xx_is_not_retried_and_api_key_is_sent() -> None:
    async with FakeVLLMServer([REPLY], api_key="k1") as server:
        wrong = VLLMBackend(server.base_url, api_key="nope", retry=FAST, max_model_len=1000)
        with pytest.raises(BackendResponseError, match="HTTP 401: Unauthorized") as info:
            await run(wrong)
        assert info.value.status == 401
        right = VLLMBackend(server.base_url, api_key="k1")
        assert tokens(await run(right)) == encode_special(REPLY)
        await wrong.aclose()
        await right.aclose()
    assert len(server.requests) == 1


@pytest.mark.parametrize("profile", ["0.10.1", "0.10.2"])
async def test_dropped_stream_resumes_from_received_tokens(profile: str) -> None:
    faults = Faults(drop_after=6)
    async with FakeVLLMServer([REPLY, REPLY], profile=profile, faults=faults, chunk_tokens=2) as server:
        backend = VLLMBackend(server.base_url, retry=FAST)
        chunks = await run(backend, max_tokens=500)
        await backend.aclose()
    want = encode_special(REPLY)
    assert tokens(chunks) == want
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == len(PROMPT)
    second = server.requests[1]
    assert second["prompt"] == PROMPT + want[:6]
    assert second["max_tokens"] == 500 - 6


async def test_error_event_mid_stream_surfaces_as_error_chunk() -> None:
    async with FakeVLLMServer([REPLY], faults=Faults(error_after=3), chunk_tokens=1) as server:
        backend = VLLMBackend(server.base_url, retry=FAST)
        chunks = await run(backend)
        await backend.aclose()
    assert chunks[-1].finish_reason is FinishReason.ERROR
    assert chunks[-1].error == "injected fault: engine error"
    assert len(tokens(chunks)) == 3 and len(server.requests) == 1


async def test_stream_idle_timeout() -> None:
    async with FakeVLLMServer([REPLY], faults=Faults(stall_after=2, stall_s=5)) as server:
        backend = VLLMBackend(server.base_url, timeout=Timeouts(stream_idle=0.2), retry=FAST)
        with pytest.raises(BackendTimeoutError, match="stream-idle"):
            await run(backend)
        await backend.aclose()
    assert len(server.requests) == 1


async def test_cancellation_closes_the_stream() -> None:
    async with FakeVLLMServer([LONG], faults=Faults(token_delay=0.02), chunk_tokens=1) as server:
        backend = VLLMBackend(server.base_url)
        got: list[int] = []
        first = asyncio.Event()

        async def consume() -> None:
            async for chunk in backend.stream(PROMPT, SamplingParams(max_tokens=1000)):
                got.extend(chunk.token_ids)
                first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_for_disconnect(server)
        await backend.aclose()
    assert server.disconnects == 1 and server.completed == 0 and server.active == 0
    assert 0 < len(got) < len(encode_special(LONG))


async def test_closing_the_iterator_early_closes_the_stream() -> None:
    async with FakeVLLMServer([LONG], faults=Faults(token_delay=0.02), chunk_tokens=1) as server:
        backend = VLLMBackend(server.base_url)
        stream = backend.stream(PROMPT, SamplingParams(max_tokens=1000))
        await stream.__anext__()
        await stream.aclose()  # type: ignore[attr-defined]
        await wait_for_disconnect(server)
        await backend.aclose()
    assert server.disconnects == 1 and server.completed == 0


@pytest.mark.parametrize("streaming", [True, False])
async def test_sequential_streams_reuse_one_connection(streaming: bool) -> None:
    async with FakeVLLMServer([REPLY] * 3) as server:
        backend = VLLMBackend(server.base_url, streaming=streaming)
        results = [await run(backend) for _ in range(3)]
        await backend.aclose()
    assert all(tokens(chunks) == encode_special(REPLY) for chunks in results)
    assert server.completed == 3
    if streaming:
        # The body's end is read after [DONE], so httpx pools the connection instead of closing it.
        assert len(server.clients) == 1


async def test_a_body_left_open_after_done_does_not_hold_the_completion() -> None:
    from aiohttp import web

    release = asyncio.Event()

    async def completions(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        choice = {"index": 0, "text": "", "token_ids": [200002], "finish_reason": "stop", "stop_reason": None}
        await resp.write(b"data: " + json.dumps({"choices": [choice]}).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await release.wait()  # a proxy that never ends the body
        return resp

    app = web.Application()
    app.router.add_post("/v1/completions", completions)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    backend = VLLMBackend(
        f"http://127.0.0.1:{port}",
        timeout=Timeouts(stream_idle=60.0),
        max_model_len=1000,
        token_source="token_ids",
    )
    try:
        chunks = await asyncio.wait_for(run(backend), 20)
    finally:
        release.set()
        await backend.aclose()
        await runner.cleanup()
    assert tokens(chunks) == [200002] and chunks[-1].finish_reason is FinishReason.STOP


@pytest.mark.parametrize("gzip", [False, True])
async def test_sse_framing_survives_crlf_comments_and_arbitrary_read_boundaries(gzip: bool) -> None:
    import zlib

    from aiohttp import web

    sampled = encode_special("<|channel|>final<|message|>Hi there<|return|>")
    events = [
        b": a comment line\r\nevent: completion\r\n",  # an event with no data at all
        *(
            b"id: %d\r\ndata: " % i
            + json.dumps(
                {"choices": [{"index": 0, "text": "", "token_ids": [t], "finish_reason": None}]}
            ).encode()
            + b"\r\n"
            for i, t in enumerate(sampled[:-1])
        ),
        b"data: "
        + json.dumps(
            {"choices": [{"index": 0, "text": "", "token_ids": sampled[-1:], "finish_reason": "stop"}]}
        ).encode()
        + b"\r\n",
        b"data: [DONE]\r\n",
    ]
    body = b"\r\n".join(events) + b"\r\n"

    async def completions(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "text/event-stream"}
        packer = zlib.compressobj(wbits=31) if gzip else None
        if packer is not None:
            headers["Content-Encoding"] = "gzip"
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        for start in range(0, len(body), 7):  # cuts through CRLFs, "data:" and JSON alike
            piece = body[start : start + 7]
            if packer is not None:
                piece = packer.compress(piece) + packer.flush(zlib.Z_SYNC_FLUSH)
            await resp.write(piece)
            await asyncio.sleep(0)
        if packer is not None:
            await resp.write(packer.flush())
        return resp

    app = web.Application()
    app.router.add_post("/v1/completions", completions)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    backend = VLLMBackend(f"http://127.0.0.1:{port}", max_model_len=1000, token_source="token_ids")
    try:
        chunks = await asyncio.wait_for(run(backend), 20)
    finally:
        await backend.aclose()
        await runner.cleanup()
    assert tokens(chunks) == sampled and chunks[-1].finish_reason is FinishReason.STOP


async def test_failover_when_one_endpoint_is_down() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with FakeVLLMServer([REPLY] * 8) as server:
        backend = VLLMBackend([dead, server.base_url], retry=FAST)
        results = [await run(backend) for _ in range(4)]
        await backend.aclose()
    assert all(tokens(chunks) == encode_special(REPLY) for chunks in results)
    assert len(server.requests) == 4


async def test_all_endpoints_down_is_backend_unavailable() -> None:
    backend = VLLMBackend([f"http://127.0.0.1:{free_port()}"], retry=FAST, max_model_len=1000)
    with pytest.raises(BackendUnavailableError, match="ConnectError"):
        await run(backend)
    await backend.aclose()


async def test_least_outstanding_requests_spreads_concurrent_streams() -> None:
    slow = Faults(token_delay=0.01)
    async with (
        FakeVLLMServer([LONG] * 40, faults=slow) as one,
        FakeVLLMServer([LONG] * 40, faults=Faults(token_delay=0.01)) as two,
    ):
        backend = VLLMBackend([one.base_url, two.base_url])
        results = await asyncio.gather(*(run(backend, max_tokens=20) for _ in range(12)))
        await backend.aclose()
    assert all(len(tokens(chunks)) == 20 for chunks in results)
    assert len(one.requests) == 6 and len(two.requests) == 6
