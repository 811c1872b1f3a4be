"""The gpt-oss forward pass: attention with sinks and sliding windows, YaRN rotary, then the experts.

Follows the gpt-oss model card (arXiv:2508.10925) and the reference implementation's equations; written
as plain functions over `ModelWeights` so the same code runs tiny test configs and the released shapes,
on CPU or CUDA, in fp32 or bf16. Every sequence position carries an explicit position id (-1 marks left
padding), which makes batching, the KV cache and the sliding window the same masking rule.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentoss.engine.config import EngineConfig
from agentoss.engine.experts import ExpertStore, moe

if TYPE_CHECKING:
    import torch

    from agentoss.engine.weights import LayerWeights, ModelWeights

__all__ = ["KVCache", "forward", "yarn_frequencies"]


@dataclass(slots=True)
class KVCache:
    """Keys, values and their positions per layer, for a batch of sequences decoded in lockstep.

    Sliding-window layers keep only their last `sliding_window` slots; full-attention layers keep all.
    """

    keys: list[torch.Tensor | None]
    values: list[torch.Tensor | None]
    positions: list[torch.Tensor | None]
    """Per layer `[B, S]` position of each cached slot (-1: padding, never attended to)."""
    filled: list[int]
    """Per layer, slots in use (full layers over-allocate to amortise growth)."""
    next_positions: torch.Tensor | None = field(default=None)
    """`[B]` the position id the next token of each sequence gets."""

    @classmethod
    def empty(cls, config: EngineConfig) -> KVCache:
        layers = config.num_hidden_layers
        return cls(
            keys=[None] * layers, values=[None] * layers, positions=[None] * layers, filled=[0] * layers
        )

    def slots(self, layer: int) -> int:
        """How many key / value slots `layer` currently holds."""
        return self.filled[layer]

    def append(
        self, layer: int, k: torch.Tensor, v: torch.Tensor, positions: torch.Tensor, *, window: int | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Add `k`, `v` `[B, KV, T, D]` at `positions` `[B, T]`; every key the new queries may see.

        A sliding layer returns its last `window` cached slots plus the new ones and keeps `window`;
        a full layer writes into a buffer that doubles when full (no copy of the history per token).
        """
        import torch

        cached_k, cached_v, cached_pos = self.keys[layer], self.values[layer], self.positions[layer]
        filled, steps = self.filled[layer], k.shape[2]
        if window is not None:
            if cached_k is not None and cached_v is not None and cached_pos is not None:
                k = torch.cat((cached_k, k), dim=2)
                v = torch.cat((cached_v, v), dim=2)
                positions = torch.cat((cached_pos, positions), dim=1)
            kept = positions[:, -window:].contiguous()
            self.keys[layer] = k[:, :, -window:].contiguous()
            self.values[layer] = v[:, :, -window:].contiguous()
            self.positions[layer] = kept
            self.filled[layer] = int(kept.shape[1])
            return k, v, positions
        need = filled + steps
        if cached_k is None or cached_v is None or cached_pos is None or cached_k.shape[2] < need:
            capacity = max(need, 2 * filled, 64)
            grown_k = k.new_empty(k.shape[0], k.shape[1], capacity, k.shape[3])
            grown_v = torch.empty_like(grown_k)
            grown_pos = positions.new_full((positions.shape[0], capacity), -1)
            if cached_k is not None and cached_v is not None and cached_pos is not None:
                grown_k[:, :, :filled] = cached_k[:, :, :filled]
                grown_v[:, :, :filled] = cached_v[:, :, :filled]
                grown_pos[:, :filled] = cached_pos[:, :filled]
            cached_k, cached_v, cached_pos = grown_k, grown_v, grown_pos
            self.keys[layer], self.values[layer], self.positions[layer] = cached_k, cached_v, cached_pos
        cached_k[:, :, filled:need] = k
        cached_v[:, :, filled:need] = v
        cached_pos[:, filled:need] = positions
        self.filled[layer] = need
        return cached_k[:, :, :need], cached_v[:, :, :need], cached_pos[:, :need]


