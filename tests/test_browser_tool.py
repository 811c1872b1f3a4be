"""BrowserTool as a `Tool`: its declaration, JSON call dispatch, the search page and the cursor stack."""

from __future__ import annotations

import asyncio
from pathlib import Path

import agentoss.tools.browser as browser_package
import pytest
from agentoss.tools.browser import BrowserTool, FakeSearchBackend, Page

from agentoss.harmony import browser_namespace
from agentoss.runtime.tool import Tool, ToolCall, ToolError

DOCS = {
    "https://alpha.example/a.html": "<html><head><title>Alpha</title></head><body><p>alpha apples and "
    "<a href='/b.html'>bananas</a> and <a href='https://beta.example/'>beta</a></p></body></html>",
    "https://alpha.example/b.html": "<html><head><title>Bananas</title></head>"
    "<body><p>bananas only</p></body></html>",
    "https://beta.example/": "Beta plain text about apples",
}


def _call(function: str, arguments: str) -> ToolCall:
    return ToolCall(
        recipient=f"browser.{function}", function=function, arguments=arguments, channel="analysis"
    )


def test_spec_is_the_trained_declaration() -> None:
    tool = BrowserTool(FakeSearchBackend(DOCS))
    assert isinstance(tool, Tool)
    spec = tool.spec
    trained = browser_namespace()
    assert (spec.namespace, spec.kind) == ("browser", "builtin")
    assert spec.description == trained.description
    assert spec.description.endswith("sources=web (default: web)")
    assert [f.name for f in spec.functions] == ["search", "open", "find"]
    assert spec.functions == trained.functions
    custom = BrowserTool(FakeSearchBackend(DOCS, source="docs")).spec.description
    assert custom.endswith("sources=docs (default: docs)")


async def test_call_dispatch_search_open_find() -> None:
    backend = FakeSearchBackend(DOCS)
    tool = BrowserTool(backend)
    out = await tool.call(_call("search", '{"query": "apples", "topn": 5}'))
    lines = out.split("\n")
    assert lines[0] == "[0] apples"
    assert lines[1].startswith("**viewing lines [0 - ")
    assert "L1: URL: " in out and "L2: # Search Results" in out
    assert "L4:   * 【0†Alpha†alpha.example】" in out
    assert "【1†Beta plain text about apples†beta.example】" in out

    page = await tool.call(_call("open", '{"id": 0}'))
    assert page.startswith("[1] Alpha (https://alpha.example/a.html)")
    assert "【0†bananas】" in page and "【1†beta†beta.example】" in page
    bananas = await tool.call(_call("open", '{"id": "0", "cursor": 1}'))  # digit strings are link ids
    assert bananas.startswith("[2] Bananas (https://alpha.example/b.html)")
    found = await tool.call(_call("find", '{"pattern": "APPLES", "cursor": 1}'))
    assert found.startswith("[3] Find results for text: `apples` in `Alpha`")
    assert [p.kind for p in tool.stack] == ["search", "page", "page", "find"]
    scrolled = await tool.call(_call("open", '{"cursor": 1, "loc": 2, "num_lines": 1}'))
    assert scrolled.endswith(
        "**viewing lines [2 - 2] of 2**\n\nL2: alpha apples and 【0†bananas】 and 【1†beta†beta.example】"
    )
    assert backend.fetched == ["https://alpha.example/a.html", "https://alpha.example/b.html"]
    await tool.aclose()


@pytest.mark.parametrize(
    ("function", "arguments", "message"),
    [
        ("search", "{not json", "Invalid function arguments: not JSON"),
        ("search", "[1, 2]", "expected a JSON object"),
        ("search", '{"query": ""}', "`query` must be a non-empty string"),
        ("search", '{"query": "x", "topn": "many"}', "`topn` should be an integer"),
        ("find", '{"pattern": "x"}', "No pages to access!"),
        ("click", "{}", "Unknown function: click"),
        ("open", '{"id": "https://missing.example/"}', "Error fetching URL `https://missing.example/`: 404"),
    ],
)
async def test_call_errors_are_tool_errors(function: str, arguments: str, message: str) -> None:
    tool = BrowserTool(FakeSearchBackend(DOCS))
    with pytest.raises(ToolError, match=message.replace("[", r"\[").replace("(", r"\(")):
        await tool.call(_call(function, arguments))


class _SlowBackend(FakeSearchBackend):
    async def fetch(self, url: str) -> Page:
        await asyncio.sleep(5)
        return await super().fetch(url)


async def test_call_timeout_is_a_tool_error() -> None:
    tool = BrowserTool(_SlowBackend(DOCS), call_timeout_s=0.05)
    with pytest.raises(ToolError, match=r"browser\.open timed out after 0\.05 seconds"):
        await tool.call(_call("open", '{"id": "https://alpha.example/a.html"}'))
    assert tool.stack == []


def test_public_names_are_documented() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    missing = [name for name in browser_package.__all__ if f"`{name}" not in readme]
    assert missing == []
