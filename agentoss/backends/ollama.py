"""`OllamaBackend`: harmony prompts to Ollama's `/api/generate` in raw mode, sampled text re-encoded.

Ollama takes text, not token ids, and returns text. The prompt ids are decoded to harmony text with
the control tokens written out (raw mode parses them back as special tokens); the streamed reply is
re-encoded with control tokens allowed, cut after control tokens so the ids are exact at the seams.
Ollama treats `<|return|>` / `<|call|>` as end of generation and drops them from the text; the backend
restores the stop token from the last message header (`to=` means a tool call). `num_ctx` is sent
with every request because Ollama otherwise truncates long prompts silently to its small default.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import httpx

from agentoss.backends.base import Chunk, FinishReason, SamplingParams
from agentoss.backends.failover import Endpoint, RetryableError, RetryPolicy
from agentoss.backends.http import ServerConnection, Timeouts, ndjson_data
from agentoss.backends.retokenize import TextRetokenizer, restore_stop
from agentoss.errors import BackendUnavailableError

__all__ = ["OllamaBackend"]


def _is_last(event: dict[str, Any]) -> bool:
    return bool(event.get("done"))


class OllamaBackend:
    """Ollama over HTTP (`ollama serve`); implements `agentoss.backends.base.Backend`."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:11434",
        *,
        model: str = "gpt-oss:20b",
        num_ctx: int = 32_768,
        keep_alive: str | None = None,
        timeout: float | Timeouts = Timeouts(),
        retry: RetryPolicy = RetryPolicy(),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`num_ctx`: the context Ollama allocates (sent with each request; more costs memory)."""
        self._server = ServerConnection(base_url, timeout=timeout, retry=retry, transport=transport)
        self._model = model
        self._num_ctx = num_ctx
        self._keep_alive = keep_alive
        self._window: int | None = None

    async def context_window(self) -> int:
        """`num_ctx`, capped by the model's trained context length when `/api/show` reports it."""
        if self._window is None:
            window = self._num_ctx
            info = (await self._server.probe("/api/show", {"model": self._model})).get("model_info") or {}
            lengths = [v for k, v in info.items() if k.endswith(".context_length") and isinstance(v, int)]
            if lengths:
                window = min(window, lengths[0])
            self._window = window
        return self._window

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._server.aclose()

    async def stream(self, prompt: Sequence[int], params: SamplingParams) -> AsyncIterator[Chunk]:
        """Stream the re-encoded reply; retries before and resumes after a cut, like the vLLM backend."""
        window = await self.context_window()
        context = "Ollama's num_ctx (raise it: OllamaBackend(num_ctx=...))"
        chunks = self._server.stream(prompt, params, self._attempt, window=window, context=context)
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                yield chunk

    async def _attempt(
        self, endpoint: Endpoint, prompt: list[int], max_tokens: int, *, params: SamplingParams
    ) -> AsyncGenerator[Chunk, None]:
        from agentoss.harmony.encoding import decode

        options: dict[str, Any] = {
            "num_predict": max_tokens,
            "num_ctx": self._num_ctx,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stop": ["<|call|>", "<|return|>"],
        }
        if params.seed is not None:
            options["seed"] = params.seed
        body: dict[str, Any] = {
            "model": self._model,
            "prompt": decode(prompt),
            "raw": True,
            "stream": True,
            "options": options,
        }
        if self._keep_alive is not None:
            body["keep_alive"] = self._keep_alive
        server = f"Ollama at {endpoint.url}"
        retokenizer = TextRetokenizer()
        sampled: list[int] = []
        events = self._server.events(
            endpoint, "/api/generate", body, server, len(prompt), framing=ndjson_data, last=_is_last
        )
        async with contextlib.aclosing(events):
            async for event in events:
                if "error" in event:
                    ids = retokenizer.finish()
                    yield Chunk(tuple(ids), finish_reason=FinishReason.ERROR, error=str(event["error"]))
                    return
                ids = retokenizer.feed(event.get("response") or "")
                if not event.get("done"):
                    if ids:
                        sampled.extend(ids)
                        yield Chunk(tuple(ids))
                    continue
                ids.extend(retokenizer.finish())
                sampled.extend(ids)
                yield self._final(ids, sampled, prompt, event)
                return
        raise RetryableError(BackendUnavailableError(f"{server} closed the stream early"))

    @staticmethod
    def _final(ids: list[int], sampled: list[int], prompt: list[int], event: dict[str, Any]) -> Chunk:
        # No usage: `resilient_stream` counts it from the original prompt and every token received.
        if event.get("done_reason") == "length":
            return Chunk(tuple(ids), finish_reason=FinishReason.LENGTH)
        ids, stop = restore_stop(ids, sampled, prompt)
        return Chunk(tuple(ids), finish_reason=FinishReason.STOP, stop_token=stop)
