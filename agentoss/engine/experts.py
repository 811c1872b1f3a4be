"""The mixture-of-experts layer: top-k routing, then each routed expert run once over all its tokens.

gpt-oss model card (arXiv:2508.10925) section 2: a linear router picks the top-4 experts per token, softmax
over the selected logits weights their outputs; each expert is a SwiGLU MLP with biases, a clamp and a
+1 on the linear half. Expert matrices stay packed in MXFP4; `ExpertStore` dequantises only the experts a
batch routes to, one at a time, and may keep recently used ones within a byte budget.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from agentoss.engine.config import EngineConfig
from agentoss.engine.mxfp4 import dequantize

if TYPE_CHECKING:
    import torch

    from agentoss.engine.weights import LayerWeights

__all__ = ["DEFAULT_EXPERT_CACHE_BYTES", "ExpertStore", "moe", "swiglu"]

DEFAULT_EXPERT_CACHE_BYTES = 256 * 2**20
"""Dequantised experts kept between forward passes (0 disables): all of a tiny model, a handful of 20b's."""


class ExpertStore:
    """Dequantised `(mlp1, mlp2)` matrices of routed experts, with a least-recently-used byte budget."""

    def __init__(self, budget_bytes: int = DEFAULT_EXPERT_CACHE_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._kept: OrderedDict[tuple[int, int, str], tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._used = 0

    def get(
        self, layer_index: int, layer: LayerWeights, expert: int, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`mlp1` `[2I, H]` and `mlp2` `[H, I]` of one expert in `dtype`."""
        key = (layer_index, expert, str(dtype))
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            return kept
        pair = (
            dequantize(layer.mlp1_blocks[expert], layer.mlp1_scales[expert], dtype),
            dequantize(layer.mlp2_blocks[expert], layer.mlp2_scales[expert], dtype),
        )
        size = sum(t.numel() * t.element_size() for t in pair)
        if size <= self.budget_bytes:
            self._kept[key] = pair
            self._used += size
            while self._used > self.budget_bytes:
                _, dropped = self._kept.popitem(last=False)
                self._used -= sum(t.numel() * t.element_size() for t in dropped)
        return pair


def swiglu(x: torch.Tensor, limit: float, alpha: float) -> torch.Tensor:
    """Clamped SwiGLU with the +1 on the linear half; mlp1's output columns interleave gate / linear."""
    import torch

    glu, linear = x[..., ::2], x[..., 1::2]
    glu = glu.clamp(max=limit)
    linear = linear.clamp(min=-limit, max=limit)
    return glu * torch.sigmoid(alpha * glu) * (linear + 1)


def moe(
    layer: LayerWeights, layer_index: int, x: torch.Tensor, config: EngineConfig, store: ExpertStore
) -> torch.Tensor:
    """MoE on `[N, H]` rows: route, group the (row, slot) pairs by expert, run each used expert once."""
    import torch
    import torch.nn.functional as F

    c = config
    k = c.experts_per_token
    router = F.linear(x, layer.gate_weight, layer.gate_bias)
    top_values, top_experts = torch.topk(router, k, dim=-1)
    weights = torch.softmax(top_values, dim=-1).reshape(-1)
    flat = top_experts.reshape(-1)
    order = torch.argsort(flat, stable=True)
    counts = torch.bincount(flat, minlength=c.num_experts).tolist()
    # Each (row, slot) pair is written once, then the k slots of a row are summed: no scatter-add.
    slots = x.new_zeros(x.shape[0] * k, x.shape[1])
    start = 0
    for expert, count in enumerate(counts):
        if not count:
            continue
        picks = order[start : start + count]
        start += count
        rows = picks // k
        w1, w2 = store.get(layer_index, layer, expert, x.dtype)
        hidden = swiglu(F.linear(x[rows], w1, layer.mlp1_bias[expert]), c.swiglu_limit, c.swiglu_alpha)
        slots[picks] = F.linear(hidden, w2, layer.mlp2_bias[expert]) * weights[picks, None]
    return slots.view(x.shape[0], k, -1).sum(dim=1)
