"""Inference on tiny checkpoints: the KV cache equals recomputation, batching equals one-by-one, sampling."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from engine_fixtures import TINY, make_checkpoint

from agentoss.engine.engine import Engine, sample
from agentoss.engine.tensorfile import TensorFiles
from agentoss.errors import EngineError


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    folder = make_checkpoint(tmp_path_factory.mktemp("engine-inf"), TINY, "hf")
    return Engine.load(folder, device="cpu", dtype="float32")


def test_cached_decode_equals_full_recompute_past_the_window(engine: Engine) -> None:
    prompt = [5, 17, 42, 99, 3]
    generation = engine.start([prompt], temperature=0.0)
    sequence = list(prompt)
    stepwise = [generation.logits[0]]
    for _ in range(4 * TINY.sliding_window):
        sequence += generation.step()
        stepwise.append(generation.logits[0])
    full = engine.logits(sequence)
    cached = torch.stack(stepwise)
    assert (cached - full[len(prompt) - 1 :]).abs().max().item() < 1e-5
    # The sliding layer (0) keeps only its window; the full layer (1) keeps every position.
    assert generation.cache.slots(0) == TINY.sliding_window
    assert generation.cache.slots(1) == len(sequence)


def test_tokens_beyond_the_sliding_window_are_invisible(tmp_path: Path) -> None:
    """One sliding layer only: what lies before the last `sliding_window` tokens cannot change the output."""
    config = dataclasses.replace(TINY, num_hidden_layers=1)
    single = Engine.load(make_checkpoint(tmp_path, config, "original"), device="cpu", dtype="float32")
    tail = list(range(7, 7 + config.sliding_window))
    first = single.logits([1, 2, 3, *tail])[-1]
    second = single.logits([200, 201, 202, *tail])[-1]
    assert (first - second).abs().max().item() < 1e-6
    # One token of difference inside the window does change it.
    third = single.logits([1, 2, 3, 250, *tail[1:]])[-1]
    assert (first - third).abs().max().item() > 1e-4


def test_batched_equals_unbatched(engine: Engine) -> None:
    prompts = [[11, 12, 13], [1, 2, 3, 4, 5, 6, 7, 8, 9], list(range(30, 44))]
    batched = engine.generate(prompts, max_tokens=10)
    alone = [engine.generate([p], max_tokens=10)[0] for p in prompts]
    assert batched == alone
    cache, logits = engine.prefill(prompts)
    for row, prompt in enumerate(prompts):
        assert (logits[row] - engine.logits(prompt)[-1]).abs().max().item() < 1e-5
    assert cache.next_positions is not None and cache.next_positions.tolist() == [3, 9, 14]


def test_generate_stops_at_and_includes_a_stop_token(engine: Engine) -> None:
    free = engine.generate([[4, 5, 6]], max_tokens=8)[0]
    assert len(free) == 8
    stop = free[3]
    first = free.index(stop)
    stopped = engine.generate([[4, 5, 6]], max_tokens=8, stop_token_ids=[stop])[0]
    assert stopped == free[: first + 1]


def test_seeded_sampling_is_reproducible_and_seed_dependent(engine: Engine) -> None:
    runs = [engine.generate([[1, 2, 3]], max_tokens=12, temperature=1.0, seed=s)[0] for s in (7, 7, 8)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_top_p_keeps_only_the_nucleus() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).expand(400, 4)
    generator = torch.Generator().manual_seed(0)
    drawn = sample(logits, temperature=1.0, top_p=0.7, generator=generator)
    assert set(drawn.tolist()) == {0, 1}
    drawn = sample(logits, temperature=1.0, top_p=1.0, generator=generator)
    assert set(drawn.tolist()) == {0, 1, 2, 3}
    assert sample(logits[:1], temperature=0.0, top_p=1.0, generator=None).tolist() == [0]
    assert set(sample(logits, temperature=1.0, top_p=0.0, generator=generator).tolist()) == {0}


def test_bad_inputs_raise_engine_errors(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="vocabulary"):
        engine.logits([TINY.vocab_size])
    with pytest.raises(EngineError, match="at least one token"):
        engine.prefill([[]])
    with pytest.raises(EngineError, match="no gpt-oss checkpoint"):
        Engine.load(tmp_path)
    folder = make_checkpoint(tmp_path, TINY, "original")
    with pytest.raises(EngineError, match="dtype must be"):
        Engine.load(folder, dtype="float16")
    if not torch.cuda.is_available():
        with pytest.raises(EngineError, match="no GPU"):
            Engine.load(folder, device="cuda")


def test_expert_cache_changes_nothing_but_stays_within_budget(tmp_path: Path) -> None:
    folder = make_checkpoint(tmp_path, TINY, "original")
    uncached = Engine.load(folder, device="cpu", dtype="float32", expert_cache_bytes=0)
    one_pair = 3 * TINY.hidden_size * TINY.intermediate_size * 4  # mlp1 + mlp2 of one expert, fp32
    small = Engine.load(folder, device="cpu", dtype="float32", expert_cache_bytes=2 * one_pair)
    ids = list(range(20, 40))
    expected = uncached.logits(ids)
    assert torch.equal(small.logits(ids), expected)
    assert torch.equal(small.logits(ids), expected)  # second pass partly from the cache
    assert len(small.experts._kept) == 2 and small.experts._used <= 2 * one_pair
    assert not uncached.experts._kept


def test_checkpoint_disagreeing_with_its_config_names_the_tensor(tmp_path: Path) -> None:
    folder = make_checkpoint(tmp_path, TINY, "hf")
    config = (folder / "config.json").read_text()
    (folder / "config.json").write_text(config.replace('"num_local_experts": 4', '"num_local_experts": 8'))
    with pytest.raises(EngineError, match=r"router\.weight: shape"):
        Engine.load(folder, device="cpu")


def test_chunked_prefill_and_cache_growth_equal_one_pass(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [(7 * i) % TINY.vocab_size for i in range(70)]
    one_pass = engine.logits(ids)
    monkeypatch.setattr("agentoss.engine.engine._MAX_CHUNK", 16)
    monkeypatch.setattr("agentoss.engine.engine._ATTENTION_BUDGET", 1)  # forces the 16-token floor
    chunked = engine.logits(ids)
    assert (chunked - one_pass).abs().max().item() < 1e-5
    # Decoding across the full layer's buffer growth (64 slots, then doubled) stays exact.
    generation = engine.start([ids[:60]], temperature=0.0)
    fed = list(ids[:60])
    for token in ids[60:]:
        generation.feed([token])
        fed.append(token)
    assert generation.cache.slots(1) == 70
    assert (generation.logits[0] - one_pass[-1]).abs().max().item() < 1e-5


def test_synthesized_files_are_standard_safetensors(tmp_path: Path) -> None:
    safetensors_torch = pytest.importorskip("safetensors.torch")
    folder = make_checkpoint(tmp_path, TINY, "original")
    standard = safetensors_torch.load_file(str(folder / "model.safetensors"))
    ours = TensorFiles(folder)
    assert set(standard) == ours.names()
    for name, tensor in standard.items():
        assert torch.equal(ours.get(name), tensor), name
    assert standard["block.0.mlp.mlp1_weight.blocks"].dtype == torch.uint8
    assert standard["block.0.attn.qkv.weight"].dtype == torch.bfloat16
