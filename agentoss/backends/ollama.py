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
)
from agentoss.backends.retokenize import TextRetokenizer, infer_stop_token
from agentoss.errors import BackendUnavailableError, ContextLengthError

__all__ = ["OllamaBackend"]


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
        self._pool = EndpointPool([base_url])
        self._model = model
        self._num_ctx = num_ctx
        self._keep_alive = keep_alive
        if isinstance(timeout, Timeouts):
            self._timeouts = timeout
        else:
            self._timeouts = Timeouts(connect=min(10.0, timeout), read=timeout, stream_idle=timeout)
        self._retry = retry
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._window: int | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeouts.for_request())
        return self._client

    async def context_window(self) -> int:
        """`num_ctx`, capped by the model's trained context length when `/api/show` reports it."""
        if self._window is None:
            window = self._num_ctx
            url = self._pool.endpoints[0].url
            try:
                response = await self._http().post(url + "/api/show", json={"model": self._model})
                info = response.json().get("model_info") or {} if response.status_code == 200 else {}
            except (httpx.HTTPError, ValueError):
                info = {}
            lengths = [v for k, v in info.items() if k.endswith(".context_length") and isinstance(v, int)]
            if lengths:
                window = min(window, lengths[0])
            self._window = window
        return self._window

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def stream(self, prompt: Sequence[int], params: SamplingParams) -> AsyncIterator[Chunk]:
        """Stream the re-encoded reply; retries before and resumes after a cut, like the vLLM backend."""
        window = await self.context_window()
        prompt_ids = list(prompt)
        room = window - len(prompt_ids)
        if room < 1:
            raise ContextLengthError(
                f"the prompt has {len(prompt_ids)} tokens but Ollama's num_ctx is {window}; "
                "raise num_ctx (OllamaBackend(num_ctx=...)) or shorten the conversation",
                prompt_tokens=len(prompt_ids),
                max_model_len=window,
            )
        attempt = functools.partial(self._attempt, params=params)
        budget = min(params.max_tokens, room)
        chunks = resilient_stream(self._pool, self._retry, prompt_ids, budget, attempt)
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
        try:
            request = self._http().stream(
                "POST", endpoint.url + "/api/generate", json=body, timeout=self._timeouts.for_stream()
            )
            async with request as response:
                if response.status_code != 200:
                    raise await response_error(response, server, len(prompt))
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        event = json.loads(line)
                    except ValueError:
                        raise RetryableError(BackendUnavailableError(f"{server} sent a cut line")) from None
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
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, server, self._timeouts) from exc
        raise RetryableError(BackendUnavailableError(f"{server} closed the stream early"))

    @staticmethod
    def _final(ids: list[int], sampled: list[int], prompt: list[int], event: dict[str, Any]) -> Chunk:
        usage = Usage(int(event.get("prompt_eval_count") or 0), int(event.get("eval_count") or 0))
        if event.get("done_reason") == "length":
            return Chunk(tuple(ids), finish_reason=FinishReason.LENGTH, usage=usage)
        if sampled and sampled[-1] in (200002, 200012):
            stop = sampled[-1]
        else:
            stop = infer_stop_token(prompt[-512:] + sampled)
            ids = [*ids, stop]
        return Chunk(tuple(ids), finish_reason=FinishReason.STOP, stop_token=stop, usage=usage)
