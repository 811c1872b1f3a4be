"""HTTP plumbing shared by the server backends: client connection, timeouts, error mapping, stream framing.

- `ServerConnection`: one backend's endpoints, timeouts, retry policy and lazily opened httpx client;
  POSTs a request and streams its JSON events (SSE or NDJSON), or returns one JSON reply, with
  transport errors and error replies mapped; runs attempts with retries and failover.
- `fit_budget`: `max_tokens` shrunk to the context window, `ContextLengthError` when the prompt fills it.
- `Timeouts`: connect, read (whole non-streamed reply / headers) and stream-idle (the longest silence
  allowed between stream events, the wait for the first token included).
- `RetryPolicy` (from `agentoss.backends.failover`, where retries, balancing and failover live),
  re-exported here beside `Timeouts` because both configure a backend.
- `response_error`: an error reply mapped into the AgentossError tree with the server's message verbatim.
- `sse_data` / `ndjson_data`: payloads of a server-sent-events / JSON-lines buffer; `parse_event` one
  payload's JSON; `body_bytes` the body as read. Per token, one pass over the bytes and one JSON scan.

Connection reuse. A stream's last event is followed only by the end of the chunked body; reading that
end (`drain`, bounded by `DRAIN_BYTES` and `DRAIN_S`) lets httpx put the connection back in its pool
instead of closing it. `ServerConnection` does so only while at most `keepalive` requests are in
flight, and keeps at most that many idle connections: httpcore's pool (1.0.x) checks every idle
connection, with a socket poll each, whenever a request starts or ends, so a pool of hundreds of idle
connections costs far more CPU than new loopback connections do (loop_bench, 1000 concurrent
episodes: 19.4 ms client CPU per step keeping every connection, 2.7 ms closing them or with this
policy). Sequential and lightly concurrent use (and TLS endpoints, where a handshake is dear) reuses
connections; a crowd closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import httpx

from agentoss.backends.base import Chunk, SamplingParams
from agentoss.backends.failover import (
    AttemptFn,
    Endpoint,
    EndpointPool,
    RetryableError,
    RetryPolicy,
    resilient_stream,
)
from agentoss.errors import (
    BackendResponseError,
    BackendTimeoutError,
    BackendUnavailableError,
    ContextLengthError,
)

__all__ = [
    "DRAIN_BYTES",
    "DRAIN_S",
    "RetryPolicy",
    "ServerConnection",
    "Timeouts",
    "body_bytes",
    "drain",
    "error_message",
    "fit_budget",
    "map_transport_error",
    "ndjson_data",
    "parse_event",
    "response_error",
    "sse_data",
]

_CONTEXT_LIMIT = re.compile(r"maximum context length is (\d+)")

DRAIN_BYTES = 4096
"""Most bytes read after a stream's last event to reach the end of the body (normally 5: `0\\r\\n\\r\\n`)."""
DRAIN_S = 0.05
"""Longest wait for the end of the body after a stream's last event; past it the connection is closed."""

Framing = Callable[[bytes], tuple[list[bytes], bytes]]
"""How a streamed body is cut into payloads (`sse_data`, `ndjson_data`): buffered bytes -> the complete
payloads in them and the unfinished rest, kept for the next read."""

_scan_json: Callable[[str, int], tuple[Any, int]] = vars(json.JSONDecoder())["scan_once"]
"""The C scanner behind `json.loads`, called directly."""


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

    @classmethod
    def of(cls, timeout: float | Timeouts) -> Timeouts:
        """`timeout` itself, or seconds applied to read and stream-idle (connect stays within 10 s)."""
        if isinstance(timeout, Timeouts):
            return timeout
        return cls(connect=min(10.0, timeout), read=timeout, stream_idle=timeout)

    def for_stream(self) -> httpx.Timeout:
        """httpx timeouts for a streamed request: every socket read is bounded by `stream_idle`."""
        return httpx.Timeout(connect=self.connect, read=self.stream_idle, write=self.write, pool=self.connect)

    def for_request(self) -> httpx.Timeout:
        """httpx timeouts for a request answered in one body."""
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.connect)


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


