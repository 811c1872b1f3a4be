"""Retries and failover across a backend's endpoints: what to retry, when, where, and resuming a cut stream.

- `RetryPolicy`: bounded retries with exponential backoff and full jitter, on connection errors, 429
  and 5xx only (never on other 4xx), honouring `Retry-After`.
- `RetryableError`: what an attempt raises when the failure is worth another try.
- `EndpointPool`: several base URLs serving the same model; requests go to the endpoint with the fewest
  outstanding requests, and an endpoint that failed is avoided for a cool-down.
- `resilient_stream`: one completion over attempts, resuming a cut stream from the tokens received.

No I/O of its own: the HTTP side is `agentoss.backends.http`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agentoss.backends.base import Chunk, FinishReason, Usage

__all__ = [
    "AttemptFn",
    "Endpoint",
    "EndpointPool",
    "RetryPolicy",
    "RetryableError",
    "normalize_base_url",
    "resilient_stream",
    "sleep_before_retry",
]


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
