"""The HTML report, `summary.json`, compare, and the `agentoss eval` CLI, on oracle runs."""

from __future__ import annotations

import json
from pathlib import Path

from agentoss.evals.bfcl import BFCLTask
from agentoss.evals.compare import compare_runs
from agentoss.evals.report import write_report
from click.testing import CliRunner
from eval_fixtures import run_oracle

from agentoss.cli.eval import command


async def test_report_shows_summary_plots_and_transcripts(tmp_path: Path) -> None:
    task = BFCLTask()
    samples = task.samples(["simple", "parallel", "multi_turn_base"], limit=2)
    await run_oracle(task, samples, tmp_path)
    html = write_report(tmp_path).read_text()
    assert html.count("data:image/png;base64,") >= 3  # accuracy per category, tokens, latency
    assert "sequential calls" in html
    for sample in samples:
        assert sample.id in html
    assert "functions.mkdir" in html  # a multi-turn call in the transcript viewer
    assert '<div class="msg tool">' in html
    summary = json.loads((tmp_path / "summary.json").read_text())
    overall = next(g for g in summary["groups"] if g["category"] == "ALL")
    assert overall["accuracy"] == 1.0 and overall["samples"] == 6


async def test_compare_reports_per_category_deltas_with_intervals(tmp_path: Path) -> None:
    task = BFCLTask()
    samples = task.samples(["simple", "irrelevance"], limit=8)
    await run_oracle(task, samples, tmp_path / "a")
    await run_oracle(task, samples[:8], tmp_path / "b", "wrong")
    deltas = {d.category: d for d in compare_runs(tmp_path / "a", tmp_path / "b")}
    assert set(deltas) == {"simple", "ALL"}
    assert deltas["simple"].delta == -1.0 and deltas["simple"].paired and deltas["simple"].significant
    assert deltas["simple"].ci_low == deltas["simple"].ci_high == -1.0


def test_cli_list_run_report_compare(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(command, ["list"])
    assert listed.exit_code == 0 and "bfcl" in listed.output and "humaneval" in listed.output
    args = ["run", "bfcl", "--categories", "simple,live_simple", "--limit", "2", "--concurrency", "2"]
    right = runner.invoke(command, [*args, "--oracle", "right", "--out", str(tmp_path / "r")])
    assert right.exit_code == 0, right.output
    assert (tmp_path / "r" / "report.html").exists()
    again = runner.invoke(command, [*args, "--oracle", "right", "--out", str(tmp_path / "r")])
    assert again.exit_code == 0 and "resuming: 4 of 4" in again.output
    wrong = runner.invoke(command, [*args, "--oracle", "wrong", "--out", str(tmp_path / "w"), "--no-report"])
    assert wrong.exit_code == 0
    report = runner.invoke(command, ["report", str(tmp_path / "w")])
    assert report.exit_code == 0 and report.output.strip().endswith("report.html")
    compared = runner.invoke(command, ["compare", str(tmp_path / "r"), str(tmp_path / "w"), "--json"])
    rows = {row["category"]: row for row in json.loads(compared.output)}
    assert rows["live_simple"]["delta"] == -1.0 and rows["ALL"]["accuracy_a"] == 1.0
