"""`agentoss eval list|run|report|compare`: run tool-use benchmarks, then report and compare the results."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from agentoss.errors import AgentossError

__all__ = ["command"]

BACKENDS = ("vllm", "ollama", "llamacpp", "chat", "torch", "scripted")


@click.group("eval", context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """Run, report and compare tool-use benchmarks (BFCL, math with python, HumanEval)."""


@command.command("list")
def list_command() -> None:
    """The benchmarks and their categories."""
    from rich.console import Console
    from rich.table import Table

    from agentoss.evals.benchmarks import BENCHMARKS, load_task

    table = Table("benchmark", "categories", "data", "description")
    for name, info in sorted(BENCHMARKS.items()):
        try:
            categories = (
                ", ".join(load_task(name).categories()) if name != "aime" else "from your file (--data)"
            )
        except AgentossError as exc:
            categories = f"unavailable: {exc}"
        table.add_row(name, categories, info.source, info.description)
    Console().print(table)


def _split(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if not value:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _build_backend(
    kind: str,
    urls: tuple[str, ...],
    model: str | None,
    api_key: str | None,
    checkpoint: str | None,
    script: str | None,
) -> Any:
    from agentoss import registry

    cls = registry.load("backend", kind)
    if kind == "vllm":
        if not urls:
            raise click.UsageError("--backend vllm needs --base-url (several allowed: one per server)")
        return cls(list(urls) if len(urls) > 1 else urls[0], api_key=api_key, model=model)
    if kind == "ollama":
        kwargs = {"model": model} if model else {}
        return cls(urls[0], **kwargs) if urls else cls(**kwargs)
    if kind == "llamacpp":
        return cls(urls[0]) if urls else cls()
    if kind == "chat":
        if not urls or not model:
            raise click.UsageError("--backend chat needs --base-url and --model")
        return cls(urls[0], api_key=api_key, model=model)
    if kind == "torch":
        if not checkpoint:
            raise click.UsageError("--backend torch needs --checkpoint DIR")
        return cls.load(checkpoint)
    if not script:
        raise click.UsageError("--backend scripted needs --script FILE")
    from agentoss.testing.script import Script

    return cls(Script.load(script))


async def _served_models(urls: tuple[str, ...], api_key: str | None) -> list[str | None]:
    """The model id each server reports at `/v1/models` (None where it does not answer in time)."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def one(client: httpx.AsyncClient, url: str) -> str | None:
        base = url.rstrip("/").removesuffix("/v1")
        try:
            response = await client.get(f"{base}/v1/models")
            response.raise_for_status()
            data = response.json()["data"]
            return str(data[0]["id"]) if data else None
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError):
            return None

    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), headers=headers) as client:
        return list(await asyncio.gather(*(one(client, url) for url in urls)))


async def _model_label(options: dict[str, Any]) -> str:
    """What is measured, for the config hash: another model must never resume into these results.

    --model when given; otherwise what the servers serve (`/v1/models`), the script's or checkpoint's
    identity, or (when a server does not say) the backend and its URLs.
    """
    if options["oracle"]:
        return f"oracle-{options['oracle']}"
    kind, urls = options["backend"], tuple(options["base_urls"])
    if options["model"]:
        return str(options["model"])
    if kind == "scripted" and options["script"]:
        import hashlib

        data = await asyncio.to_thread(Path(options["script"]).read_bytes)
        digest = hashlib.sha256(data).hexdigest()[:12]
        return f"scripted:{digest}"
    if kind == "torch" and options["checkpoint"]:
        return f"torch:{await asyncio.to_thread(os.path.abspath, options['checkpoint'])}"
    if kind == "ollama":
        return "gpt-oss:20b"  # OllamaBackend's default model
    if kind in ("vllm", "llamacpp") and urls:
        served = {m for m in await _served_models(urls, options["api_key"]) if m is not None}
        if len(served) > 1:
            raise click.UsageError(
                f"the --base-url servers serve different models ({', '.join(sorted(served))}): "
                "evaluate one model per run, or pick one with --model"
            )
        if served:
            return served.pop()
        return f"{kind}@{','.join(sorted(urls))}"
    return str(kind)


