"""Suite-wide rule: under CI (`CI=true`) nothing skips.

`make test` installs and starts everything the tests need (Docker and the sandbox image, bubblewrap,
loopback servers, tiny checkpoints, transformers), so a skip in CI means a broken set-up, not a
missing feature: it is reported as a failure. On a laptop the same skips stay visible skips. Only
tests marked `gpu` (work that needs an accelerator this machine does not have) may skip in CI.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _as_failure(report: pytest.CollectReport | pytest.TestReport, where: str) -> None:
    reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped {where} under CI=true (skips are failures here): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if _CI and report.skipped and not hasattr(report, "wasxfail") and item.get_closest_marker("gpu") is None:
        _as_failure(report, "a test")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, None, None]:
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if _CI and report.skipped:
        _as_failure(report, "a module")
