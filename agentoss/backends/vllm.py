"""`VLLMBackend`: token-id prompts to vLLM's `/v1/completions`, sampled token ids streamed back.

Token ids are the source of truth. Each endpoint's first request asks for them two ways
(`return_token_ids`, vLLM >= 0.10.2, and `logprobs` with `return_tokens_as_token_ids`); the backend
keeps whichever the server honoured, and as a last resort re-encodes the special-token text
(`skip_special_tokens: false`), cut after control tokens so the re-encoding is exact at the seams.

Before any request it reads `max_model_len` from `/v1/models`, shrinks `max_tokens` so prompt and
output fit, and raises `ContextLengthError` when the prompt itself cannot fit. Connection errors,
429 and 5xx are retried (backoff with jitter, failover to another endpoint); a stream cut mid-way
resumes from the tokens already received (prompt + received as the new prompt). Other 4xx surface
at once with the server's message verbatim.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any, Literal

import httpx

from agentoss.backends.base import RETURN_TOKEN, Chunk, FinishReason, SamplingParams, Usage
from agentoss.backends.failover import Endpoint, RetryableError, RetryPolicy, sleep_before_retry
from agentoss.backends.http import (
    ServerConnection,
    Timeouts,
    map_transport_error,
    response_error,
)
from agentoss.backends.retokenize import TextRetokenizer
from agentoss.errors import BackendResponseError, BackendUnavailableError, ContextLengthError

__all__ = ["TokenSource", "VLLMBackend"]

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")

TokenSource = Literal["auto", "token_ids", "logprobs", "text"]

_FINISH = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "repetition": FinishReason.LENGTH,
    "abort": FinishReason.ABORT,
    "error": FinishReason.ERROR,
}


class _StreamState:
    """What one attempt learned while reading: finish, stop reason, server usage, text buffer."""

    __slots__ = ("asked_logprobs", "finish", "last", "mode", "stop_reason", "text", "usage")

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.asked_logprobs = mode in ("auto", "logprobs")
        self.finish: str | None = None
        self.stop_reason: Any = None
        self.usage: dict[str, Any] | None = None
        self.text = TextRetokenizer()
        self.last: int | None = None


class VLLMBackend:
    """vLLM over HTTP, token in and token out; implements `agentoss.backends.base.Backend`."""

    def __init__(
        self,
        base_url: str | Sequence[str],
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | Timeouts = Timeouts(),
        retry: RetryPolicy = RetryPolicy(),
        max_model_len: int | None = None,
        token_source: TokenSource = "auto",
        streaming: bool = True,
        max_connections: int = 1024,
        keepalive: int = 16,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`base_url`: one URL or several replicas of the same model (balanced, with failover).

        `timeout` in seconds applies to read and stream-idle (connect stays bounded by 10 s).
        `max_model_len` overrides the value read from `/v1/models`. `token_source` forces how sampled
        ids are read back (default: detected per endpoint). `streaming=False` asks for one whole reply.
        `keepalive`: idle connections kept for reuse; streams keep theirs only while at most this many
        requests are in flight (`agentoss.backends.http` says why).
        """
        self._server = ServerConnection(
            base_url,
            api_key=api_key,
            timeout=timeout,
            retry=retry,
            max_connections=max_connections,
            keepalive=keepalive,
            transport=transport,
        )
        self._pool = self._server.pool
        self._model = model
        self._max_model_len = max_model_len
        self._info_known = False
        self._info_lock: asyncio.Lock | None = None
        self._token_source = token_source
        self._streaming = streaming

    # -- public ------------------------------------------------------------------------------------

    @property
    def base_urls(self) -> list[str]:
        """The endpoints in use, normalised (`/v1` suffix removed)."""
        return [e.url for e in self._pool.endpoints]

    async def context_window(self) -> int | None:
        """`max_model_len` of the served model (from `/v1/models`), or None when the server hides it."""
        await self._ensure_info()
        return self._max_model_len

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._server.aclose()

    async def stream(self, prompt: Sequence[int], params: SamplingParams) -> AsyncIterator[Chunk]:
        """Stream sampled token ids; retries and resumes as described in the module docstring."""
        await self._ensure_info()
        context = f"the context window of {self._model or 'the model'} (max_model_len)"
        chunks = self._server.stream(
            prompt, params, self._attempt, window=self._max_model_len, context=context
        )
        try:
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    yield chunk
        except ContextLengthError as exc:
            # The server's own limit (from its 400) sizes the next requests.
            self._max_model_len = exc.max_model_len
            raise

    # -- model info --------------------------------------------------------------------------------

    async def _ensure_info(self) -> None:
        if self._info_known:
            return
        if self._info_lock is None:
            self._info_lock = asyncio.Lock()
        async with self._info_lock:
            if not self._info_known:
                await self._read_info()

    async def _read_info(self) -> None:
        body = await self._get_json("/v1/models")
        data = body.get("data") if isinstance(body, dict) else None
        entries = [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []
        entry = next((d for d in entries if d.get("id") == self._model), entries[0] if entries else None)
        if entry is not None:
            if self._model is None:
                self._model = str(entry.get("id"))
            if self._max_model_len is None and isinstance(entry.get("max_model_len"), int):
                self._max_model_len = int(entry["max_model_len"])
        if self._token_source == "auto":
            await asyncio.gather(*(self._read_version(e) for e in self._pool.endpoints))
        self._info_known = True

    async def _read_version(self, endpoint: Endpoint) -> None:
        """Pick the token-id mode from `/version` (>= 0.10.2 returns token ids); unknown: probe."""
        try:
            response = await self._server.client().get(endpoint.url + "/version")
            version = _VERSION.match(str(response.json().get("version", "")))
        except (httpx.HTTPError, ValueError, AttributeError):
            return
        if response.status_code == 200 and version:
            numbers = tuple(int(part or 0) for part in version.groups())
            endpoint.state.setdefault("mode", "token_ids" if numbers >= (0, 10, 2) else "logprobs")

    async def _get_json(self, path: str) -> Any:
        """GET with retries and failover; a 404 (not a vLLM server) yields None."""
        failures = 0
        avoid: Endpoint | None = None
        retry = self._server.retry
        while True:
            endpoint = self._pool.pick(avoid)
            try:
                response = await self._server.client().get(endpoint.url + path)
                if response.status_code == 404:
                    return None
                if response.status_code != 200:
                    raise await response_error(response, f"vLLM at {endpoint.url}", 0)
                return response.json()
            except httpx.HTTPError as exc:
                mapped = map_transport_error(exc, f"vLLM at {endpoint.url}", self._server.timeouts)
                if not isinstance(mapped, RetryableError):
                    raise mapped from exc
                error: RetryableError = mapped
            except RetryableError as exc:
                error = exc
            except ValueError as exc:
                raise BackendResponseError(f"vLLM at {endpoint.url}{path} returned invalid JSON") from exc
            failures += 1
            self._pool.failed(endpoint)
            if failures >= retry.attempts:
                raise error.error from error
            avoid = endpoint
            if not self._pool.has_healthy(avoid):
                await sleep_before_retry(retry, failures, error.retry_after)

    # -- one request -------------------------------------------------------------------------------

    def _body(self, prompt: list[int], max_tokens: int, params: SamplingParams, mode: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stop_token_ids": list(params.stop_token_ids),
            "skip_special_tokens": False,
            "spaces_between_special_tokens": False,
            "stream": self._streaming,
        }
        if self._streaming:
            body["stream_options"] = {"include_usage": True}
        if self._model is not None:
            body["model"] = self._model
        if params.seed is not None:
            body["seed"] = params.seed
        if mode in ("auto", "token_ids"):
            body["return_token_ids"] = True
        if mode in ("auto", "logprobs"):
            body["logprobs"] = 0
            body["return_tokens_as_token_ids"] = True
        return body

    async def _attempt(
        self, endpoint: Endpoint, prompt: list[int], max_tokens: int, *, params: SamplingParams
    ) -> AsyncGenerator[Chunk, None]:
        state = _StreamState(endpoint.state.get("mode", self._token_source))
        body = self._body(prompt, max_tokens, params, state.mode)
        server = f"vLLM at {endpoint.url}"
        if not self._streaming:
            reply = await self._server.post_json(endpoint, "/v1/completions", body, server, len(prompt))
            yield self._whole(endpoint, state, reply)
            return
        held: list[int] = []
        events = self._server.events(endpoint, "/v1/completions", body, server, len(prompt))
        async with contextlib.aclosing(events):
            async for event in events:
                choices = event.get("choices")
                if not choices:
                    if "error" in event:
                        yield self._error_chunk(held, state, event)
                        return
                    if event.get("usage"):
                        state.usage = event["usage"]
                    continue
                choice = choices[0]
                # The common case (a server known to return ids) skips the fallback logic of `_ids`.
                ids = choice.get("token_ids") if state.mode == "token_ids" else None
                if not isinstance(ids, list):
                    ids = self._ids(endpoint, state, choice)
                finish = choice.get("finish_reason")
                if finish is None:
                    if ids:
                        state.last = ids[-1]
                        yield Chunk(tuple(ids))
                else:
                    state.finish = finish
                    state.stop_reason = choice.get("stop_reason")
                    held.extend(ids)
                    if event.get("usage"):
                        state.usage = event["usage"]
        if state.finish is None:
            raise RetryableError(BackendUnavailableError(f"{server} closed the stream early"))
        yield self._final(held, state)

    def _whole(self, endpoint: Endpoint, state: _StreamState, reply: dict[str, Any]) -> Chunk:
        choice = (reply.get("choices") or [{}])[0]
        ids = self._ids(endpoint, state, choice)
        state.finish = choice.get("finish_reason") or "stop"
        state.stop_reason = choice.get("stop_reason")
        state.usage = reply.get("usage")
        return self._final(ids, state)

    @staticmethod
    def _learn(endpoint: Endpoint, state: _StreamState, mode: str) -> None:
        state.mode = mode
        endpoint.state["mode"] = mode

    def _ids(self, endpoint: Endpoint, state: _StreamState, choice: dict[str, Any]) -> list[int]:
        """Sampled ids of one choice; downgrades the endpoint's mode when the server ignored a field."""
        if state.mode in ("auto", "token_ids"):
            ids = choice.get("token_ids")
            if isinstance(ids, list):
                if state.mode == "auto":
                    self._learn(endpoint, state, "token_ids")
                return ids
            if not state.asked_logprobs:
                # This reply has neither ids nor logprobs: re-encode its text, try logprobs next time.
                endpoint.state["mode"] = "logprobs"
                state.mode = "text"
            else:
                self._learn(endpoint, state, "logprobs")
        if state.mode == "logprobs":
            names = (choice.get("logprobs") or {}).get("tokens")
            if isinstance(names, list) and (not names or str(names[0]).startswith("token_id:")):
                return [int(name[9:]) for name in names]
            self._learn(endpoint, state, "text")
        ids = state.text.feed(choice.get("text") or "")
        if choice.get("finish_reason") is not None:
            ids.extend(state.text.finish())
        return ids

    def _final(self, held: list[int], state: _StreamState) -> Chunk:
        finish = _FINISH.get(state.finish or "", FinishReason.ABORT)
        stop_token: int | None = None
        if finish is FinishReason.STOP:
            reason = state.stop_reason
            if isinstance(reason, int):
                stop_token = reason
            elif reason is None:
                stop_token = RETURN_TOKEN
            tail = held[-1] if held else state.last
            if stop_token is not None and tail != stop_token:
                # Text and some logprob paths omit the stop token: restore it from stop_reason.
                held = [*held, stop_token]
        usage = state.usage or {}
        details = usage.get("prompt_tokens_details") or {}
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        return Chunk(
            tuple(held),
            finish_reason=finish,
            stop_token=stop_token,
            usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)), cached),
        )

    @staticmethod
    def _error_chunk(held: list[int], state: _StreamState, event: dict[str, Any]) -> Chunk:
        error = event.get("error")
        message = error.get("message") if isinstance(error, dict) else str(error)
        return Chunk(tuple(held), finish_reason=FinishReason.ERROR, error=str(message))
