"""The embedded gpt-oss engine: PyTorch inference with MXFP4 experts kept packed, on CPU or one GPU.

Names load lazily, so `import agentoss.engine` imports no torch. Entry points: `Engine.load(path,
device=None, dtype=None)` then `engine.logits(ids)` / `engine.generate(prompts, ...)`; `TorchBackend`
(the `Backend` for `--backend torch`); `synthesize_checkpoint` (random weights, published shapes).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentoss.engine.backend import TorchBackend
    from agentoss.engine.config import SHAPES, EngineConfig
    from agentoss.engine.engine import Engine, Generation
    from agentoss.engine.mxfp4 import dequantize
    from agentoss.engine.synth import synthesize_checkpoint

__all__ = [
    "SHAPES",
    "Engine",
    "EngineConfig",
    "Generation",
    "TorchBackend",
    "dequantize",
    "synthesize_checkpoint",
]

_WHERE = {
    "SHAPES": "agentoss.engine.config",
    "EngineConfig": "agentoss.engine.config",
    "Engine": "agentoss.engine.engine",
    "Generation": "agentoss.engine.engine",
    "TorchBackend": "agentoss.engine.backend",
    "dequantize": "agentoss.engine.mxfp4",
    "synthesize_checkpoint": "agentoss.engine.synth",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'agentoss.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
