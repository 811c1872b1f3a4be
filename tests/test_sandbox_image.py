"""The sandbox image: versioned tag, reuse without rebuilding, and the `agentoss sandbox` commands."""

from __future__ import annotations

import pytest
from agentoss.sandboxes.image import build_image, default_image, interpreter_source
from click.testing import CliRunner
from sandbox_fixtures import require_docker

from agentoss.cli.sandbox import command


def test_tag_is_versioned_by_the_interpreter() -> None:
    tag = default_image()
    assert tag.startswith("agentoss-sandbox:1-") and len(tag.split("-")[-1]) == 10
    assert b"def run_cell" in interpreter_source()


@pytest.mark.docker
def test_build_reuses_the_existing_image_and_status_reports_it() -> None:
    require_docker()
    lines: list[str] = []
    assert build_image(log=lines.append) == default_image()
    assert lines == [f"{default_image()} already present"]
    result = CliRunner().invoke(command, ["status"])
    assert result.exit_code == 0 and "present" in result.output, result.output
    reaped = CliRunner().invoke(command, ["reap"])
    assert reaped.exit_code == 0 and "removed" in reaped.output
