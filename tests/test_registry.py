"""The name registry: lazy loading, clear errors, and no heavy imports from the core."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentoss.errors import ConfigurationError
from agentoss.registry import load, names


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ConfigurationError, match=r"choose one of: .*vllm"):
        load("backend", "nope")


def test_every_registered_name_resolves() -> None:
    for kind in ("backend", "tool", "sandbox"):
        for name in names(kind):  # type: ignore[arg-type]
            assert load(kind, name) is not None  # type: ignore[arg-type]


def test_importing_the_core_and_cli_imports_nothing_heavy() -> None:
    code = (
        "import sys, agentoss, agentoss.cli, agentoss.harmony, agentoss.registry\n"
        "mods = ('torch', 'docker', 'transformers', 'bm25s', 'matplotlib')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""
