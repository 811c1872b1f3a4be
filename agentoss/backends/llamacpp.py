"""`LlamaCppBackend`: token-id prompts to llama.cpp's `llama-server` `/completion`, sampled ids back.

llama-server accepts a prompt as token ids and returns the sampled ids with `return_tokens: true`,
so the path is exact like vLLM's. It stops on the model's end-of-generation tokens (`<|return|>`,
`<|call|>`) without returning them: the backend restores the stop token from the last message
header. The context size (`n_ctx` of the server's slots) is read from `/props`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import httpx

from agentoss.backends.base import Chunk, FinishReason, SamplingParams
from agentoss.backends.failover import Endpoint, RetryableError, RetryPolicy
from agentoss.backends.http import ServerConnection, Timeouts
from agentoss.backends.retokenize import restore_stop
from agentoss.errors import BackendUnavailableError

__all__ = ["LlamaCppBackend"]


def _is_last(event: dict[str, Any]) -> bool:
    return bool(event.get("stop"))


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
        self._server = ServerConnection(
            base_url, api_key=api_key, timeout=timeout, retry=retry, transport=transport
        )
        self._window: int | None = None
        self._window_known = False

    async def context_window(self) -> int | None:
        """The slot context size (`n_ctx`) from `/props`, or None when the server does not say."""
        if not self._window_known:
            props = await self._server.probe("/props")
            settings = props.get("default_generation_settings") or {}
            n_ctx = settings.get("n_ctx", props.get("n_ctx"))
            self._window = int(n_ctx) if isinstance(n_ctx, int) and n_ctx > 0 else None
            self._window_known = True
        return self._window

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._server.aclose()

    async def stream(self, prompt: Sequence[int], params: SamplingParams) -> AsyncIterator[Chunk]:
        """Stream sampled ids; retries before and resumes after a cut, like the vLLM backend."""
        window = await self.context_window()
        context = "llama-server's context (start it with a larger --ctx-size)"
        chunks = self._server.stream(prompt, params, self._attempt, window=window, context=context)
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
        events = self._server.events(endpoint, "/completion", body, server, len(prompt), last=_is_last)
        async with contextlib.aclosing(events):
            async for event in events:
                if "error" in event:
                    error = event["error"]
                    message = error.get("message") if isinstance(error, dict) else error
                    yield Chunk(finish_reason=FinishReason.ERROR, error=str(message))
                    return
                ids = [int(t) for t in event.get("tokens") or ()]
                sampled.extend(ids)
                if not event.get("stop"):
                    if ids:
                        yield Chunk(tuple(ids))
                    continue
                yield self._final(ids, sampled, prompt, event)
                return
        raise RetryableError(BackendUnavailableError(f"{server} closed the stream early"))

    @staticmethod
    def _final(ids: list[int], sampled: list[int], prompt: list[int], event: dict[str, Any]) -> Chunk:
        # No usage: `resilient_stream` counts it from the original prompt and every token received.
        if event.get("stop_type") == "limit":
            return Chunk(tuple(ids), finish_reason=FinishReason.LENGTH)
        ids, stop = restore_stop(ids, sampled, prompt)
        return Chunk(tuple(ids), finish_reason=FinishReason.STOP, stop_token=stop)
