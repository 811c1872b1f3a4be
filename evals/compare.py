"""Two result directories side by side: per (task, category, effort) accuracy deltas with bootstrap intervals.

When both runs scored the same samples the interval is a paired bootstrap over those samples (the
difference of each sample's mean score), which is much tighter than comparing two independent
intervals; otherwise the two sets are resampled independently.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentoss.evals.metrics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from agentoss.evals.report import load_run

__all__ = ["CategoryDelta", "compare_runs"]


@dataclass(frozen=True, slots=True)
class CategoryDelta:
    """Accuracy of run B minus run A for one (task, category, effort)."""

    task: str
    category: str
    effort: str
    accuracy_a: float
    accuracy_b: float
    delta: float
    ci_low: float
    ci_high: float
    samples_a: int
    samples_b: int
    paired: bool

    @property
    def significant(self) -> bool:
        """The 95% interval excludes zero."""
        return self.ci_low > 0 or self.ci_high < 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "significant": self.significant}


def _per_sample(records: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], dict[str, float]]:
    scores: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        score = float(record.get("score") or 0.0)
        for category in (str(record["category"]), "ALL"):
            scores[(str(record["task"]), category, str(record.get("effort", "")))][
                str(record["sample_id"])
            ].append(score)
    return {key: {sid: sum(v) / len(v) for sid, v in by_id.items()} for key, by_id in scores.items()}


def _interval(values: list[float]) -> tuple[float, float]:
    values.sort()
    count = len(values)
    return values[math.floor(0.025 * (count - 1))], values[math.ceil(0.975 * (count - 1))]


def _delta(a: dict[str, float], b: dict[str, float], rng: random.Random) -> tuple[float, float, bool]:
    common = sorted(set(a) & set(b))
    if common and len(common) == len(a) == len(b):
        diffs = [b[s] - a[s] for s in common]
        size = len(diffs)
        boots = [sum(rng.choices(diffs, k=size)) / size for _ in range(BOOTSTRAP_RESAMPLES)]
        low, high = _interval(boots)
        return low, high, True
    va, vb = list(a.values()), list(b.values())
    boots = [
        sum(rng.choices(vb, k=len(vb))) / len(vb) - sum(rng.choices(va, k=len(va))) / len(va)
        for _ in range(BOOTSTRAP_RESAMPLES)
    ]
    low, high = _interval(boots)
    return low, high, False


def compare_runs(dir_a: str | Path, dir_b: str | Path) -> list[CategoryDelta]:
    """Per-category deltas (B - A) for every (task, category, effort) present in both runs."""
    records_a, _ = load_run(dir_a)
    records_b, _ = load_run(dir_b)
    scores_a, scores_b = _per_sample(records_a), _per_sample(records_b)
    out: list[CategoryDelta] = []
    for key in sorted(set(scores_a) & set(scores_b)):
        a, b = scores_a[key], scores_b[key]
        acc_a, acc_b = sum(a.values()) / len(a), sum(b.values()) / len(b)
        low, high, paired = _delta(a, b, random.Random(f"{BOOTSTRAP_SEED}:{key}"))
        out.append(
            CategoryDelta(
                key[0], key[1], key[2], acc_a, acc_b, acc_b - acc_a, low, high, len(a), len(b), paired
            )
        )
    return out
