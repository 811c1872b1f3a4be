"""`TorchBackend`: the embedded engine behind the `Backend` interface (`agentoss run --backend torch`).

Runs in process: each forward pass goes to a worker thread so the event loop stays responsive.
Concurrent requests take turns one step at a time under a thread lock (each has its own KV cache, which
lives only as long as its request); no event-loop-bound state, so one backend serves any loop.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from agentoss.backends.base import Chunk, FinishReason, SamplingParams, Usage
from agentoss.engine.engine import Engine, Generation
from agentoss.engine.experts import DEFAULT_EXPERT_CACHE_BYTES
from agentoss.errors import BackendError, ContextLengthError, EngineError

__all__ = ["TorchBackend"]

_T = TypeVar("_T")


class TorchBackend:
    """Samples completions from a gpt-oss checkpoint loaded in this process (CPU or one GPU)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._compute = threading.Lock()

    @classmethod
    def load(
        cls,
        checkpoint_dir: str | Path,
        *,
        device: str | None = None,
        dtype: str | None = None,
        expert_cache_bytes: int = DEFAULT_EXPERT_CACHE_BYTES,
    ) -> TorchBackend:
        """Load a checkpoint (original or Hugging Face layout). Blocking: seconds to minutes.

        On a large GPU, a big `expert_cache_bytes` (e.g. 48 GiB for 20b) keeps every expert dequantised
        after first use and removes the per-token dequantisation cost.
        """
        engine = Engine.load(
            checkpoint_dir, device=device, dtype=dtype, expert_cache_bytes=expert_cache_bytes
        )
        return cls(engine)

    async def context_window(self) -> int | None:
        return self.engine.config.context_length

    async def aclose(self) -> None:
        """Nothing to release: the weights go with the object."""

    async def stream(self, prompt: Sequence[int], params: SamplingParams) -> AsyncIterator[Chunk]:
        window = self.engine.config.context_length
        if len(prompt) + 1 > window:
            raise ContextLengthError(
                f"prompt of {len(prompt)} tokens leaves no room in the {window}-token context",
                prompt_tokens=len(prompt),
                max_model_len=window,
            )
        budget = min(params.max_tokens, window - len(prompt))
        stops = set(params.stop_token_ids)
        if budget <= 0:
            yield Chunk(finish_reason=FinishReason.LENGTH, usage=Usage(len(prompt), 0))
            return
        generation = await self._call(
            lambda: self.engine.start(
                [list(prompt)], temperature=params.temperature, top_p=params.top_p, seed=params.seed
            )
        )
        produced = 0
        while True:
            last = produced + 1 >= budget
            token = await self._call(functools.partial(_advance, generation, stops, last=last))
            produced += 1
            usage = Usage(prompt_tokens=len(prompt), completion_tokens=produced)
            if token in stops:
                yield Chunk((token,), FinishReason.STOP, stop_token=token, usage=usage)
                return
            if last:
                yield Chunk((token,), FinishReason.LENGTH, usage=usage)
                return
            yield Chunk((token,))

    async def _call(self, work: Callable[[], _T]) -> _T:
        def guarded() -> _T:
            with self._compute:
                return work()

        try:
            return await asyncio.to_thread(guarded)
        except EngineError as exc:
            raise BackendError(f"torch engine: {exc}") from exc


def _advance(generation: Generation, stops: set[int], *, last: bool) -> int:
    """Sample one token and, unless the request ends with it, feed it back for the next step."""
    token = generation.sample_next()[0]
    if token not in stops and not last:
        generation.feed([token])
    return token
