"""`LlamaCppBackend`: token-id prompts to llama.cpp's `llama-server` `/completion`, sampled ids back.

llama-server accepts a prompt as token ids and returns the sampled ids with `return_tokens: true`,
so the path is exact like vLLM's. It stops on the model's end-of-generation tokens (`<|return|>`,
`<|call|>`) without returning them: the backend restores the stop token from the last message
header. The context size (`n_ctx` of the server's slots) is read from `/props`.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import httpx

from agentoss.backends.base import Chunk, FinishReason, SamplingParams, Usage
from agentoss.backends.http import (
    Endpoint,
    EndpointPool,
    RetryableError,
    RetryPolicy,
    Timeouts,
    map_transport_error,
    resilient_stream,
    response_error,
    sse_data,
)
from agentoss.backends.retokenize import infer_stop_token
from agentoss.errors import BackendUnavailableError, ContextLengthError

__all__ = ["LlamaCppBackend"]

_STOPS = (200002, 200012)


class LlamaCppBackend:
    """llama.cpp `llama-server` over HTTP; implements `agentoss.backends.base.Backend`."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        *,
        api_key: str | None = None,
        timeout: float | Timeouts = Timeouts(),
        retry: RetryPolicy = RetryPolicy(),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._pool = EndpointPool([base_url])
        self._api_key = api_key
        if isinstance(timeout, Timeouts):
            self._timeouts = timeout
        else:
            self._timeouts = Timeouts(connect=min(10.0, timeout), read=timeout, stream_idle=timeout)
        self._retry = retry
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._window: int | None = None
        self._window_known = False

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._client = httpx.AsyncClient(
                headers=headers, transport=self._transport, timeout=self._timeouts.for_request()
            )
        return self._client

    async def context_window(self) -> int | None:
        """The slot context size (`n_ctx`) from `/props`, or None when the server does not say."""
        if not self._window_known:
            url = self._pool.endpoints[0].url
            try:
                response = await self._http().get(url + "/props")
                props = response.json() if response.status_code == 200 else {}
            except (httpx.HTTPError, ValueError):
                props = {}
            settings = props.get("default_generation_settings") or {}
            n_ctx = settings.get("n_ctx", props.get("n_ctx"))
            self._window = int(n_ctx) if isinstance(n_ctx, int) and n_ctx > 0 else None
            self._window_known = True
        return self._window

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def stream(self, prompt: Sequence[int], params: SamplingParams) -> AsyncIterator[Chunk]:
        """Stream sampled ids; retries before and resumes after a cut, like the vLLM backend."""
        window = await self.context_window()
        prompt_ids = list(prompt)
        budget = params.max_tokens
        if window is not None:
            room = window - len(prompt_ids)
            if room < 1:
                raise ContextLengthError(
                    f"the prompt has {len(prompt_ids)} tokens but llama-server's context is {window} "
                    "(start it with a larger --ctx-size)",
                    prompt_tokens=len(prompt_ids),
                    max_model_len=window,
                )
            budget = min(budget, room)
        attempt = functools.partial(self._attempt, params=params)
        chunks = resilient_stream(self._pool, self._retry, prompt_ids, budget, attempt)
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                yield chunk

    async def _attempt(
        self, endpoint: Endpoint, prompt: list[int], max_tokens: int, *, params: SamplingParams
    ) -> AsyncGenerator[Chunk, None]:
        body: dict[str, Any] = {
            "prompt": prompt,
            "n_predict": max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
            "return_tokens": True,
            "cache_prompt": True,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        server = f"llama-server at {endpoint.url}"
        sampled: list[int] = []
        try:
            request = self._http().stream(
                "POST", endpoint.url + "/completion", json=body, timeout=self._timeouts.for_stream()
            )
            async with request as response:
                if response.status_code != 200:
                    raise await response_error(response, server, len(prompt))
                async for data in sse_data(response):
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise RetryableError(BackendUnavailableError(f"{server} sent a cut event")) from None
                    if "error" in event:
                        error = event["error"]
                        message = error.get("message") if isinstance(error, dict) else error
                        yield Chunk(finish_reason=FinishReason.ERROR, error=str(message))
                        return
                    ids = [int(t) for t in event.get("tokens") or ()]
                    if not event.get("stop"):
                        if ids:
                            sampled.extend(ids)
                            yield Chunk(tuple(ids))
                        continue
                    sampled.extend(ids)
                    yield self._final(ids, sampled, prompt, event)
                    return
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, server, self._timeouts) from exc
        raise RetryableError(BackendUnavailableError(f"{server} closed the stream early"))

    @staticmethod
    def _final(ids: list[int], sampled: list[int], prompt: list[int], event: dict[str, Any]) -> Chunk:
        usage = Usage(int(event.get("tokens_evaluated") or 0), int(event.get("tokens_predicted") or 0))
        if event.get("stop_type") == "limit":
            return Chunk(tuple(ids), finish_reason=FinishReason.LENGTH, usage=usage)
        if sampled and sampled[-1] in _STOPS:
            stop = sampled[-1]
        else:
            stop = infer_stop_token(prompt[-512:] + sampled)
            ids = [*ids, stop]
        return Chunk(tuple(ids), finish_reason=FinishReason.STOP, stop_token=stop, usage=usage)
