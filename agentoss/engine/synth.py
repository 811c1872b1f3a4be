"""Synthetic gpt-oss checkpoints: the published tensor shapes and layouts filled with seeded random weights.

For tests, benchmarks and capacity checks without downloading anything. Each tensor is generated from a
seed derived from its logical name (not its file name), so the same `seed` writes the same model in
both layouts, and tensors are produced one at a time so a 13 GB checkpoint needs little memory.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from agentoss.engine.config import EngineConfig, Layout
from agentoss.engine.mxfp4 import random_packed
from agentoss.engine.tensorfile import TensorSpec, write_safetensors
from agentoss.engine.weights import GLOBAL_NAMES, TENSOR_NAMES, expected_shapes
from agentoss.errors import EngineError

if TYPE_CHECKING:
    import torch

__all__ = ["checkpoint_bytes", "synthesize_checkpoint"]

_DENSE_STD = 0.02


def _generator(seed: int, key: str) -> torch.Generator:
    import torch

    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def _dense(
    seed: int, key: str, shape: tuple[int, ...], *, mean: float = 0.0, std: float = _DENSE_STD
) -> Callable:
    def make() -> torch.Tensor:
        import torch

        values = torch.randn(shape, generator=_generator(seed, key)) * std + mean
        return values.to(torch.bfloat16)

    return make


def _packed(seed: int, key: str, shape: tuple[int, ...], part: int) -> Callable:
    def make() -> torch.Tensor:
        *prefix, groups, _ = shape
        return random_packed((*prefix, groups * 32), _generator(seed, key))[part]

    return make


def _layer_makers(config: EngineConfig, seed: int, index: int) -> dict[str, tuple[tuple[int, ...], Callable]]:
    """LayerWeights field -> (shape, maker)."""
    makers: dict[str, tuple[tuple[int, ...], Callable]] = {}
    for field, shape in expected_shapes(config).items():
        key = f"layer{index}.{field}"
        if field.endswith("_blocks"):
            makers[field] = (shape, _packed(seed, key.removesuffix("_blocks"), shape, 0))
        elif field.endswith("_scales"):
            makers[field] = (shape, _packed(seed, key.removesuffix("_scales"), (*shape, 16), 1))
        elif field.endswith("norm"):
            makers[field] = (shape, _dense(seed, key, shape, mean=1.0, std=0.1))
        elif field == "sinks":
            makers[field] = (shape, _dense(seed, key, shape, std=1.0))
        else:
            makers[field] = (shape, _dense(seed, key, shape))
    return makers


def _specs(config: EngineConfig, layout: Layout, seed: int) -> list[TensorSpec]:
    import torch

    vocab = (config.vocab_size, config.hidden_size)
    embed_name, norm_name, unembed_name = GLOBAL_NAMES[layout]
    specs = [TensorSpec(embed_name, "BF16", vocab, _dense(seed, "embedding", vocab))]
    for index in range(config.num_hidden_layers):
        makers = _layer_makers(config, seed, index)
        if layout == "original":
            parts = [makers.pop(f"{p}_{kind}") for kind in ("weight", "bias") for p in "qkv"]
            for kind, trio in (("weight", parts[:3]), ("bias", parts[3:])):
                shape = (sum(s[0] for s, _ in trio), *trio[0][0][1:])
                fns = [fn for _, fn in trio]

                def fused(fns: list[Callable] = fns) -> torch.Tensor:
                    return torch.cat([fn() for fn in fns], dim=0)

                specs.append(TensorSpec(f"block.{index}.attn.qkv.{kind}", "BF16", shape, fused))
        for field, pattern in TENSOR_NAMES[layout].items():
            shape, make = makers[field]
            dtype = "U8" if field.endswith(("_blocks", "_scales")) else "BF16"
            specs.append(TensorSpec(pattern.format(i=index), dtype, shape, make))
    specs.append(
        TensorSpec(
            norm_name,
            "BF16",
            (config.hidden_size,),
            _dense(seed, "norm", (config.hidden_size,), mean=1.0, std=0.1),
        )
    )
    specs.append(TensorSpec(unembed_name, "BF16", vocab, _dense(seed, "unembedding", vocab)))
    return specs


def checkpoint_bytes(config: EngineConfig) -> int:
    """Size in bytes of the tensors of a checkpoint of `config` (either layout)."""
    return sum(spec.nbytes for spec in _specs(config, "original", 0))


def synthesize_checkpoint(
    config: EngineConfig,
    out_dir: str | Path,
    *,
    layout: Layout = "original",
    seed: int = 0,
    on_bytes: Callable[[int], None] | None = None,
) -> Path:
    """Write a random checkpoint of `config` in `layout` to `out_dir`; returns the folder."""
    if layout not in TENSOR_NAMES:
        raise EngineError(f"unknown layout {layout!r}; choose original or hf")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.glob("*.safetensors")):
        raise EngineError(f"{folder} already holds safetensors files; choose an empty folder")
    specs = _specs(config, layout, seed)
    total = sum(spec.nbytes for spec in specs)
    free = shutil.disk_usage(folder).free
    if free < total:
        raise EngineError(f"{folder}: needs {total / 2**30:.1f} GiB free, has {free / 2**30:.1f} GiB")
    content = config.to_hf() if layout == "hf" else config.to_original()
    (folder / "config.json").write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    target = folder / "model.safetensors"
    try:
        write_safetensors(target, specs, on_bytes=on_bytes)
    except BaseException:
        target.unlink(missing_ok=True)  # never leave a truncated checkpoint that looks loadable
        raise
    return folder
