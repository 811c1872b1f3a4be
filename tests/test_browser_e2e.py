"""End to end: `agentoss run --tools browser --browser-corpus DIR` against the fake vLLM server.

The scripted model searches the corpus, opens the first result, finds a phrase and answers with a
citation; the CLI's `--json` output resolves it to the opened document and the cited line, which holds
the phrase, and reports a citation of a cursor that never existed as a diagnostic.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from agentoss.tools.browser import BrowserTool

from agentoss.testing.fake_vllm import FakeVLLMServer
from agentoss.testing.script import Script
from agentoss.vocab import ensure_vocabulary

DOCUMENTS = {
    "kitchen/spices.md": "# Spice notes\n\nMost curries start with cumin and coriander.\n\n"
    "The secret ingredient of the house chai is cardamom, crushed fresh.\n",
    "kitchen/bread.html": "<html><head><title>Bread</title></head><body><p>Flour, water, salt and "
    "yeast.</p></body></html>",
    "garden.txt": "Garden log\nThe tomatoes need water every day.\n",
}


def _call(recipient: str, arguments: dict[str, object]) -> str:
    payload = json.dumps(arguments)
    return (
        f"<|channel|>analysis<|message|>Next: {recipient}.<|end|>"
        f"<|start|>assistant<|channel|>analysis to={recipient} <|constrain|>json<|message|>{payload}<|call|>"
    )


async def _expected_line(corpus: Path) -> int:
    """Run the same three steps in-process to learn which line of the page holds the phrase."""
    browser = BrowserTool.from_corpus(corpus)
    await browser.search(query="secret ingredient chai")
    await browser.open(id=0)
    page = browser.page_at()
    await browser.aclose()
    return next(i for i, line in enumerate(page.lines) if "cardamom" in line)


async def test_cli_browses_corpus_and_cites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_vocabulary()
    monkeypatch.setenv("AGENTOSS_CACHE_DIR", str(tmp_path / "cache"))
    corpus = tmp_path / "corpus"
    for rel, body in DOCUMENTS.items():
        (corpus / rel).parent.mkdir(parents=True, exist_ok=True)
        (corpus / rel).write_text(body, encoding="utf-8")
    line = await _expected_line(corpus)
    answer = f"The house chai's secret ingredient is cardamom 【1†L{line}】 (not 【7†L2】)."
    script = Script.from_replies(
        [
            _call("browser.search", {"query": "secret ingredient chai", "topn": 3}),
            _call("browser.open", {"id": 0}),
            _call("browser.find", {"pattern": "cardamom"}),
            f"<|channel|>analysis<|message|>Found it.<|end|><|start|>assistant<|channel|>final"
            f"<|message|>{answer}<|return|>",
        ]
    )
    async with FakeVLLMServer(script=script) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from agentoss.cli import main; main()",
            "run",
            "--base-url",
            server.base_url,
            "--tools",
            "browser",
            "--browser-corpus",
            str(corpus),
            "--json",
            "What is the secret ingredient of the house chai?",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ},
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    result = json.loads(stdout)
    assert result["stop_reason"] == "final"
    assert result["final"] == answer
    calls = result["tool_calls"]
    assert [call["recipient"] for call in calls] == ["browser.search", "browser.open", "browser.find"]
    assert calls[0]["output"].startswith("[0] secret ingredient chai\n")
    assert "【0†Spice notes†local】" in calls[0]["output"]
    assert calls[1]["output"].startswith("[1] Spice notes (corpus://local/kitchen/spices.md)")
    assert f"L{line}: The secret ingredient of the house chai is cardamom" in calls[1]["output"]
    assert f"# 【0†match at L{line}】" in calls[2]["output"]

    (citation,) = result["citations"]
    assert citation["url"] == "corpus://local/kitchen/spices.md" and citation["lines"] == [line, line]
    assert citation["cursor"] == 1 and citation["title"] == "Spice notes"
    assert citation["quote"] == "The secret ingredient of the house chai is cardamom, crushed fresh."
    start, end = citation["span"]
    assert answer[start:end] == f"【1†L{line}】"
    unresolved = [d for d in result["diagnostics"] if d.startswith("citation_unresolved:")]
    assert unresolved == [
        f"citation_unresolved: 【7†L2】 at {answer.index('【7')}: cursor 7 does not exist (pages shown: 3)"
    ]
