"""The static HTML report of a results directory: summary table, plots, and a per-sample transcript viewer.

`write_report(dir)` reads `results.jsonl`, `transcripts.jsonl` and `manifest.json` and writes
`report.html` (one self-contained file, plots embedded as PNG) and `summary.json` next to them.
Nothing in either depends on when the report was made, so the same results give the same numbers.
"""

from __future__ import annotations

import base64
import io
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from agentoss.evals.metrics import GroupSummary, summarize
from agentoss.evals.store import ResultStore

from agentoss.errors import EvalError

__all__ = ["load_run", "write_report"]

_MAX_MESSAGE_CHARS = 6000
_LABELS = {
    "parallel": "sequential calls",
    "parallel_multiple": "sequential calls",
    "live_parallel": "sequential calls",
    "live_parallel_multiple": "sequential calls",
}


def load_run(directory: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(latest record of every key, manifest) of a results directory."""
    store = ResultStore(directory)
    if not store.results_path.exists():
        raise EvalError(f"{directory} holds no {store.results_path.name}: is it an eval output directory?")
    records = sorted(
        store.records().values(),
        key=lambda r: (r["task"], r["config"], r["category"], r["sample_id"], r["epoch"]),
    )
    manifest_path = Path(directory) / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return records, manifest


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _plots(groups: Sequence[GroupSummary], records: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: list[tuple[str, str]] = []
    by_task: dict[str, list[GroupSummary]] = defaultdict(list)
    for group in groups:
        if group.category != "ALL":
            by_task[group.task].append(group)
    for task, rows in sorted(by_task.items()):
        categories = sorted({g.category for g in rows})
        efforts = sorted({(g.effort, g.config) for g in rows})
        figure, axis = plt.subplots(figsize=(max(6.0, 0.6 * len(categories) * max(1, len(efforts))), 4))
        width = 0.8 / max(1, len(efforts))
        for index, (effort, config) in enumerate(efforts):
            lookup = {g.category: g for g in rows if g.config == config}
            xs = [c + index * width for c in range(len(categories))]
            values = [lookup[c].accuracy if c in lookup else 0.0 for c in categories]
            low = [
                v - lookup[c].ci_low if c in lookup else 0.0 for v, c in zip(values, categories, strict=True)
            ]
            high = [
                lookup[c].ci_high - v if c in lookup else 0.0 for v, c in zip(values, categories, strict=True)
            ]
            axis.bar(xs, values, width, yerr=[low, high], capsize=3, label=f"{effort} ({config})")
        axis.set_xticks([c + width * (len(efforts) - 1) / 2 for c in range(len(categories))])
        axis.set_xticklabels(categories, rotation=35, ha="right")
        axis.set_ylim(0, 1.05)
        axis.set_ylabel("accuracy (95% bootstrap CI)")
        axis.set_title(f"{task}: accuracy per category")
        axis.legend(fontsize=8)
        plots.append((f"{task}: accuracy per category", _png(figure)))
    for field, title, unit in (
        ("completion_tokens", "completion tokens per sample", "tokens"),
        ("latency_s", "latency per sample", "seconds"),
    ):
        figure, axis = plt.subplots(figsize=(6, 3.5))
        series: dict[str, list[float]] = defaultdict(list)
        for record in records:
            series[f"{record['task']} / {record.get('effort', '')}"].append(float(record.get(field) or 0.0))
        for label, values in sorted(series.items()):
            axis.hist(values, bins=30, alpha=0.6, label=label)
        axis.set_xlabel(unit)
        axis.set_ylabel("samples")
        axis.set_title(title)
        axis.legend(fontsize=8)
        plots.append((title, _png(figure)))
    return plots


def _clip(text: Any) -> str:
    value = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    if len(value) > _MAX_MESSAGE_CHARS:
        return value[:_MAX_MESSAGE_CHARS] + f"\n… ({len(value) - _MAX_MESSAGE_CHARS} more characters)"
    return value


def _message_kind(message: Mapping[str, Any]) -> str:
    role = message.get("role")
    if role == "assistant" and message.get("recipient") not in (None, "all", "user", "assistant"):
        return "call"
    if role == "assistant":
        return str(message.get("channel") or "assistant")
    return str(role)


def summary_data(records: Sequence[Mapping[str, Any]], manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What `summary.json` holds: every group's numbers and the run's counts."""
    groups = summarize(records)
    return {
        "groups": [g.to_dict() for g in groups],
        "configs": manifest.get("configs", {}),
        "records": len(records),
        "errors": sum(1 for r in records if r.get("status") != "ok"),
    }


def write_report(directory: str | Path, out: str | Path | None = None) -> Path:
    """Write `report.html` and `summary.json` for a results directory; returns the HTML path."""
    import jinja2

    directory = Path(directory)
    records, manifest = load_run(directory)
    transcripts = ResultStore(directory).transcripts()
    groups = summarize(records)
    summary = summary_data(records, manifest)
    (directory / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    samples = []
    for record in records:
        key = (record["task"], record["sample_id"], int(record["epoch"]), record["config"])
        messages = [
            {"kind": _message_kind(m), "head": _head(m), "text": _clip(m.get("content", ""))}
            for m in transcripts.get(key, [])
        ]
        samples.append(
            {
                **record,
                "target_text": _clip(record.get("target")),
                "prediction_text": _clip(record.get("prediction")),
                "messages": messages,
            }
        )
    template_text = resources.files("agentoss.evals").joinpath("report_template.html").read_text()
    template = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
        template_text
    )
    html = template.render(
        title=f"agentoss eval report: {directory.name}",
        groups=groups,
        labels=_LABELS,
        configs=manifest.get("configs", {}),
        plots=_plots(groups, records),
        samples=samples,
        errors=summary["errors"],
        total=len(records),
    )
    target = Path(out) if out is not None else directory / "report.html"
    target.write_text(html, encoding="utf-8")
    return target


def _head(message: Mapping[str, Any]) -> str:
    parts = [str(message.get("author") or message.get("role", ""))]
    if message.get("channel"):
        parts.append(f"[{message['channel']}]")
    if message.get("recipient") and message.get("recipient") not in ("all",):
        parts.append(f"→ {message['recipient']}")
    return " ".join(parts)
