"""MXFP4: the packed 4-bit expert weights of gpt-oss, and their exact dequantisation.

OCP Microscaling Formats (MX) v1.0, section 5: a block of 32 FP4 (E2M1) elements shares one E8M0
scale. gpt-oss stores the elements two per byte, low nibble first (`blocks`, shape `[..., G, 16]`)
and one uint8 exponent per block with bias 127 (`scales`, shape `[..., G]`). The value of code `c`
in a block with scale byte `s` is `FP4_VALUES[c] * 2 ** (s - 127)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["BLOCK", "FP4_VALUES", "SCALE_BIAS", "dequantize", "random_packed"]

BLOCK = 32
"""Elements sharing one scale."""
SCALE_BIAS = 127
"""E8M0 exponent bias."""
FP4_VALUES: tuple[float, ...] = (
    0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
    -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0,
)  # fmt: skip
"""E2M1 code -> value: codes 0-7 are the non-negative values, 8-15 the same with the sign bit."""

_QUAD_TABLES: dict[tuple[str, str], torch.Tensor] = {}


def _quad_table(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Two packed bytes (as one uint16, little-endian) -> their four FP4 values: one lookup, four elements."""
    import torch

    key = (str(device), str(dtype))
    table = _QUAD_TABLES.get(key)
    if table is None:
        values = torch.tensor(FP4_VALUES, dtype=dtype)
        codes = torch.arange(1 << 16)
        table = torch.stack([values[(codes >> shift) & 0x0F] for shift in (0, 4, 8, 12)], dim=-1)
        table = table.contiguous().to(device)
        _QUAD_TABLES[key] = table
    return table


def dequantize(blocks: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Unpack MXFP4 `blocks` `[..., G, 16]` with `scales` `[..., G]` into `[..., G * 32]` of `dtype`.

    Exact: every FP4 value times a power of two is representable in bf16 and fp32, so multiplying by the
    scale built from its exponent bits gives the same bits as `ldexp` (short of overflow).
    """
    import torch
    import torch.nn.functional as F

    if blocks.shape[:-1] != scales.shape or blocks.shape[-1] != BLOCK // 2:
        raise ValueError(f"MXFP4 shapes disagree: blocks {tuple(blocks.shape)}, scales {tuple(scales.shape)}")
    pairs = blocks.contiguous().view(torch.int16).to(torch.int32)
    pairs &= 0xFFFF
    values = F.embedding(pairs, _quad_table(blocks.device, dtype)).view(*scales.shape, BLOCK)
    exponents = scales.to(torch.int32)
    if bool(((exponents == 0) | (exponents == 255)).any()):
        # 2**-127 is subnormal and 2**128 overflows: no exponent-bits shortcut, use ldexp itself.
        values = torch.ldexp(values, (exponents - SCALE_BIAS).unsqueeze(-1))
    else:
        factors = (exponents << 23).view(torch.float32).to(dtype)  # float32 with exponent field s: 2**(s-127)
        values *= factors.unsqueeze(-1)
    return values.reshape(*scales.shape[:-1], scales.shape[-1] * BLOCK)


def random_packed(
    shape: tuple[int, ...], generator: torch.Generator, *, scale_exponent: int = -6
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random MXFP4 data for a `[..., N]` weight: `blocks` `[..., N/32, 16]`, `scales` `[..., N/32]`.

    Scales sit at `2 ** scale_exponent` give or take one binade, so values stay near 0.02-0.1, the
    magnitude of trained expert weights.
    """
    import torch

    *prefix, columns = shape
    groups = columns // BLOCK
    blocks = torch.randint(0, 256, (*prefix, groups, BLOCK // 2), dtype=torch.uint8, generator=generator)
    scales = torch.randint(-1, 2, (*prefix, groups), generator=generator, dtype=torch.int16)
    scales = (scales + SCALE_BIAS + scale_exponent).to(torch.uint8)
    return blocks, scales
