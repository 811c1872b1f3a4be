"""The gpt-oss model configuration: every dimension the engine uses, read from either published layout.

Nothing here imports torch, so the CLI and the registry can inspect a checkpoint's shape cheaply.
Field names follow the original layout's `config.json` (the gpt-oss reference package); the Hugging
Face layout's `config.json` (`model_type: gpt_oss`) is translated by `EngineConfig.from_hf`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agentoss.errors import EngineError

__all__ = ["SHAPES", "EngineConfig", "Layout", "detect_layout", "read_config"]

Layout = Literal["original", "hf"]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """The architecture hyper-parameters of one gpt-oss checkpoint."""

    num_hidden_layers: int = 24
    """Transformer blocks (20b: 24, 120b: 36)."""
    num_experts: int = 32
    """Experts per MoE layer (20b: 32, 120b: 128)."""
    experts_per_token: int = 4
    """Experts each token is routed to (top-k)."""
    vocab_size: int = 201088
    """Rows of the embedding and unembedding (o200k_harmony)."""
    hidden_size: int = 2880
    """Residual stream width."""
    intermediate_size: int = 2880
    """Width of one expert's SwiGLU (mlp1 produces twice this, interleaved gate / linear)."""
    swiglu_limit: float = 7.0
    """Clamp applied to the gate (above) and to the linear half (both sides)."""
    swiglu_alpha: float = 1.702
    """Slope inside the SwiGLU sigmoid."""
    head_dim: int = 64
    """Width of one attention head."""
    num_attention_heads: int = 64
    """Query heads."""
    num_key_value_heads: int = 8
    """Key / value heads shared by groups of query heads (grouped-query attention)."""
    sliding_window: int = 128
    """Tokens (including the current one) a sliding-window layer attends to; even layers slide."""
    initial_context_length: int = 4096
    """The pre-YaRN context length the rotary frequencies were trained for."""
    rope_theta: float = 150000.0
    """Rotary base."""
    rope_scaling_factor: float = 32.0
    """YaRN context extension factor (1.0 disables YaRN)."""
    rope_ntk_alpha: float = 1.0
    """YaRN high-frequency boundary in rotations (HF: beta_slow)."""
    rope_ntk_beta: float = 32.0
    """YaRN low-frequency boundary in rotations (HF: beta_fast)."""
    rms_norm_eps: float = 1e-5
    """RMSNorm epsilon."""

    def __post_init__(self) -> None:
        if self.num_attention_heads % self.num_key_value_heads:
            raise EngineError("num_attention_heads must be a multiple of num_key_value_heads")
        if self.hidden_size % 32 or self.intermediate_size % 32:
            raise EngineError("hidden_size and intermediate_size must be multiples of the MXFP4 block (32)")
        if self.head_dim % 2:
            raise EngineError("head_dim must be even (rotary pairs)")
        if not 0 < self.experts_per_token <= self.num_experts:
            raise EngineError("experts_per_token must be between 1 and num_experts")

    @property
    def context_length(self) -> int:
        """Longest sequence the rotary scaling supports (131072 for the released models)."""
        return int(self.initial_context_length * max(self.rope_scaling_factor, 1.0))

    def is_sliding(self, layer: int) -> bool:
        """Even layers use the sliding window, odd layers attend to everything."""
        return layer % 2 == 0

    def to_original(self) -> dict[str, Any]:
        """The original layout's `config.json` content."""
        data = dataclasses.asdict(self)
        data.pop("swiglu_alpha")
        data.pop("rms_norm_eps")
        return data

    def to_hf(self) -> dict[str, Any]:
        """The Hugging Face layout's `config.json` content (loadable by `transformers.GptOssConfig`)."""
        rope = {
            "rope_type": "yarn",
            "factor": self.rope_scaling_factor,
            "beta_fast": self.rope_ntk_beta,
            "beta_slow": self.rope_ntk_alpha,
            "original_max_position_embeddings": self.initial_context_length,
            "truncate": False,
        }
        return {
            "architectures": ["GptOssForCausalLM"],
            "model_type": "gpt_oss",
            "num_hidden_layers": self.num_hidden_layers,
            "num_local_experts": self.num_experts,
            "num_experts_per_tok": self.experts_per_token,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "swiglu_limit": self.swiglu_limit,
            "head_dim": self.head_dim,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "sliding_window": self.sliding_window,
            "rope_theta": self.rope_theta,
            "rope_scaling": rope,
            "rope_parameters": {**rope, "rope_theta": self.rope_theta},
            "max_position_embeddings": self.context_length,
            "rms_norm_eps": self.rms_norm_eps,
            "attention_bias": True,
            "tie_word_embeddings": False,
            "layer_types": [
                "sliding_attention" if self.is_sliding(i) else "full_attention"
                for i in range(self.num_hidden_layers)
            ],
            "quantization_config": {
                "quant_method": "mxfp4",
                "modules_to_not_convert": [
                    "model.layers.*.self_attn",
                    "model.layers.*.mlp.router",
                    "model.embed_tokens",
                    "lm_head",
                ],
            },
        }

    @classmethod
    def from_original(cls, data: dict[str, Any]) -> EngineConfig:
        """Read the original layout's `config.json`; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_hf(cls, data: dict[str, Any]) -> EngineConfig:
        """Read a Hugging Face `config.json` (`model_type: gpt_oss`), old (`rope_scaling`) or new style."""
        rope = dict(data.get("rope_scaling") or {})
        rope.update(data.get("rope_parameters") or {})
        theta = rope.get("rope_theta", data.get("rope_theta", 150000.0))
        yarn = rope.get("rope_type", rope.get("type")) == "yarn"
        return cls(
            num_hidden_layers=data["num_hidden_layers"],
            num_experts=data["num_local_experts"],
            experts_per_token=data["num_experts_per_tok"],
            vocab_size=data["vocab_size"],
            hidden_size=data["hidden_size"],
            intermediate_size=data["intermediate_size"],
            swiglu_limit=data.get("swiglu_limit", 7.0),
            swiglu_alpha=data.get("swiglu_alpha", 1.702),
            head_dim=data.get("head_dim", data["hidden_size"] // data["num_attention_heads"]),
            num_attention_heads=data["num_attention_heads"],
            num_key_value_heads=data["num_key_value_heads"],
            sliding_window=data.get("sliding_window", 128),
            initial_context_length=rope.get("original_max_position_embeddings", 4096),
            rope_theta=float(theta),
            rope_scaling_factor=float(rope.get("factor", 1.0)) if yarn else 1.0,
            rope_ntk_alpha=float(rope.get("beta_slow", 1.0)),
            rope_ntk_beta=float(rope.get("beta_fast", 32.0)),
            rms_norm_eps=data.get("rms_norm_eps", 1e-5),
        )


SHAPES: dict[str, EngineConfig] = {
    "20b": EngineConfig(),
    "120b": EngineConfig(num_hidden_layers=36, num_experts=128),
    "tiny": EngineConfig(
        num_hidden_layers=4,
        num_experts=8,
        hidden_size=64,
        intermediate_size=64,
        head_dim=16,
        num_attention_heads=4,
        num_key_value_heads=2,
        sliding_window=8,
    ),
}
"""Published shapes (random weights via `agentoss engine synth`) and a tiny one with the real vocabulary."""


def detect_layout(directory: Path) -> tuple[Layout, Path]:
    """Which layout `directory` holds, and the folder with its `config.json` and safetensors files.

    A Hugging Face download holds the HF layout at the top and the original layout in `original/`;
    the top level wins.
    """
    for candidate in (directory, directory / "original"):
        config_path = candidate / "config.json"
        if not config_path.is_file():
            continue
        data = _read_json(config_path)
        if data.get("model_type") == "gpt_oss" or "num_local_experts" in data:
            return "hf", candidate
        if "num_experts" in data:
            return "original", candidate
    raise EngineError(
        f"{directory} holds no gpt-oss checkpoint (no config.json with gpt-oss keys). "
        "Fix: `agentoss engine fetch` or `agentoss engine synth --out DIR`"
    )


def read_config(directory: Path) -> tuple[EngineConfig, Layout, Path]:
    """The configuration, layout and weights folder of the checkpoint in `directory`."""
    layout, folder = detect_layout(directory)
    data = _read_json(folder / "config.json")
    try:
        config = EngineConfig.from_hf(data) if layout == "hf" else EngineConfig.from_original(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise EngineError(f"{folder / 'config.json'}: invalid gpt-oss config ({exc})") from exc
    return config, layout, folder


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EngineError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise EngineError(f"{path}: expected a JSON object")
    return data
