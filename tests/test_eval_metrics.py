"""pass@k, pass^k, bootstrap intervals and grouping: checked against hand-computed values."""

from __future__ import annotations

import math

import pytest
from agentoss.evals.metrics import bootstrap_ci, pass_at_k, pass_hat_k, summarize


def test_pass_at_k_matches_the_unbiased_estimator() -> None:
    assert pass_at_k(5, 0, 1) == 0.0
    assert pass_at_k(5, 5, 3) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - math.comb(3, 2) / math.comb(4, 2))
    assert pass_at_k(10, 3, 9) == 1.0  # fewer than k failures


def test_pass_hat_k_is_the_probability_that_all_k_succeed() -> None:
    assert pass_hat_k(4, 4, 4) == 1.0
    assert pass_hat_k(4, 2, 2) == pytest.approx(1 / 6)
    assert pass_hat_k(4, 1, 2) == 0.0
    with pytest.raises(ValueError):
        pass_hat_k(2, 1, 3)


def test_bootstrap_interval_is_deterministic_and_brackets_the_mean() -> None:
    values = [1.0] * 30 + [0.0] * 70
    low, high = bootstrap_ci(values)
    assert low < 0.3 < high and high - low < 0.25
    assert bootstrap_ci(values) == (low, high)
    assert bootstrap_ci([1.0] * 10) == (1.0, 1.0)


def test_summary_averages_epochs_per_sample_and_counts_errors() -> None:
    def record(
        sample: str, epoch: int, score: float, status: str = "ok", category: str = "a"
    ) -> dict[str, object]:
        return {
            "task": "t", "category": category, "config": "c", "sample_id": sample, "epoch": epoch,
            "score": score, "status": status, "effort": "low", "completion_tokens": 10, "latency_s": 1.0,
        }  # fmt: skip

    records = [
        record("s1", 0, 1.0), record("s1", 1, 1.0),
        record("s2", 0, 1.0), record("s2", 1, 0.0, status="error"),
        record("s3", 0, 0.0, category="b"), record("s3", 1, 0.0, category="b"),
    ]  # fmt: skip
    groups = {g.category: g for g in summarize(records)}
    assert groups["a"].accuracy == pytest.approx(0.75) and groups["a"].errors == 1
    assert groups["a"].pass_at[2] == 1.0 and groups["a"].pass_hat[2] == pytest.approx(0.5)
    assert groups["ALL"].samples == 3 and groups["ALL"].accuracy == pytest.approx(0.5)
    assert groups["b"].ci_low == groups["b"].ci_high == 0.0
