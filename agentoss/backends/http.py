"""HTTP plumbing shared by the server backends: timeouts, retry policy, endpoint balancing, error mapping.

- `Timeouts`: connect, read (whole non-streamed reply / headers) and stream-idle (the longest silence
  allowed between stream events, the wait for the first token included).
- `RetryPolicy`: bounded retries with exponential backoff and full jitter, on connection errors, 429
  and 5xx only (never on other 4xx), honouring `Retry-After`.
- `EndpointPool`: several base URLs serving the same model; requests go to the endpoint with the fewest
  outstanding requests, and an endpoint that failed is avoided for a cool-down (failover).
- `response_error`: an error reply mapped into the AgentossError tree with the server's message verbatim.
- `sse_data`: `data:` payloads of a server-sent-events byte stream, parsed with minimal overhead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from agentoss.backends.base import Chunk, FinishReason, Usage
from agentoss.errors import (
    BackendResponseError,
    BackendTimeoutError,
    BackendUnavailableError,
    ContextLengthError,
)

__all__ = [
    "AttemptFn",
    "Endpoint",
    "EndpointPool",
    "RetryPolicy",
    "RetryableError",
    "Timeouts",
    "error_message",
    "map_transport_error",
    "normalize_base_url",
    "resilient_stream",
    "response_error",
    "sse_data",
]

_CONTEXT_LIMIT = re.compile(r"maximum context length is (\d+)")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Network timeouts in seconds."""

    connect: float = 10.0
    """Establishing a TCP connection."""
    read: float = 120.0
    """Waiting for a non-streamed reply (model info, a whole completion)."""
    stream_idle: float = 300.0
    """Longest silence between stream events, including the wait for the first token (prefill)."""
    write: float = 30.0
    """Sending the request body."""

    def for_stream(self) -> httpx.Timeout:
        """httpx timeouts for a streamed request: every socket read is bounded by `stream_idle`."""
        return httpx.Timeout(connect=self.connect, read=self.stream_idle, write=self.write, pool=self.connect)

    def for_request(self) -> httpx.Timeout:
        """httpx timeouts for a request answered in one body."""
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.connect)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter."""

    attempts: int = 4
    """Tries in total (1 disables retries)."""
    backoff: float = 0.5
    """Upper bound of the first delay, doubled after each failure."""
    max_backoff: float = 8.0
    """Cap on one delay."""
    max_retry_after: float = 30.0
    """Cap on a server's `Retry-After`."""

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after `failures` consecutive failures (full jitter)."""
        bound = min(self.max_backoff, self.backoff * (2 ** max(failures - 1, 0)))
        wait = random.uniform(0, bound)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


class RetryableError(Exception):
    """A failure worth retrying (connection error, 429, 5xx, dropped stream); carries the final error."""

    def __init__(self, error: Exception, *, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass(eq=False)
class Endpoint:
    """One server base URL and its live load."""

    url: str
    outstanding: int = 0
    """Requests in flight now."""
    failures: int = 0
    """Consecutive failures; reset by a success."""
    down_until: float = 0.0
    """Monotonic time before which this endpoint is avoided."""
    state: dict[str, Any] = field(default_factory=dict)
    """Per-endpoint facts a backend learns (e.g. whether it returns token ids)."""


class EndpointPool:
    """Least-outstanding-requests balancing over endpoints, with cool-down after failures."""

    def __init__(self, urls: Sequence[str], *, cooldown: float = 2.0, max_cooldown: float = 30.0) -> None:
        if not urls:
            raise ValueError("at least one base URL is needed")
        self.endpoints = [Endpoint(normalize_base_url(url)) for url in urls]
        self._cooldown = cooldown
        self._max_cooldown = max_cooldown
        self._turn = 0

    def pick(self, avoid: Endpoint | None = None) -> Endpoint:
        """The healthy endpoint with the fewest outstanding requests (ties rotate); `avoid` if possible."""
        now = time.monotonic()
        candidates = [e for e in self.endpoints if e.down_until <= now and e is not avoid]
        if not candidates:
            candidates = [e for e in self.endpoints if e is not avoid] or self.endpoints
            soonest = min(e.down_until for e in candidates)
            candidates = [e for e in candidates if e.down_until == soonest]
        self._turn += 1
        count = len(candidates)
        best = candidates[self._turn % count]
        for i in range(count):
            endpoint = candidates[(self._turn + i) % count]
            if endpoint.outstanding < best.outstanding:
                best = endpoint
        return best

    def has_healthy(self, avoid: Endpoint | None = None) -> bool:
        """Whether an endpoint other than `avoid` is not cooling down."""
        now = time.monotonic()
        return any(e.down_until <= now and e is not avoid for e in self.endpoints)

    def failed(self, endpoint: Endpoint) -> None:
        """Record a failure: the endpoint cools down, longer after each consecutive failure."""
        endpoint.failures += 1
        if len(self.endpoints) > 1:
            wait = min(self._max_cooldown, self._cooldown * (2 ** (endpoint.failures - 1)))
            endpoint.down_until = time.monotonic() + wait

    @staticmethod
    def succeeded(endpoint: Endpoint) -> None:
        """Record a success: the endpoint is healthy again."""
        endpoint.failures = 0
        endpoint.down_until = 0.0


def normalize_base_url(url: str) -> str:
    """`http://host:port` from forms like `http://host:port/v1/` (users often paste the /v1 URL)."""
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3]
    if "://" not in url:
        url = "http://" + url
    return url


def error_message(body: Any, text: str) -> str:
    """The server's own error message from any of the shapes servers use."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return text.strip() or "(empty body)"


