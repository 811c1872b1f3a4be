"""`Engine`: load a gpt-oss checkpoint and run it: full logits, batched prefill, cached decode, sampling.

The public entry points are `Engine.load(path, device=None, dtype=None)`, `engine.logits(ids)` (fp32
logits for every position, recomputed from scratch: the reference other checks compare against) and
`engine.generate(prompts, ...)`; `engine.start(prompt, ...)` gives a step-wise `Generation` the
`TorchBackend` streams from. Blocking; callers in async code run it in a thread.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentoss.engine.config import EngineConfig
from agentoss.engine.experts import DEFAULT_EXPERT_CACHE_BYTES, ExpertStore
from agentoss.engine.model import KVCache, forward
from agentoss.engine.weights import ModelWeights, load_weights
from agentoss.errors import EngineError

if TYPE_CHECKING:
    import torch

__all__ = ["Engine", "Generation", "sample"]

_ATTENTION_BUDGET = 1 << 27
"""Largest attention score tensor (elements) one prefill chunk may build; bounds prefill memory."""
_MAX_CHUNK = 512


def sample(
    logits: torch.Tensor, *, temperature: float, top_p: float, generator: torch.Generator | None
) -> torch.Tensor:
    """One token id per row of `logits` `[B, V]`: greedy at temperature 0, else nucleus sampling."""
    import torch

    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        # Drop a token when the mass before it already reaches top_p; the most likely always stays.
        drop = (sorted_probs.cumsum(dim=-1) - sorted_probs) >= top_p
        drop[..., 0] = False
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@dataclass(slots=True)
class Generation:
    """Step-wise sampling for a batch of prompts sharing one KV cache."""

    engine: Engine
    cache: KVCache
    logits: torch.Tensor
    """`[B, V]` logits for the next token of each sequence."""
    temperature: float
    top_p: float
    generator: torch.Generator | None

    def sample_next(self) -> list[int]:
        """Sample the next token of every sequence (without feeding it back)."""
        chosen = sample(self.logits, temperature=self.temperature, top_p=self.top_p, generator=self.generator)
        return [int(t) for t in chosen.tolist()]

    def feed(self, tokens: Sequence[int]) -> None:
        """Append one token per sequence to the cache and compute the next logits."""
        import torch

        self.logits = self.engine.decode(self.cache, torch.tensor(list(tokens), dtype=torch.long))

    def step(self) -> list[int]:
        """Sample the next token of every sequence, feed it back, and return the sampled ids."""
        tokens = self.sample_next()
        self.feed(tokens)
        return tokens


class Engine:
    """A loaded gpt-oss model on one device."""

    def __init__(
        self, weights: ModelWeights, *, expert_cache_bytes: int = DEFAULT_EXPERT_CACHE_BYTES
    ) -> None:
        self.weights = weights
        self.experts = ExpertStore(expert_cache_bytes)

    @classmethod
    def load(
        cls,
        checkpoint_dir: str | Path,
        device: str | None = None,
        dtype: str | torch.dtype | None = None,
        *,
        expert_cache_bytes: int = DEFAULT_EXPERT_CACHE_BYTES,
    ) -> Engine:
        """Load either layout from `checkpoint_dir`.

        `device` defaults to CUDA when available, else CPU. `dtype` (the dense weights and activations)
        defaults to bfloat16, the checkpoint's own precision; `"float32"` widens for exact comparisons.
        Expert weights stay packed MXFP4 whatever the dtype; up to `expert_cache_bytes` of dequantised
        experts are kept between forward passes (0: dequantise on every use).
        """
        import torch

        try:
            target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
            if target.type == "cuda" and not torch.cuda.is_available():
                raise EngineError(
                    "device 'cuda' requested but torch sees no GPU (CPU-only build or no device visible). "
                    "Fix: device='cpu', or install a CUDA build of torch"
                )
            if isinstance(dtype, str):
                dtype = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32}.get(
                    dtype.replace("torch.", "")
                )
                if dtype is None:
                    raise EngineError("dtype must be bfloat16 or float32")
            weights = load_weights(checkpoint_dir, device=target, dtype=dtype or torch.bfloat16)
        except (RuntimeError, OSError) as exc:
            raise EngineError(f"cannot load {checkpoint_dir}: {exc}") from exc
        return cls(weights, expert_cache_bytes=expert_cache_bytes)

    @property
    def config(self) -> EngineConfig:
        return self.weights.config

    @property
    def device(self) -> torch.device:
        return self.weights.embedding.device

    @property
    def dtype(self) -> torch.dtype:
        return self.weights.embedding.dtype

    def logits(self, ids: Sequence[int]) -> torch.Tensor:
        """fp32 logits `[len(ids), V]` for every position of one sequence (no cache reuse)."""
        import torch

        self._check_ids([ids])
        tokens = torch.tensor([list(ids)], dtype=torch.long, device=self.device)
        positions = torch.arange(len(ids), device=self.device)[None]
        cache = KVCache.empty(self.config)
        outputs = [
            self._run(tokens[:, s : s + size], positions[:, s : s + size], cache, last_only=False)
            for s, size in self._chunks(len(ids), 1)
        ]
        return torch.cat(outputs, dim=1)[0]

    def prefill(self, prompts: Sequence[Sequence[int]]) -> tuple[KVCache, torch.Tensor]:
        """Process `prompts` (left-padded into one batch) in bounded chunks; the cache and `[B, V]` logits."""
        import torch

        self._check_ids(prompts)
        longest = max(len(p) for p in prompts)
        tokens = torch.zeros(len(prompts), longest, dtype=torch.long)
        positions = torch.full((len(prompts), longest), -1, dtype=torch.long)
        for row, prompt in enumerate(prompts):
            pad = longest - len(prompt)
            tokens[row, pad:] = torch.tensor(list(prompt), dtype=torch.long)
            positions[row, pad:] = torch.arange(len(prompt))
        tokens, positions = tokens.to(self.device), positions.to(self.device)
        cache = KVCache.empty(self.config)
        last = None
        for start, size in self._chunks(longest, len(prompts)):
            end = start + size
            last = self._run(tokens[:, start:end], positions[:, start:end], cache, last_only=True)
        assert last is not None
        cache.next_positions = torch.tensor([len(p) for p in prompts], device=self.device)
        return cache, last[:, -1]

    def decode(self, cache: KVCache, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per sequence `[B]`; the next `[B, V]` logits."""
        assert cache.next_positions is not None, "decode needs a cache from prefill"
        positions = cache.next_positions[:, None]
        logits = self._run(tokens.to(self.device)[:, None], positions, cache, last_only=True)
        cache.next_positions = cache.next_positions + 1
        return logits[:, -1]

    def start(
        self,
        prompts: Sequence[Sequence[int]],
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> Generation:
        """Prefill `prompts` and return a `Generation` ready to sample."""
        import torch

        generator = None
        if temperature > 0:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(seed if seed is not None else random.getrandbits(63))
        cache, logits = self.prefill(prompts)
        return Generation(self, cache, logits, temperature, top_p, generator)

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop_token_ids: Sequence[int] = (),
    ) -> list[list[int]]:
        """Sample up to `max_tokens` per prompt; each output ends at (and includes) its first stop token."""
        outputs: list[list[int]] = [[] for _ in prompts]
        done = [False] * len(prompts)
        stops = set(stop_token_ids)
        for step in self.iterate(
            prompts, max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed
        ):
            for row, token in enumerate(step):
                if not done[row]:
                    outputs[row].append(token)
                    done[row] = token in stops
            if all(done):
                break
        return outputs

    def iterate(
        self,
        prompts: Sequence[Sequence[int]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> Iterator[list[int]]:
        """Yield the sampled ids of every sequence, one step at a time, at most `max_tokens` steps."""
        if max_tokens <= 0:
            return
        room = self.config.context_length - max(len(p) for p in prompts)
        generation = self.start(prompts, temperature=temperature, top_p=top_p, seed=seed)
        for _ in range(min(max_tokens, room)):
            yield generation.step()

    def _run(
        self, tokens: torch.Tensor, positions: torch.Tensor, cache: KVCache, *, last_only: bool
    ) -> torch.Tensor:
        import torch

        try:
            with torch.inference_mode():
                return forward(
                    self.weights, tokens, positions, cache, experts=self.experts, last_only=last_only
                )
        except RuntimeError as exc:  # out of memory, device errors
            raise EngineError(f"forward pass failed: {exc}") from exc

    def _chunks(self, length: int, batch: int) -> Iterator[tuple[int, int]]:
        """Prefill chunks whose attention scores stay under the budget (long prompts use shorter chunks)."""
        heads = self.config.num_attention_heads * batch
        size = max(16, min(_MAX_CHUNK, _ATTENTION_BUDGET // max(1, heads * length)))
        for start in range(0, length, size):
            yield start, min(size, length - start)

    def _check_ids(self, prompts: Sequence[Sequence[int]]) -> None:
        if not prompts or any(len(p) == 0 for p in prompts):
            raise EngineError("every prompt needs at least one token")
        vocab = self.config.vocab_size
        for prompt in prompts:
            if len(prompt) >= self.config.context_length:
                raise EngineError(
                    f"prompt of {len(prompt)} tokens exceeds the context ({self.config.context_length})"
                )
            bad = [t for t in prompt if not 0 <= t < vocab]
            if bad:
                raise EngineError(f"token id {bad[0]} outside the vocabulary (0-{vocab - 1})")