@functools.lru_cache(maxsize=8)
def yarn_frequencies(config: EngineConfig) -> tuple[torch.Tensor, float]:
    """Rotary inverse frequencies with YaRN NTK-by-parts interpolation, and the cos / sin concentration.

    YaRN (Peng et al. 2023, arXiv:2309.00071), eqs. 17-19: dimensions rotating fewer than `ntk_alpha`
    times over the original context are interpolated by the scaling factor, those rotating more than
    `ntk_beta` times are kept, a linear ramp blends the rest; attention is sharpened by 0.1 ln(s) + 1.
    """
    import torch

    c = config
    exponent = torch.arange(0, c.head_dim, 2, dtype=torch.float32) / c.head_dim
    base_freq = c.rope_theta**exponent
    if c.rope_scaling_factor <= 1.0:
        return 1.0 / base_freq, 1.0
    concentration = 0.1 * math.log(c.rope_scaling_factor) + 1.0
    half = c.head_dim / 2

    def boundary(rotations: float) -> float:
        return half * math.log(c.initial_context_length / (rotations * 2 * math.pi)) / math.log(c.rope_theta)

    # Clamped to the valid dimension range as transformers does (`find_correction_range`, truncate off):
    # with a short original context the lower boundary falls below zero.
    low = max(boundary(c.rope_ntk_beta), 0.0)
    high = min(boundary(c.rope_ntk_alpha), float(c.head_dim - 1))
    if low == high:
        high += 0.001
    ramp = ((torch.arange(int(half), dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    keep = 1 - ramp  # 1 where the dimension is extrapolated (kept), 0 where interpolated
    inv_freq = (1.0 / (c.rope_scaling_factor * base_freq)) * (1 - keep) + (1.0 / base_freq) * keep
    return inv_freq, concentration


def _rms_norm(x: torch.Tensor, scale: torch.Tensor, eps: float) -> torch.Tensor:
    import torch

    t = x.float()
    t = t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + eps)
    return (scale * t).to(x.dtype)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding on halves (first half pairs with second half), as gpt-oss was trained."""
    import torch

    first, second = torch.chunk(x, 2, dim=-1)
    return torch.cat((first * cos - second * sin, second * cos + first * sin), dim=-1)


def _attention(
    layer: LayerWeights,
    index: int,
    x: torch.Tensor,
    positions: torch.Tensor,
    rotary: tuple[torch.Tensor, torch.Tensor],
    cache: KVCache,
    config: EngineConfig,
) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    c = config
    batch, steps, _ = x.shape
    groups = c.num_attention_heads // c.num_key_value_heads
    h = _rms_norm(x, layer.attn_norm, c.rms_norm_eps)
    q = F.linear(h, layer.q_weight, layer.q_bias).view(batch, steps, c.num_attention_heads, c.head_dim)
    k = F.linear(h, layer.k_weight, layer.k_bias).view(batch, steps, c.num_key_value_heads, c.head_dim)
    v = F.linear(h, layer.v_weight, layer.v_bias).view(batch, steps, c.num_key_value_heads, c.head_dim)
    cos, sin = rotary
    q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
    # [B, KV, G, T, D]: query head n uses key / value head n // G.
    q = q.view(batch, steps, c.num_key_value_heads, groups, c.head_dim).permute(0, 2, 3, 1, 4)
    k, v = k.transpose(1, 2), v.transpose(1, 2)  # [B, KV, T, D]

    sliding = c.is_sliding(index)
    k, v, key_pos = cache.append(index, k, v, positions, window=c.sliding_window if sliding else None)

    scores = torch.einsum("bkgqd,bksd->bkgqs", q, k) * (c.head_dim**-0.5)
    q_pos, k_pos = positions[:, :, None], key_pos[:, None, :]
    allowed = (k_pos >= 0) & (k_pos <= q_pos)
    if sliding:
        allowed &= q_pos - k_pos < c.sliding_window
    scores = scores.float().masked_fill(~allowed[:, None, None], float("-inf"))
    # The learned sink is one extra logit per head in the softmax denominator, dropped afterwards.
    sinks = layer.sinks.view(1, c.num_key_value_heads, groups, 1, 1).expand(*scores.shape[:-1], 1)
    combined = torch.cat((scores, sinks), dim=-1)
    combined = combined - combined.amax(dim=-1, keepdim=True)
    probs = torch.softmax(combined, dim=-1)[..., :-1].to(v.dtype)
    out = torch.einsum("bkgqs,bksd->bqkgd", probs, v).reshape(batch, steps, -1)
    return F.linear(out, layer.out_weight, layer.out_bias)


def forward(
    weights: ModelWeights,
    tokens: torch.Tensor,
    positions: torch.Tensor,
    cache: KVCache,
    *,
    experts: ExpertStore,
    last_only: bool = False,
) -> torch.Tensor:
    """Run `tokens` `[B, T]` at `positions` `[B, T]` (-1 = padding) through the model, extending `cache`.

    Returns fp32 logits `[B, T, V]` (`[B, 1, V]` with `last_only`).
    """
    import torch
    import torch.nn.functional as F

    c = weights.config
    if tokens.shape != positions.shape or tokens.dim() != 2:
        raise ValueError(
            f"tokens {tuple(tokens.shape)} and positions {tuple(positions.shape)} must be [B, T]"
        )
    batch, steps = tokens.shape
    device = weights.embedding.device
    x = F.embedding(tokens.clamp(min=0), weights.embedding)
    inv_freq, concentration = yarn_frequencies(c)
    angles = positions.clamp(min=0).to(torch.float32)[..., None] * inv_freq.to(device)
    rotary = (
        (angles.cos() * concentration).to(x.dtype)[:, :, None, :],
        (angles.sin() * concentration).to(x.dtype)[:, :, None, :],
    )
    valid = (positions >= 0).reshape(-1)
    rows = valid.nonzero().squeeze(-1) if not bool(valid.all()) else None
    for index, layer in enumerate(weights.layers):
        x = x + _attention(layer, index, x, positions, rotary, cache, c)
        h = _rms_norm(x, layer.mlp_norm, c.rms_norm_eps).reshape(batch * steps, -1)
        if rows is None:
            mixed = moe(layer, index, h, c, experts)
        else:  # padding rows skip the experts entirely
            mixed = torch.zeros_like(h)
            mixed[rows] = moe(layer, index, h[rows], c, experts)
        x = x + mixed.view(batch, steps, -1)
    if last_only:
        x = x[:, -1:]
    x = _rms_norm(x, weights.norm, c.rms_norm_eps)
    return F.linear(x, weights.unembedding).float()
