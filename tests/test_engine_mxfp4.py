"""MXFP4 dequantisation: bit-exact against the FP4 lookup table and transformers' converter."""

from __future__ import annotations

import pytest
import torch

from agentoss.engine.mxfp4 import FP4_VALUES, dequantize, random_packed


def _every_byte_and_scale() -> tuple[torch.Tensor, torch.Tensor]:
    """Blocks holding all 256 byte values, under scale bytes spanning the usable exponent range."""
    scales = torch.tensor([1, 64, 100, 120, 127, 128, 130, 160, 200, 250], dtype=torch.uint8)
    codes = torch.arange(256, dtype=torch.uint8).reshape(16, 16)
    blocks = codes.expand(len(scales), 16, 16).reshape(len(scales), 16, 16)
    return blocks.contiguous(), scales[:, None].expand(len(scales), 16).contiguous()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dequantize_matches_the_lookup_table_bit_for_bit(dtype: torch.dtype) -> None:
    blocks, scales = _every_byte_and_scale()
    ours = dequantize(blocks, scales, dtype)
    assert ours.shape == (10, 16 * 32) and ours.dtype == dtype
    expected = torch.empty(10, 16, 32, dtype=torch.float64)
    for row in range(10):
        for group in range(16):
            factor = 2.0 ** (int(scales[row, group]) - 127)
            for position in range(16):
                byte = int(blocks[row, group, position])
                expected[row, group, 2 * position] = FP4_VALUES[byte & 0x0F] * factor  # low nibble first
                expected[row, group, 2 * position + 1] = FP4_VALUES[byte >> 4] * factor
    expected_dtype = expected.reshape(10, -1).to(dtype)
    assert torch.equal(
        ours.view(torch.int16 if dtype == torch.bfloat16 else torch.int32),
        expected_dtype.view(torch.int16 if dtype == torch.bfloat16 else torch.int32),
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dequantize_is_bit_identical_to_transformers(dtype: torch.dtype) -> None:
    mxfp4 = pytest.importorskip("transformers.integrations.mxfp4")
    generator = torch.Generator().manual_seed(3)
    blocks, scales = random_packed((4, 96, 128), generator)  # [E, rows, cols] like mlp1
    theirs = mxfp4.convert_moe_packed_tensors(blocks, scales, dtype=dtype).transpose(1, 2)
    ours = dequantize(blocks, scales, dtype)
    assert ours.shape == (4, 96, 128)
    bits = torch.int16 if dtype == torch.bfloat16 else torch.int32
    assert torch.equal(ours.contiguous().view(bits), theirs.contiguous().view(bits))
    assert ours.abs().max() > 0


def test_negative_zero_and_sign_codes_are_kept() -> None:
    blocks = torch.tensor([[[0x80] + [0x00] * 15]], dtype=torch.uint8)  # high nibble 8 = -0.0
    out = dequantize(blocks, torch.tensor([[127]], dtype=torch.uint8), torch.float32)
    assert out[0, 1].item() == 0.0 and torch.signbit(out[0, 1])
    blocks = torch.tensor([[[0xF7] + [0x00] * 15]], dtype=torch.uint8)  # low 7 = 6.0, high 15 = -6.0
    out = dequantize(blocks, torch.tensor([[129]], dtype=torch.uint8), torch.float32)
    assert out[0, :2].tolist() == [24.0, -24.0]


def test_mismatched_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="MXFP4 shapes"):
        dequantize(
            torch.zeros(2, 3, 16, dtype=torch.uint8), torch.zeros(2, 4, dtype=torch.uint8), torch.float32
        )
