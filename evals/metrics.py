"""Numbers of a run: accuracy, pass@k and pass^k over epochs, and percentile-bootstrap confidence intervals.

pass@k is the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models Trained on
Code", eq. 1): 1 - C(n-c, k) / C(n, k). pass^k (all k attempts succeed) is the estimator of Yao et al.
2024 (tau-bench): C(c, k) / C(n, k). Bootstrap intervals resample samples (not epochs) with a fixed
seed, so the same results always give the same report.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["GroupSummary", "bootstrap_ci", "pass_at_k", "pass_hat_k", "summarize"]

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20250805


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k attempts drawn from n (c correct) is correct."""
    if k > n:
        raise ValueError(f"k={k} exceeds the {n} attempts")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Probability that all of k attempts drawn from n (c correct) are correct."""
    if k > n:
        raise ValueError(f"k={k} exceeds the {n} attempts")
    return math.comb(c, k) / math.comb(n, k)


def bootstrap_ci(
    values: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values`."""
    if not values:
        return (0.0, 0.0)
    if len(values) == 1:
        return (values[0], values[0])
    rng = random.Random(seed)
    size = len(values)
    means = sorted(sum(rng.choices(values, k=size)) / size for _ in range(resamples))
    alpha = (1.0 - confidence) / 2.0
    low = means[math.floor(alpha * (resamples - 1))]
    high = means[math.ceil((1.0 - alpha) * (resamples - 1))]
    return (low, high)


@dataclass(slots=True)
class GroupSummary:
    """Scores of one (task, category, config) group."""

    task: str
    category: str
    config: str
    effort: str
    samples: int
    attempts: int
    accuracy: float
    """Mean score over samples (each sample's score averaged over its epochs); errors score 0."""
    ci_low: float
    ci_high: float
    errors: int
    """Attempts that still failed after the retries (counted as wrong, never dropped)."""
    epochs: int
    pass_at: dict[int, float] = field(default_factory=dict)
    pass_hat: dict[int, float] = field(default_factory=dict)
    mean_prompt_tokens: float = 0.0
    mean_completion_tokens: float = 0.0
    mean_latency_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(records: Iterable[Mapping[str, Any]], *, overall: bool = True) -> list[GroupSummary]:
    """Group records by (task, category, config) and compute every number the report shows.

    With `overall`, each (task, config) also gets a category `ALL` that weights every sample equally.
    """
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        key = (str(record["task"]), str(record["category"]), str(record["config"]))
        groups[key].append(record)
        if overall:
            groups[(key[0], "ALL", key[2])].append(record)
    return [_summarize_group(key, rows) for key, rows in sorted(groups.items())]


def _summarize_group(key: tuple[str, str, str], rows: Sequence[Mapping[str, Any]]) -> GroupSummary:
    by_sample: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        by_sample[str(row["sample_id"])].append(float(row.get("score") or 0.0))
    per_sample = [sum(scores) / len(scores) for _, scores in sorted(by_sample.items())]
    min_epochs = min(len(scores) for scores in by_sample.values())
    pass_at: dict[int, float] = {}
    pass_hat: dict[int, float] = {}
    for k in sorted({1, 2, 4, 8, 16, min_epochs} if min_epochs > 1 else {1}):
        if k > min_epochs:
            continue
        at = [pass_at_k(len(s), sum(v >= 1.0 for v in s), k) for s in by_sample.values()]
        hat = [pass_hat_k(len(s), sum(v >= 1.0 for v in s), k) for s in by_sample.values()]
        pass_at[k] = sum(at) / len(at)
        pass_hat[k] = sum(hat) / len(hat)
    low, high = bootstrap_ci(per_sample)
    count = len(rows)
    return GroupSummary(
        task=key[0],
        category=key[1],
        config=key[2],
        effort=str(rows[0].get("effort", "")),
        samples=len(by_sample),
        attempts=count,
        accuracy=sum(per_sample) / len(per_sample),
        ci_low=low,
        ci_high=high,
        errors=sum(1 for row in rows if row.get("status") != "ok"),
        epochs=min_epochs,
        pass_at=pass_at,
        pass_hat=pass_hat,
        mean_prompt_tokens=sum(int(row.get("prompt_tokens") or 0) for row in rows) / count,
        mean_completion_tokens=sum(int(row.get("completion_tokens") or 0) for row in rows) / count,
        mean_latency_s=sum(float(row.get("latency_s") or 0.0) for row in rows) / count,
    )
