"""Loading a gpt-oss checkpoint (original or Hugging Face layout) into one in-memory weight structure.

MoE weights stay packed (uint8 MXFP4 blocks and scales, memory-mapped on CPU); dense weights keep the
checkpoint's bf16 unless a wider compute dtype is asked for. Every shape is checked against the config
so a truncated or mismatched checkpoint fails at load with the tensor's name, not mid-generation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentoss.engine.config import EngineConfig, Layout, read_config
from agentoss.engine.tensorfile import TensorFiles
from agentoss.errors import EngineError

if TYPE_CHECKING:
    import torch

__all__ = ["LayerWeights", "ModelWeights", "load_weights"]


@dataclass(slots=True)
class LayerWeights:
    """One transformer block. Linear weights are `[out, in]`; experts are packed MXFP4."""

    attn_norm: torch.Tensor
    q_weight: torch.Tensor
    q_bias: torch.Tensor
    k_weight: torch.Tensor
    k_bias: torch.Tensor
    v_weight: torch.Tensor
    v_bias: torch.Tensor
    sinks: torch.Tensor
    out_weight: torch.Tensor
    out_bias: torch.Tensor
    mlp_norm: torch.Tensor
    gate_weight: torch.Tensor
    gate_bias: torch.Tensor
    mlp1_blocks: torch.Tensor
    """`[E, 2I, H/32, 16]` uint8; output rows interleave gate (even) and linear (odd)."""
    mlp1_scales: torch.Tensor
    mlp1_bias: torch.Tensor
    mlp2_blocks: torch.Tensor
    """`[E, H, I/32, 16]` uint8."""
    mlp2_scales: torch.Tensor
    mlp2_bias: torch.Tensor


@dataclass(slots=True)
class ModelWeights:
    """The whole model."""

    config: EngineConfig
    layout: Layout
    embedding: torch.Tensor
    layers: list[LayerWeights]
    norm: torch.Tensor
    unembedding: torch.Tensor


_ORIGINAL = {
    "attn_norm": "block.{i}.attn.norm.scale",
    "sinks": "block.{i}.attn.sinks",
    "out_weight": "block.{i}.attn.out.weight",
    "out_bias": "block.{i}.attn.out.bias",
    "mlp_norm": "block.{i}.mlp.norm.scale",
    "gate_weight": "block.{i}.mlp.gate.weight",
    "gate_bias": "block.{i}.mlp.gate.bias",
    "mlp1_blocks": "block.{i}.mlp.mlp1_weight.blocks",
    "mlp1_scales": "block.{i}.mlp.mlp1_weight.scales",
    "mlp1_bias": "block.{i}.mlp.mlp1_bias",
    "mlp2_blocks": "block.{i}.mlp.mlp2_weight.blocks",
    "mlp2_scales": "block.{i}.mlp.mlp2_weight.scales",
    "mlp2_bias": "block.{i}.mlp.mlp2_bias",
}
_HF = {
    "attn_norm": "model.layers.{i}.input_layernorm.weight",
    "q_weight": "model.layers.{i}.self_attn.q_proj.weight",
    "q_bias": "model.layers.{i}.self_attn.q_proj.bias",
    "k_weight": "model.layers.{i}.self_attn.k_proj.weight",
    "k_bias": "model.layers.{i}.self_attn.k_proj.bias",
    "v_weight": "model.layers.{i}.self_attn.v_proj.weight",
    "v_bias": "model.layers.{i}.self_attn.v_proj.bias",
    "sinks": "model.layers.{i}.self_attn.sinks",
    "out_weight": "model.layers.{i}.self_attn.o_proj.weight",
    "out_bias": "model.layers.{i}.self_attn.o_proj.bias",
    "mlp_norm": "model.layers.{i}.post_attention_layernorm.weight",
    "gate_weight": "model.layers.{i}.mlp.router.weight",
    "gate_bias": "model.layers.{i}.mlp.router.bias",
    "mlp1_blocks": "model.layers.{i}.mlp.experts.gate_up_proj_blocks",
    "mlp1_scales": "model.layers.{i}.mlp.experts.gate_up_proj_scales",
    "mlp1_bias": "model.layers.{i}.mlp.experts.gate_up_proj_bias",
    "mlp2_blocks": "model.layers.{i}.mlp.experts.down_proj_blocks",
    "mlp2_scales": "model.layers.{i}.mlp.experts.down_proj_scales",
    "mlp2_bias": "model.layers.{i}.mlp.experts.down_proj_bias",
}
TENSOR_NAMES: dict[Layout, dict[str, str]] = {"original": _ORIGINAL, "hf": _HF}
"""Per layout: LayerWeights field -> tensor name pattern (`{i}` is the block index)."""
GLOBAL_NAMES: dict[Layout, tuple[str, str, str]] = {
    "original": ("embedding.weight", "norm.scale", "unembedding.weight"),
    "hf": ("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"),
}
"""Per layout: embedding, final norm, unembedding tensor names."""

_FP32_FIELDS = frozenset({"attn_norm", "mlp_norm", "sinks"})
_PACKED_FIELDS = frozenset({"mlp1_blocks", "mlp1_scales", "mlp2_blocks", "mlp2_scales"})


def expected_shapes(config: EngineConfig) -> dict[str, tuple[int, ...]]:
    """LayerWeights field -> shape, for a block of `config`."""
    c = config
    e, h, i, d = c.num_experts, c.hidden_size, c.intermediate_size, c.head_dim
    q, kv = c.num_attention_heads * d, c.num_key_value_heads * d
    return {
        "attn_norm": (h,),
        "q_weight": (q, h),
        "q_bias": (q,),
        "k_weight": (kv, h),
        "k_bias": (kv,),
        "v_weight": (kv, h),
        "v_bias": (kv,),
        "sinks": (c.num_attention_heads,),
        "out_weight": (h, q),
        "out_bias": (h,),
        "mlp_norm": (h,),
        "gate_weight": (e, h),
        "gate_bias": (e,),
        "mlp1_blocks": (e, 2 * i, h // 32, 16),
        "mlp1_scales": (e, 2 * i, h // 32),
        "mlp1_bias": (e, 2 * i),
        "mlp2_blocks": (e, h, i // 32, 16),
        "mlp2_scales": (e, h, i // 32),
        "mlp2_bias": (e, h),
    }


def load_weights(directory: str | Path, *, device: torch.device, dtype: torch.dtype) -> ModelWeights:
    """Read the checkpoint in `directory` (either layout) onto `device`; dense weights in `dtype`."""
    import torch

    config, layout, folder = read_config(Path(directory))
    files = TensorFiles(folder)
    shapes = expected_shapes(config)

    def place(field: str, tensor: torch.Tensor, name: str) -> torch.Tensor:
        expected = shapes.get(field)
        if expected is not None and tuple(tensor.shape) != expected:
            raise EngineError(f"{name}: shape {tuple(tensor.shape)}, config expects {expected}")
        if field in _PACKED_FIELDS:
            if tensor.dtype != torch.uint8:
                raise EngineError(f"{name}: MXFP4 data must be uint8, found {tensor.dtype}")
            return tensor.to(device)
        target = torch.float32 if field in _FP32_FIELDS else dtype
        return tensor.to(device=device, dtype=target)

    layers = []
    names = TENSOR_NAMES[layout]
    q_rows = config.num_attention_heads * config.head_dim
    kv_rows = config.num_key_value_heads * config.head_dim
    for index in range(config.num_hidden_layers):
        fields: dict[str, torch.Tensor] = {}
        if layout == "original":
            # The original layout fuses q, k and v; slicing keeps them views of the mapped file.
            for kind in ("weight", "bias"):
                name = f"block.{index}.attn.qkv.{kind}"
                fused = files.get(name)
                if fused.shape[0] != q_rows + 2 * kv_rows:
                    raise EngineError(f"{name}: {fused.shape[0]} rows, config expects {q_rows + 2 * kv_rows}")
                parts = torch.split(fused, [q_rows, kv_rows, kv_rows], dim=0)
                for prefix, part in zip("qkv", parts, strict=True):
                    fields[f"{prefix}_{kind}"] = place(f"{prefix}_{kind}", part, name)
        for field, pattern in names.items():
            name = pattern.format(i=index)
            fields[field] = place(field, files.get(name), name)
        layers.append(LayerWeights(**fields))
    embed_name, norm_name, unembed_name = GLOBAL_NAMES[layout]
    vocab = (config.vocab_size, config.hidden_size)
    embedding, unembedding = files.get(embed_name), files.get(unembed_name)
    for name, tensor in ((embed_name, embedding), (unembed_name, unembedding)):
        if tuple(tensor.shape) != vocab:
            raise EngineError(f"{name}: shape {tuple(tensor.shape)}, config expects {vocab}")
    return ModelWeights(
        config=config,
        layout=layout,
        embedding=embedding.to(device=device, dtype=dtype),
        layers=layers,
        norm=files.get(norm_name).to(device=device, dtype=torch.float32),
        unembedding=unembedding.to(device=device, dtype=dtype),
    )
