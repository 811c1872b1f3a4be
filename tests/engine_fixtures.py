"""Shared helpers for the engine tests: tiny random checkpoints and the transformers reference model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from agentoss.engine.config import EngineConfig, Layout
from agentoss.engine.synth import synthesize_checkpoint
from agentoss.engine.tensorfile import TensorFiles

TINY = EngineConfig(
    num_hidden_layers=2,
    num_experts=4,
    experts_per_token=2,
    vocab_size=320,
    hidden_size=64,
    intermediate_size=64,
    head_dim=16,
    num_attention_heads=4,
    num_key_value_heads=2,
    sliding_window=4,
)
"""Two layers (one sliding, one full), four experts, window 4."""

CONFIGS: dict[str, EngineConfig] = {
    "tiny": TINY,
    "deeper": EngineConfig(
        num_hidden_layers=4,
        num_experts=8,
        experts_per_token=4,
        vocab_size=256,
        hidden_size=96,
        intermediate_size=64,
        head_dim=16,
        num_attention_heads=8,
        num_key_value_heads=2,
        sliding_window=8,
    ),
    "mha-no-yarn": EngineConfig(
        num_hidden_layers=3,
        num_experts=4,
        experts_per_token=1,
        vocab_size=200,
        hidden_size=64,
        intermediate_size=96,
        head_dim=32,
        num_attention_heads=2,
        num_key_value_heads=2,
        sliding_window=5,
        rope_theta=10000.0,
        rope_scaling_factor=1.0,
        swiglu_limit=0.5,
    ),
    "short-context-yarn": EngineConfig(
        num_hidden_layers=3,
        num_experts=5,
        experts_per_token=3,
        vocab_size=224,
        hidden_size=64,
        intermediate_size=32,
        head_dim=16,
        num_attention_heads=6,
        num_key_value_heads=3,
        sliding_window=3,
        initial_context_length=64,
    ),
}
"""Test configurations: grouped-query / plain multi-head, with and without YaRN, a clamp that bites, and
a short original context where YaRN's lower correction boundary falls below zero (clamped, as
transformers does)."""


def make_checkpoint(root: Path, config: EngineConfig, layout: Layout, seed: int = 0) -> Path:
    return synthesize_checkpoint(config, root / f"{layout}-{seed}", layout=layout, seed=seed)


def reference_model(hf_checkpoint: Path, dtype: torch.dtype = torch.float32) -> Any:
    """transformers' `GptOssForCausalLM` with the checkpoint's weights, dequantised by transformers."""
    from transformers import GptOssConfig, GptOssForCausalLM
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors

    config = GptOssConfig(**json.loads((hf_checkpoint / "config.json").read_text()))
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = GptOssForCausalLM(config).eval()
    files = TensorFiles(hf_checkpoint)
    state: dict[str, torch.Tensor] = {}
    for name in files.names():
        if name.endswith("_scales"):
            continue
        if name.endswith("_blocks"):
            base = name.removesuffix("_blocks")
            # transformers' own MXFP4 conversion (already [E, in, out]), not ours.
            state[base] = convert_moe_packed_tensors(
                files.get(name), files.get(base + "_scales"), dtype=dtype
            )
        else:
            state[name] = files.get(name).to(dtype)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return model.to(dtype)