@command.command("run")
@click.argument("bench")
@click.option("--limit", type=click.IntRange(min=1), help="Samples per category.")
@click.option(
    "--categories", callback=_split, help="Comma list of categories (default: all of the benchmark)."
)
@click.option(
    "--epochs", type=click.IntRange(min=1), default=1, show_default=True, help="Attempts per sample (pass@k)."
)
@click.option(
    "--effort",
    "efforts",
    callback=_split,
    default="medium",
    show_default=True,
    help="Comma list: low,medium,high (a sweep).",
)
@click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Results directory (default: evals-out/BENCH). Rerun to resume.",
)
@click.option("--data", type=click.Path(dir_okay=False, exists=True), help="JSONL problems file (aime).")
@click.option(
    "--base-url",
    "base_urls",
    multiple=True,
    envvar="AGENTOSS_BASE_URL",
    help="Model server URL; repeat for a fleet.",
)
@click.option(
    "--backend", type=click.Choice(BACKENDS), envvar="AGENTOSS_BACKEND", default="vllm", show_default=True
)
@click.option(
    "--model",
    envvar="AGENTOSS_MODEL",
    help="Model name sent to the server; labels the results (default: the id the server reports).",
)
@click.option("--api-key", envvar="AGENTOSS_API_KEY")
@click.option("--checkpoint", envvar="AGENTOSS_CHECKPOINT", type=click.Path(file_okay=False))
@click.option(
    "--script", type=click.Path(dir_okay=False, exists=True), help="Replies for --backend scripted."
)
@click.option(
    "--oracle",
    type=click.Choice(["right", "wrong"]),
    help="Self-check: a scripted model answering with the ground truth (or wrongly).",
)
@click.option("--sandbox", type=click.Choice(["docker", "local"]), default="docker", show_default=True)
@click.option(
    "--max-turns", type=click.IntRange(min=1), default=20, show_default=True, help="Steps per user turn."
)
@click.option("--max-tokens", type=click.IntRange(min=1), help="Cap on one completion.")
@click.option("--temperature", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Retries of backend errors per sample.",
)
@click.option(
    "--sample-timeout", type=click.FloatRange(min=0, min_open=True), default=1800.0, show_default=True
)
@click.option("--report/--no-report", default=True, show_default=True, help="Write report.html when done.")
def run_command(bench: str, **options: Any) -> None:
    """Run BENCH (see `agentoss eval list`); an interrupted run resumes when rerun with the same --out."""
    try:
        code = asyncio.run(_run(bench, options))
    except AgentossError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        click.echo("interrupted: finished samples are saved; rerun the same command to resume", err=True)
        code = 130
    sys.exit(code)


