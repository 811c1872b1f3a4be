"""TorchBackend behind the Backend interface, the `agentoss engine` CLI, and torch-free imports."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_fixtures import TINY, make_checkpoint

from agentoss.backends.base import Backend, Chunk, FinishReason, SamplingParams
from agentoss.cli.engine import command
from agentoss.engine.backend import TorchBackend
from agentoss.engine.engine import Engine
from agentoss.errors import ContextLengthError
from agentoss.registry import load


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> TorchBackend:
    folder = make_checkpoint(tmp_path_factory.mktemp("engine-backend"), TINY, "original")
    return TorchBackend.load(folder, device="cpu", dtype="float32")


async def _collect(backend: TorchBackend, prompt: list[int], params: SamplingParams) -> list[Chunk]:
    return [chunk async for chunk in backend.stream(prompt, params)]


async def test_stream_matches_greedy_generate_and_ends_on_length(backend: TorchBackend) -> None:
    assert isinstance(backend, Backend)
    chunks = await _collect(backend, [3, 4, 5], SamplingParams(max_tokens=6, temperature=0.0))
    tokens = [t for chunk in chunks for t in chunk.token_ids]
    assert tokens == backend.engine.generate([[3, 4, 5]], max_tokens=6)[0]
    assert [c.finish_reason for c in chunks] == [None] * 5 + [FinishReason.LENGTH]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
    assert chunks[-1].usage.prompt_tokens == 3


async def test_stream_stops_on_a_stop_token_and_includes_it(backend: TorchBackend) -> None:
    free = backend.engine.generate([[3, 4, 5]], max_tokens=6)[0]
    stop = free[2]
    params = SamplingParams(max_tokens=6, temperature=0.0, stop_token_ids=(stop,))
    chunks = await _collect(backend, [3, 4, 5], params)
    tokens = [t for chunk in chunks for t in chunk.token_ids]
    assert tokens == free[: free.index(stop) + 1]
    assert chunks[-1].finish_reason is FinishReason.STOP and chunks[-1].stop_token == stop


async def test_concurrent_requests_are_served_correctly(backend: TorchBackend) -> None:
    params = SamplingParams(max_tokens=5, temperature=1.0, seed=11)
    first, second = await asyncio.gather(
        _collect(backend, [9, 9, 9], params), _collect(backend, [1, 2], params)
    )
    again = await _collect(backend, [1, 2], params)
    assert [c.token_ids for c in second] == [c.token_ids for c in again]
    assert first[-1].finish_reason is FinishReason.LENGTH


async def test_prompt_beyond_the_context_window_raises_before_running(backend: TorchBackend) -> None:
    window = await backend.context_window()
    assert window == TINY.context_length
    with pytest.raises(ContextLengthError) as caught:
        await _collect(backend, [0] * window, SamplingParams(max_tokens=1))
    assert caught.value.max_model_len == window
    zero = await _collect(backend, [1], SamplingParams(max_tokens=0))
    assert zero[-1].finish_reason is FinishReason.LENGTH and not zero[-1].token_ids
    await backend.aclose()


def test_registry_name_torch_is_this_backend() -> None:
    assert load("backend", "torch") is TorchBackend


def test_cli_synth_tiny_shape_loads_and_generates(tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    result = CliRunner().invoke(command, ["synth", "--shape", "tiny", "--out", str(out), "--layout", "hf"])
    assert result.exit_code == 0, result.output
    assert "tiny" in result.output and (out / "model.safetensors").is_file()
    engine = Engine.load(out, device="cpu")
    assert engine.config.vocab_size == 201088 and engine.config.num_hidden_layers == 4
    harmony_prompt = [
        200006,
        1428,
        200008,
        12194,
        200007,
        200006,
        173781,
    ]  # <|start|>user...<|start|>assistant
    produced = engine.generate([harmony_prompt], max_tokens=3)[0]
    assert len(produced) == 3 and all(0 <= t < 201088 for t in produced)
    again = CliRunner().invoke(command, ["synth", "--shape", "tiny", "--out", str(out)])
    assert again.exit_code != 0 and "already holds" in again.output


def test_cli_fetch_errors_clearly_without_huggingface_hub(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    result = CliRunner().invoke(command, ["fetch", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "pip install huggingface_hub" in result.output


def test_cli_fetch_errors_clearly_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = types.ModuleType("huggingface_hub")
    requested: list[str] = []

    def snapshot_download(repo_id: str, **_: object) -> str:
        requested.append(repo_id)
        raise OSError("Cannot reach https://huggingface.co: offline mode is enabled")

    fake.snapshot_download = snapshot_download  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)
    result = CliRunner().invoke(command, ["fetch", "--model", "120b", "--out", str(tmp_path)])
    assert requested == ["openai/gpt-oss-120b"]
    assert result.exit_code != 0 and "could not download openai/gpt-oss-120b" in result.output
    assert "engine synth" in result.output


def test_engine_package_imports_without_torch() -> None:
    code = (
        "import sys, agentoss.engine, agentoss.engine.backend, agentoss.engine.synth, agentoss.cli.engine\n"
        "from agentoss.engine import EngineConfig, SHAPES\n"
        "assert SHAPES['20b'].num_experts == 32\n"
        "assert 'torch' not in sys.modules, 'torch imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_public_names_exist_and_are_documented() -> None:
    import agentoss.engine as engine_package

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for name in engine_package.__all__:
        assert getattr(engine_package, name) is not None
        assert f"`{name}" in readme, f"{name} is public but not in the README"


async def test_a_stream_closed_early_leaves_the_backend_usable(backend: TorchBackend) -> None:
    params = SamplingParams(max_tokens=8, temperature=0.0)
    stream = backend.stream([3, 4, 5], params)
    first = await stream.__anext__()
    assert len(first.token_ids) == 1 and first.finish_reason is None
    await stream.aclose()  # type: ignore[attr-defined]
    chunks = await _collect(backend, [3, 4, 5], params)
    assert chunks[0].token_ids == first.token_ids and chunks[-1].finish_reason is FinishReason.LENGTH
