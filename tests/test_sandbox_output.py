"""Output cleaning and data-path rules shared by every sandbox, and the in-process `FakeSandbox`."""

from __future__ import annotations

import pytest
from agentoss.sandboxes import FakeSandbox, Sandbox
from agentoss.sandboxes.base import normalize_data_path
from agentoss.sandboxes.output import cap_bytes, clean_output


def test_cap_keeps_head_and_tail_and_marks_the_cut() -> None:
    data = b"A" * 1000 + b"B" * 1000 + b"C" * 1000
    capped = cap_bytes(data, limit=200)
    assert capped.startswith(b"A" * 100) and capped.endswith(b"C" * 100)
    assert b"[... 2800 bytes of output omitted ...]" in capped
    assert cap_bytes(b"short", limit=200) == b"short"


def test_clean_output_decodes_invalid_utf8_and_strips_escapes() -> None:
    raw = b"ok \xff\xfe \x1b[31mred\x1b[0m \x1b]0;title\x07done\r\nbell\x07 \x1b[2J"
    text = clean_output(raw)
    assert "\x1b" not in text and "\x07" not in text
    assert "red" in text and "done" in text and "\ufffd" in text
    assert "title" not in text


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../b", "", "/mnt/data/../etc", "a\x00b"])
def test_paths_leaving_the_data_directory_are_refused(path: str) -> None:
    with pytest.raises(ValueError):
        normalize_data_path(path)


def test_data_paths_are_made_relative() -> None:
    assert normalize_data_path("/mnt/data/a/b.txt") == "a/b.txt"
    assert normalize_data_path("./a//b.txt") == "a/b.txt"


async def test_fake_sandbox_is_a_stateful_notebook() -> None:
    fake = FakeSandbox()
    assert isinstance(fake, Sandbox)
    assert (await fake.execute("x = 20\nx + 22", timeout=1)).output == "42\n"
    failed = await fake.execute("1/0", timeout=1)
    assert failed.error and "ZeroDivisionError" in failed.output
    await fake.put_file("/mnt/data/n.txt", b"1")
    assert await fake.list_files() == ["n.txt"] and await fake.get_file("n.txt") == b"1"
    assert fake.executed == ["x = 20\nx + 22", "1/0"]


async def test_fake_sandbox_can_be_scripted() -> None:
    fake = FakeSandbox(handler=lambda code: f"ran {len(code)} chars")
    assert (await fake.execute("print(1)", timeout=1)).output == "ran 8 chars"
