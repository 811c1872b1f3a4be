"""`ChatCompletionsBackend`: the lower-fidelity path for servers that only speak `/v1/chat/completions`.

For LM Studio and hosted OpenAI-compatible providers that take chat messages and never expose
tokens. The harmony prompt is mapped to messages + `tools` + `reasoning_effort`, and the reply
(`reasoning` / `reasoning_content`, `tool_calls`, `content`) back into harmony tokens (see
`agentoss.backends.chat_mapping` for what is lost). One non-streamed request per completion, with the
same retries, timeouts and failover as the token backends.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import httpx

from agentoss.backends.base import Chunk, FinishReason, SamplingParams
from agentoss.backends.chat_mapping import chat_request, reply_tokens
from agentoss.backends.failover import Endpoint, RetryPolicy
from agentoss.backends.http import ServerConnection, Timeouts
from agentoss.errors import BackendResponseError

__all__ = ["ChatCompletionsBackend"]


class ChatCompletionsBackend:
    """An OpenAI-compatible chat server; implements `agentoss.backends.base.Backend` (lossy)."""

    def __init__(
        self,
        base_url: str | Sequence[str],
        *,
        api_key: str | None = None,
        model: str,
        context_window: int | None = None,
        timeout: float | Timeouts = Timeouts(),
        retry: RetryPolicy = RetryPolicy(),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`context_window`: what `context_window()` reports (chat servers do not say)."""
        self._server = ServerConnection(
            base_url, api_key=api_key, timeout=timeout, retry=retry, transport=transport
        )
        self._model = model
        self._window = context_window

    async def context_window(self) -> int | None:
        """The configured context window, or None."""
        return self._window

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._server.aclose()

    async def stream(self, prompt: Sequence[int], params: SamplingParams) -> AsyncIterator[Chunk]:
        """One chat completion, mapped back to harmony tokens, as a single chunk."""
        chunks = self._server.stream(prompt, params, self._attempt)
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                yield chunk

    async def _attempt(
        self, endpoint: Endpoint, prompt: list[int], max_tokens: int, *, params: SamplingParams
    ) -> AsyncGenerator[Chunk, None]:
        body: dict[str, Any] = {
            **chat_request(prompt),
            "model": self._model,
            "max_tokens": max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        server = f"chat server at {endpoint.url}"
        reply = await self._server.post_json(endpoint, "/v1/chat/completions", body, server, len(prompt))
        choices = reply.get("choices") or [] if isinstance(reply, dict) else []
        if not choices:
            raise BackendResponseError(f"{server} returned no choices", body=reply)
        finish = choices[0].get("finish_reason")
        ids, stop = reply_tokens(choices[0].get("message") or {}, finish)
        # No usage: `resilient_stream` counts it from the prompt and the tokens mapped back.
        finish_reason = FinishReason.LENGTH if stop is None else FinishReason.STOP
        yield Chunk(tuple(ids), finish_reason=finish_reason, stop_token=stop)
