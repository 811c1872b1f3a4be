"""`agentoss engine synth|fetch`: a random checkpoint of the published shapes, or download the real one."""

from __future__ import annotations

import os
from pathlib import Path

import click

from agentoss.cli.serve_model import MODELS

__all__ = ["command"]


@click.group("engine")
def command() -> None:
    """The embedded PyTorch engine: synth / fetch checkpoints."""


@command.command("synth")
@click.option("--shape", type=click.Choice(["20b", "120b", "tiny"]), default="tiny", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--layout", type=click.Choice(["original", "hf"]), default="original", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def synth(shape: str, out_dir: Path, layout: str, seed: int) -> None:
    """Write a checkpoint of exactly the published shapes with random weights (MXFP4 experts).

    Downloads nothing. Use it for tests, benchmarks, or to see whether this machine can hold the model:
    `agentoss engine synth --shape 20b --out /tmp/g20`, then
    `agentoss run --backend torch --checkpoint /tmp/g20 ...`
    (the answers are noise; the memory and speed are real).
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from agentoss.engine.config import SHAPES
    from agentoss.engine.synth import checkpoint_bytes, synthesize_checkpoint
    from agentoss.errors import AgentossError

    config = SHAPES[shape]
    total = checkpoint_bytes(config)
    columns = (BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress("[progress.description]{task.description}", *columns, transient=True) as progress:
        task = progress.add_task(f"synth {shape} ({layout})", total=total)
        try:
            synthesize_checkpoint(
                config,
                out_dir,
                layout=layout,  # type: ignore[arg-type]
                seed=seed,
                on_bytes=lambda n: progress.advance(task, n),
            )
        except (AgentossError, OSError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {out_dir} ({total / 2**30:.2f} GiB, {shape}, {layout} layout, seed {seed})")


@command.command("fetch")
@click.option("--model", type=click.Choice(sorted(MODELS)), default="20b", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--layout",
    type=click.Choice(["original", "hf"]),
    default="original",
    show_default=True,
    help="original: the reference layout in original/ (smaller download); hf: the transformers layout.",
)
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Per-request timeout, seconds.")
def fetch(model: str, out_dir: Path, layout: str, timeout: float) -> None:
    """Download the real gpt-oss weights from the Hugging Face Hub (needs network and huggingface_hub)."""
    try:
        os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", str(int(timeout)))
        os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", str(int(timeout)))
        from huggingface_hub import snapshot_download
    except ImportError:
        raise click.ClickException(
            "engine fetch needs huggingface_hub, which is not installed. Fix: pip install huggingface_hub"
        ) from None
    patterns = ["original/*"] if layout == "original" else ["*.json", "*.safetensors"]
    try:
        path = snapshot_download(
            MODELS[model], allow_patterns=patterns, local_dir=str(out_dir), etag_timeout=timeout
        )
    except Exception as exc:  # huggingface_hub raises many types: offline, 401, disk full
        raise click.ClickException(
            f"could not download {MODELS[model]}: {type(exc).__name__}: {exc}. "
            "Check the network (HF_HUB_OFFLINE must be unset), or copy a downloaded checkpoint here. "
            "For a synthetic stand-in: agentoss engine synth --shape " + model
        ) from exc
    folder = Path(path) / "original" if layout == "original" else Path(path)
    click.echo(f"downloaded {MODELS[model]} to {folder}")