async def response_error(
    response: httpx.Response, server: str, prompt_tokens: int
) -> BackendResponseError | ContextLengthError | RetryableError:
    """Map an error reply: retryable for 429 / 5xx, ContextLengthError for context overflow."""
    raw = await response.aread()
    text = raw.decode("utf-8", "replace")
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = None
    message = error_message(body, text)
    status = response.status_code
    described = f"{server} answered HTTP {status}: {message}"
    if status == 429 or status >= 500:
        retry_after: float | None = None
        header = response.headers.get("retry-after")
        if header:
            try:
                retry_after = float(header)
            except ValueError:
                retry_after = None
        return RetryableError(
            BackendResponseError(described, status=status, body=body), retry_after=retry_after
        )
    limit = _CONTEXT_LIMIT.search(message)
    if status == 400 and limit:
        return ContextLengthError(described, prompt_tokens=prompt_tokens, max_model_len=int(limit.group(1)))
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("type") == "exceed_context_size_error":
        # llama.cpp's llama-server: the error carries n_ctx.
        window = error.get("n_ctx")
        window = int(window) if isinstance(window, int) else 0
        return ContextLengthError(described, prompt_tokens=prompt_tokens, max_model_len=window)
    return BackendResponseError(described, status=status, body=body)


async def sse_data(response: httpx.Response) -> AsyncIterator[bytes]:
    """The `data:` payload of each server-sent event, as bytes (events split on blank lines)."""
    buffer = b""
    async for block in response.aiter_bytes():
        buffer = buffer + block if buffer else block
        if b"\n\n" not in buffer and b"\r\n\r\n" not in buffer:
            continue
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        *events, buffer = buffer.split(b"\n\n")
        for event in events:
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    yield line[5:].strip()
    # An unterminated event left in the buffer is a cut stream: the caller sees no finish and retries.


async def sleep_before_retry(policy: RetryPolicy, failures: int, retry_after: float | None) -> None:
    """Wait the jittered backoff for this failure count."""
    await asyncio.sleep(policy.delay(failures, retry_after))


AttemptFn = Callable[[Endpoint, list[int], int], AsyncGenerator[Chunk, None]]
"""One request: (endpoint, prompt ids, max tokens) -> chunks; raises `RetryableError` when worth retrying."""


async def resilient_stream(
    pool: EndpointPool, policy: RetryPolicy, prompt: list[int], budget: int, attempt: AttemptFn
) -> AsyncGenerator[Chunk, None]:
    """Run `attempt` with retries and failover; a stream cut mid-way resumes from the received tokens.

    Resuming sends prompt + received ids as the new prompt with the remaining budget, so the caller
    sees one uninterrupted completion. Usage on the last chunk counts the original prompt and every
    token yielded.
    """
    received = 0
    sampled: list[int] = []
    failures = 0
    avoid: Endpoint | None = None
    while True:
        endpoint = pool.pick(avoid)
        endpoint.outstanding += 1
        request_prompt = prompt + sampled if sampled else prompt
        chunks = attempt(endpoint, request_prompt, budget - received)
        try:
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    received += len(chunk.token_ids)
                    if chunk.finish_reason is None:
                        sampled.extend(chunk.token_ids)
                        yield chunk
                        continue
                    pool.succeeded(endpoint)
                    cached = chunk.usage.cached_prompt_tokens if chunk.usage else None
                    yield replace(chunk, usage=Usage(len(prompt), received, cached))
                    return
        except RetryableError as exc:
            failures += 1
            pool.failed(endpoint)
            if failures >= policy.attempts:
                raise exc.error from exc
            if received >= budget:
                yield Chunk((), finish_reason=FinishReason.LENGTH, usage=Usage(len(prompt), received))
                return
            avoid = endpoint
            if not pool.has_healthy(avoid) or exc.retry_after is not None:
                await sleep_before_retry(policy, failures, exc.retry_after)
        finally:
            endpoint.outstanding -= 1


def map_transport_error(exc: httpx.HTTPError, server: str, timeouts: Timeouts) -> Exception:
    """httpx errors -> a retryable connection failure, or a read / stream-idle timeout (not retried)."""
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
        return BackendTimeoutError(
            f"{server} timed out waiting for data (read timeout {timeouts.read:g} s, "
            f"stream-idle timeout {timeouts.stream_idle:g} s)"
        )
    return RetryableError(BackendUnavailableError(f"{server}: {type(exc).__name__}: {exc}"))