async def _run(bench: str, options: dict[str, Any]) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agentoss import registry
    from agentoss.evals.benchmarks import load_task
    from agentoss.evals.oracle import OracleScript
    from agentoss.evals.report import write_report
    from agentoss.evals.runner import EvalConfig, run_eval

    task = load_task(bench, path=options["data"]) if bench == "aime" else load_task(bench)
    efforts = options["efforts"] or ["medium"]
    bad = [e for e in efforts if e not in ("low", "medium", "high")]
    if bad:
        raise click.UsageError(f"--effort takes low, medium, high; not {', '.join(bad)}")
    config = EvalConfig(
        efforts=efforts,
        epochs=options["epochs"],
        concurrency=options["concurrency"],
        categories=options["categories"],
        limit=options["limit"],
        max_retries=options["retries"],
        sample_timeout_s=options["sample_timeout"],
        max_turns=options["max_turns"],
        max_output_tokens_per_call=options["max_tokens"],
        temperature=options["temperature"],
        seed=options["seed"],
        model=await _model_label(options),
        servers=list(options["base_urls"]),
    )
    samples = await asyncio.to_thread(task.samples, config.categories, config.limit)
    if options["oracle"]:
        backend = registry.load("backend", "scripted")(
            OracleScript(task, samples, "oracle" if options["oracle"] == "right" else "wrong")
        )
    else:
        backend = _build_backend(
            options["backend"],
            options["base_urls"],
            options["model"],
            options["api_key"],
            options["checkpoint"],
            options["script"],
        )
    sandbox_factory = None
    if task.uses_python:
        sandbox_cls = registry.load("sandbox", options["sandbox"])
        sandbox_factory = sandbox_cls
    out = Path(options["out"] or f"evals-out/{bench}")
    console = Console(stderr=True)
    state = {"n": 0, "score": 0.0, "errors": 0}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[live]}"),
        console=console,
    ) as progress:
        bar = progress.add_task(f"{bench}", total=None, live="")

        def on_plan(total: int, done: int) -> None:
            progress.update(bar, total=total, completed=done)
            if done:
                console.print(f"resuming: {done} of {total} already finished in {out}")

        def on_result(record: dict[str, Any]) -> None:
            state["n"] += 1
            state["score"] += float(record["score"])
            state["errors"] += record["status"] != "ok"
            live = f"accuracy {state['score'] / state['n']:.3f} · errors {state['errors']}"
            progress.update(bar, advance=1, live=live)

        try:
            run = await run_eval(
                task,
                backend,
                out,
                config,
                sandbox_factory=sandbox_factory,
                on_result=on_result,
                on_plan=on_plan,
                samples=samples,
            )
        finally:
            await backend.aclose()
    console.print(
        f"{run.planned} planned, {run.skipped} already done, {run.ran} run, "
        f"{run.errors} failed after retries "
        f"({run.retries} retries), {run.lost} lost -> {out}"
    )
    if options["report"]:
        path = await asyncio.to_thread(write_report, out)
        console.print(f"report: {path}")
    _print_summary(out, console)
    return 0 if run.lost == 0 else 1


def _print_summary(out: Path, console: Any) -> None:
    from rich.table import Table

    from agentoss.evals.metrics import summarize
    from agentoss.evals.report import load_run

    records, _ = load_run(out)
    table = Table("task", "category", "effort", "n", "accuracy", "95% CI", "errors")
    for group in summarize(records):
        table.add_row(
            group.task,
            group.category,
            group.effort,
            str(group.samples),
            f"{group.accuracy:.3f}",
            f"[{group.ci_low:.3f}, {group.ci_high:.3f}]",
            str(group.errors),
        )
    console.print(table)


@command.command("report")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), help="HTML file (default: DIRECTORY/report.html).")
def report_command(directory: str, out: str | None) -> None:
    """Write a static HTML report (summary, plots, transcripts) for a results directory."""
    from agentoss.evals.report import write_report

    try:
        path = write_report(directory, out)
    except AgentossError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(str(path))


@command.command("compare")
@click.argument("dir_a", type=click.Path(exists=True, file_okay=False))
@click.argument("dir_b", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def compare_command(dir_a: str, dir_b: str, as_json: bool) -> None:
    """Per-category accuracy deltas (B - A) with 95% bootstrap intervals."""
    from rich.console import Console
    from rich.table import Table

    from agentoss.evals.compare import compare_runs

    try:
        deltas = compare_runs(dir_a, dir_b)
    except AgentossError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps([d.to_dict() for d in deltas], indent=2))
        return
    table = Table("task", "category", "effort", "A", "B", "B - A", "95% CI", "paired")
    for d in deltas:
        mark = "*" if d.significant else ""
        table.add_row(
            d.task,
            d.category,
            d.effort,
            f"{d.accuracy_a:.3f}",
            f"{d.accuracy_b:.3f}",
            f"{d.delta:+.3f}{mark}",
            f"[{d.ci_low:+.3f}, {d.ci_high:+.3f}]",
            "yes" if d.paired else "no",
        )
    Console().print(table)
