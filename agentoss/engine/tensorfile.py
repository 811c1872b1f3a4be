"""Zero-copy reading and streaming writing of safetensors files.

The format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a
JSON header mapping each tensor name to `{dtype, shape, data_offsets}`, then the raw bytes. Reading
memory-maps the file, so a 13 GB checkpoint costs resident memory only for the pages actually touched;
writing streams one tensor at a time, so `engine synth` never holds a whole checkpoint in memory.
"""

from __future__ import annotations

import json
import struct
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentoss.errors import EngineError

if TYPE_CHECKING:
    import torch

__all__ = ["TensorFiles", "TensorSpec", "write_safetensors"]

_ITEMSIZE = {"BF16": 2, "F16": 2, "F32": 4, "U8": 1, "I8": 1, "I32": 4, "I64": 8}


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One tensor to write: its name, safetensors dtype, shape, and a function producing its data."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    make: Callable[[], torch.Tensor]

    @property
    def nbytes(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count * _ITEMSIZE[self.dtype]


class TensorFiles:
    """Every tensor of the `*.safetensors` files in one folder, memory-mapped lazily by name."""

    def __init__(self, folder: Path) -> None:
        self._index: dict[str, tuple[Path, int, str, tuple[int, ...]]] = {}
        self._maps: dict[Path, Any] = {}
        files = sorted(folder.glob("*.safetensors"))
        if not files:
            raise EngineError(f"{folder}: no *.safetensors files")
        for path in files:
            for name, (offset, dtype, shape) in _read_header(path).items():
                self._index[name] = (path, offset, dtype, shape)

    def names(self) -> set[str]:
        return set(self._index)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def get(self, name: str) -> torch.Tensor:
        """The tensor `name` as a read-only view of the mapped file (no copy)."""
        import numpy as np
        import torch

        try:
            path, offset, dtype, shape = self._index[name]
        except KeyError:
            raise EngineError(f"checkpoint lacks tensor {name!r}") from None
        if path not in self._maps:
            self._maps[path] = np.memmap(path, dtype=np.uint8, mode="r")
        count = 1
        for dim in shape:
            count *= dim
        raw = self._maps[path][offset : offset + count * _ITEMSIZE[dtype]]
        with warnings.catch_warnings():
            # The mapping is read-only; the engine never writes into checkpoint tensors.
            warnings.simplefilter("ignore", UserWarning)
            data = torch.from_numpy(raw)
        torch_dtype = {
            "BF16": torch.bfloat16,
            "F16": torch.float16,
            "F32": torch.float32,
            "U8": torch.uint8,
            "I8": torch.int8,
            "I32": torch.int32,
            "I64": torch.int64,
        }[dtype]
        if torch_dtype != torch.uint8:
            if offset % torch_dtype.itemsize:
                data = data.clone()
            data = data.view(torch_dtype)
        return data.reshape(shape)


def _read_header(path: Path) -> dict[str, tuple[int, str, tuple[int, ...]]]:
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > 100_000_000:
                raise EngineError(f"{path}: implausible safetensors header length {length}")
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error) as exc:
        raise EngineError(f"{path}: not a safetensors file ({exc})") from exc
    base = 8 + length
    entries: dict[str, tuple[int, str, tuple[int, ...]]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _ITEMSIZE:
            raise EngineError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        entries[name] = (base + int(info["data_offsets"][0]), info["dtype"], tuple(info["shape"]))
    return entries


def write_safetensors(
    path: Path, tensors: Iterable[TensorSpec], *, on_bytes: Callable[[int], None] | None = None
) -> None:
    """Write `tensors` to `path`, producing and writing one at a time (bounded memory)."""
    import torch

    specs = list(tensors)
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for spec in specs:
        header[spec.name] = {
            "dtype": spec.dtype,
            "shape": list(spec.shape),
            "data_offsets": [offset, offset + spec.nbytes],
        }
        offset += spec.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # keep the data 8-byte aligned, as safetensors does
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)))
        handle.write(encoded)
        for spec in specs:
            data = spec.make().contiguous()
            if tuple(data.shape) != spec.shape:
                raise EngineError(f"{spec.name}: made shape {tuple(data.shape)}, declared {spec.shape}")
            raw = data.reshape(-1).view(torch.uint8).numpy()
            if raw.nbytes != spec.nbytes:
                raise EngineError(f"{spec.name}: made {raw.nbytes} bytes, declared {spec.nbytes}")
            handle.write(raw.data)
            if on_bytes is not None:
                on_bytes(raw.nbytes)