def sse_data(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The `data:` payloads of the complete server-sent events in `buffer` (split on blank lines), and
    the unterminated rest. A rest left when the body ends is a cut stream: the caller sees no finish."""
    if b"\r" in buffer:
        buffer = buffer.replace(b"\r\n", b"\n")
    *events, rest = buffer.split(b"\n\n")
    payloads: list[bytes] = []
    for event in events:
        if b"\n" not in event:
            # One line per event, as vLLM and llama-server write them.
            if event.startswith(b"data:"):
                payloads.append(event[5:].strip())
            continue
        for line in event.split(b"\n"):
            if line.startswith(b"data:"):
                payloads.append(line[5:].strip())
    return payloads, rest


def ndjson_data(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The complete non-blank lines of a JSON-lines buffer, and the rest (a cut line when the body ends)."""
    *lines, rest = buffer.split(b"\n")
    return [line for line in lines if line.strip()], rest


def parse_event(data: bytes) -> Any:
    """One JSON payload (`json.loads` without its encoding sniffing and whitespace regexes);
    ValueError when it is not exactly one JSON value (a cut or garbled event)."""
    text = data.decode().strip()
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        raise ValueError("not JSON") from None
    if end != len(text):
        raise ValueError("trailing data after a JSON value")
    return value


def body_bytes(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The streamed body as it arrives: raw when not content-encoded (skips httpx's identity decoder
    and re-chunker, per read), decoded otherwise. Close it (`contextlib.aclosing`)."""
    encoding = response.headers.get("content-encoding")
    if encoding is None or encoding == "identity":
        return cast(AsyncGenerator[bytes, None], response.aiter_raw())
    return cast(AsyncGenerator[bytes, None], response.aiter_bytes())


async def drain(rest: AsyncIterator[bytes], *, max_bytes: int = DRAIN_BYTES, wait: float = DRAIN_S) -> None:
    """Read what follows a stream's last event, so that the body ends and the connection is reusable.

    Gives up (the connection is then closed, as it would have been without draining) after
    `max_bytes`, after `wait` seconds, or on a transport error: the completion is already complete.
    """
    size = 0
    with contextlib.suppress(TimeoutError, httpx.HTTPError):
        async with asyncio.timeout(wait):
            async for data in rest:
                size += len(data)
                if size > max_bytes:
                    return


def fit_budget(prompt_tokens: int, max_tokens: int, window: int | None, context: str) -> int:
    """`max_tokens` shrunk so prompt and output fit in `window`; `ContextLengthError` when nothing fits.

    `context` names the window and how to grow it, e.g. "llama-server's context (--ctx-size)".
    """
    if window is None:
        return max_tokens
    room = window - prompt_tokens
    if room < 1:
        raise ContextLengthError(
            f"the prompt has {prompt_tokens} tokens but {context} is {window} tokens, "
            "leaving no room for output",
            prompt_tokens=prompt_tokens,
            max_model_len=window,
        )
    return min(max_tokens, room)


def map_transport_error(exc: httpx.HTTPError, server: str, timeouts: Timeouts) -> Exception:
    """httpx errors -> a retryable connection failure, or a read / stream-idle timeout (not retried)."""
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
        return BackendTimeoutError(
            f"{server} timed out waiting for data (read timeout {timeouts.read:g} s, "
            f"stream-idle timeout {timeouts.stream_idle:g} s)"
        )
    return RetryableError(BackendUnavailableError(f"{server}: {type(exc).__name__}: {exc}"))


class ServerConnection:
    """One backend's endpoints, timeouts and retry policy, and the httpx client it opens on first use."""

    def __init__(
        self,
        base_url: str | Sequence[str],
        *,
        api_key: str | None = None,
        timeout: float | Timeouts = Timeouts(),
        retry: RetryPolicy = RetryPolicy(),
        max_connections: int = 100,
        keepalive: int = 16,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`keepalive`: idle connections kept, and the most requests in flight for a stream's
        connection to be kept (see the module docstring)."""
        self.pool = EndpointPool([base_url] if isinstance(base_url, str) else list(base_url))
        self.timeouts = Timeouts.of(timeout)
        self.retry = retry
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=keepalive)
        self._keepalive = keepalive
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        """The shared httpx client (a connection pool), opened on first use."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                headers=self._headers,
                limits=self._limits,
                transport=self._transport,
                timeout=self.timeouts.for_request(),
            )
        return self._client

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def stream(
        self,
        prompt: Sequence[int],
        params: SamplingParams,
        attempt: Callable[..., AsyncGenerator[Chunk, None]],
        *,
        window: int | None = None,
        context: str = "the context window",
    ) -> AsyncGenerator[Chunk, None]:
        """One completion: `max_tokens` fitted to `window` (`fit_budget`, raising at once), then
        `attempt(endpoint, prompt, max_tokens, params=params)` run by `resilient_stream` (retries,
        failover, resuming). Close the generator (`contextlib.aclosing`) to close the request.
        """
        prompt_ids = list(prompt)
        budget = fit_budget(len(prompt_ids), params.max_tokens, window, context)
        bound: AttemptFn = functools.partial(attempt, params=params)
        return resilient_stream(self.pool, self.retry, prompt_ids, budget, bound)

    async def probe(self, path: str, body: Any = None) -> dict[str, Any]:
        """GET `path` (POST `body` if given) on the first endpoint: its JSON object, or {} on any failure."""
        url = self.pool.endpoints[0].url + path
        try:
            client = self.client()
            response = await (client.get(url) if body is None else client.post(url, json=body))
            reply = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return {}
        return reply if isinstance(reply, dict) else {}

    async def post_json(
        self, endpoint: Endpoint, path: str, body: Any, server: str, prompt_tokens: int
    ) -> Any:
        """POST `body` and return the JSON reply; errors mapped as for a stream."""
        try:
            response = await self.client().post(endpoint.url + path, json=body)
            if response.status_code != 200:
                raise await response_error(response, server, prompt_tokens)
            return response.json()
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, server, self.timeouts) from exc
        except ValueError as exc:
            raise BackendResponseError(f"{server} returned invalid JSON") from exc

    def _reuse(self) -> bool:
        """Whether a finished stream's connection should be kept (few requests in flight)."""
        return sum(e.outstanding for e in self.pool.endpoints) <= self._keepalive

    async def events(
        self,
        endpoint: Endpoint,
        path: str,
        body: Any,
        server: str,
        prompt_tokens: int,
        *,
        framing: Framing = sse_data,
        last: Callable[[dict[str, Any]], bool] | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """POST `body` and stream the JSON events of the reply, with errors mapped.

        The stream ends at a `[DONE]` payload (not yielded) or after an event for which `last` is true;
        either way the end of the body is read first (`drain`) when the connection is worth keeping
        (see the module docstring). A body that ends before that is left to the caller to judge (a cut
        stream when no finish was seen). Close it (`contextlib.aclosing`) when stopping early.
        """
        try:
            request = self.client().stream(
                "POST", endpoint.url + path, json=body, timeout=self.timeouts.for_stream()
            )
            async with request as response:
                if response.status_code != 200:
                    raise await response_error(response, server, prompt_tokens)
                buffer = b""
                async with contextlib.aclosing(body_bytes(response)) as blocks:
                    async for block in blocks:
                        payloads, buffer = framing(buffer + block if buffer else block)
                        for data in payloads:
                            if data == b"[DONE]":
                                if self._reuse():
                                    await drain(blocks)
                                return
                            try:
                                event = parse_event(data)
                            except ValueError:
                                raise RetryableError(
                                    BackendUnavailableError(f"{server} sent a cut event")
                                ) from None
                            if last is not None and last(event):
                                if self._reuse():
                                    await drain(blocks)
                                yield event
                                return
                            yield event
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, server, self.timeouts) from exc
