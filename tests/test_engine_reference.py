"""The engine against transformers' GptOssForCausalLM (code we did not write), on tiny checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from engine_fixtures import CONFIGS, make_checkpoint, reference_model

from agentoss.engine.engine import Engine

pytest.importorskip("transformers")


def _ids(config_name: str, length: int) -> list[int]:
    vocab = CONFIGS[config_name].vocab_size
    generator = torch.Generator().manual_seed(length)
    return torch.randint(0, vocab, (length,), generator=generator).tolist()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    root = tmp_path_factory.mktemp("engine-ref")
    return {
        name: {layout: make_checkpoint(root / name, config, layout) for layout in ("original", "hf")}
        for name, config in CONFIGS.items()
    }


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_fp32_logits_match_transformers_in_both_layouts(
    checkpoints: dict[str, dict[str, Path]], config_name: str
) -> None:
    config = CONFIGS[config_name]
    ids = _ids(config_name, 3 * config.sliding_window + 5)  # well past the sliding window
    reference = reference_model(checkpoints[config_name]["hf"])
    with torch.no_grad():
        expected = reference(torch.tensor([ids])).logits[0].float()
    for layout in ("original", "hf"):
        engine = Engine.load(checkpoints[config_name][layout], device="cpu", dtype="float32")
        ours = engine.logits(ids)
        assert ours.shape == (len(ids), config.vocab_size)
        diff = (ours - expected).abs().max().item()
        assert diff < 1e-4, f"{config_name}/{layout}: max abs diff {diff}"
    # The comparison means something: the logits are not flat.
    assert expected.std().item() > 1e-2


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_bf16_logits_are_as_close_to_fp32_as_transformers_bf16(
    checkpoints: dict[str, dict[str, Path]], config_name: str
) -> None:
    ids = _ids(config_name, 29)
    reference = reference_model(checkpoints[config_name]["hf"], dtype=torch.bfloat16)
    with torch.no_grad():
        theirs = reference(torch.tensor([ids])).logits[0].float()
    ours = Engine.load(checkpoints[config_name]["original"], device="cpu", dtype="bfloat16").logits(ids)
    exact = Engine.load(checkpoints[config_name]["original"], device="cpu", dtype="float32").logits(ids)
    # Per position, the largest error; the median over positions ignores the odd position where a
    # near-tied router choice flips under bf16 rounding (chaotic in random tiny models, either side).
    ours_err = (ours - exact).abs().amax(dim=-1)
    theirs_err = (theirs - exact).abs().amax(dim=-1)
    print(
        f"{config_name} bf16 vs fp32, per-position max abs diff: ours median {ours_err.median():.4f} "
        f"max {ours_err.max():.4f}; transformers median {theirs_err.median():.4f} "
        f"max {theirs_err.max():.4f}; "
        f"ours vs transformers max {(ours - theirs).abs().max():.4f}"
    )
    assert ours_err.median() <= 3 * theirs_err.median() + 1e-3
    assert (ours.argmax(-1) == exact.argmax(-1)).float().mean().item() > 0.9


def test_unequal_seeds_give_different_models(checkpoints: dict[str, dict[str, Path]], tmp_path: Path) -> None:
    other = make_checkpoint(tmp_path, CONFIGS["tiny"], "original", seed=1)
    ids = _ids("tiny", 10)
    first = Engine.load(checkpoints["tiny"]["original"], device="cpu", dtype="float32").logits(ids)
    second = Engine.load(other, device="cpu", dtype="float32").logits(ids)
    assert (first - second).abs().max().item() > 1e-2
