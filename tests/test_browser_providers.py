"""Exa and You.com search backends against local fakes of their APIs; pages fetched over loopback."""

from __future__ import annotations

from typing import Any

import pytest
from agentoss.tools.browser import BrowserTool, ExaBackend, FetchError, UrlPolicy, WebFetcher, YouComBackend
from aiohttp import web
from browser_fixtures import Route, serve

from agentoss.errors import ConfigurationError
from agentoss.runtime.tool import ToolError


def _fake_exa(calls: list[dict[str, Any]], page_base: str) -> dict[str, Any]:
    async def search(request: web.Request) -> web.Response:
        if request.headers.get("x-api-key") != "exa-test-key":
            return web.json_response({"error": "bad key"}, status=401)
        body = await request.json()
        calls.append(body)
        results = [
            {
                "title": f"Result {i}",
                "url": f"{page_base}/page{i}.html",
                "highlights": [f"highlight number {i}"],
            }
            for i in range(body["numResults"])
        ]
        return web.json_response({"requestId": "r1", "results": results})

    return {"/search": search}


def _fake_you(calls: list[dict[str, str]], page_base: str) -> dict[str, Any]:
    async def search(request: web.Request) -> web.Response:
        if request.headers.get("X-API-Key") != "you-test-key":
            return web.json_response({"error": "bad key"}, status=403)
        calls.append(dict(request.query))
        count = int(request.query["count"])
        web_hits = [
            {
                "url": f"{page_base}/page{i}.html",
                "title": f"You {i}",
                "description": f"desc {i}",
                "snippets": ["s"],
            }
            for i in range(count)
        ]
        return web.json_response({"results": {"web": web_hits, "news": []}, "metadata": {}})

    return {"/v1/search": search}


PAGE = Route(
    body="<html><head><title>Landing</title></head><body><p>Fetched through the fetcher.</p></body></html>"
)


async def test_exa_search_honours_topn_and_fetches_pages() -> None:
    calls: list[dict[str, Any]] = []
    async with serve({"/page0.html": PAGE, "/page1.html": PAGE}) as pages:
        api_server = serve(_fake_exa(calls, pages.base_url))
        async with api_server as api:
            fetcher = WebFetcher(UrlPolicy(allow=["127.0.0.1/32"]))
            backend = ExaBackend("exa-test-key", base_url=api.base_url, fetcher=fetcher)
            browser = BrowserTool(backend)
            out = await browser.search(query="gpt-oss harmony", topn=3)
            assert calls == [{"query": "gpt-oss harmony", "numResults": 3, "contents": {"highlights": True}}]
            assert out.startswith("[0] gpt-oss harmony\n")
            assert "* 【0†Result 0†127.0.0.1:" in out and "highlight number 2" in out
            assert len(browser.page_at().links) == 3
            opened = await browser.open(id=1)
            assert opened.startswith(f"[1] Landing ({pages.base_url}/page1.html)")
            assert "Fetched through the fetcher." in opened
            await browser.aclose()


async def test_youcom_search_parses_results() -> None:
    calls: list[dict[str, str]] = []
    async with serve(_fake_you(calls, "https://example.org")) as api:
        backend = YouComBackend("you-test-key", base_url=api.base_url)
        results = await backend.search("weather in tokyo", 2)
        await backend.aclose()
    assert calls == [{"query": "weather in tokyo", "count": "2"}]
    assert [(r.url, r.title, r.snippet) for r in results] == [
        ("https://example.org/page0.html", "You 0", "desc 0 s"),
        ("https://example.org/page1.html", "You 1", "desc 1 s"),
    ]


async def test_provider_errors_and_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve(_fake_exa([], "https://example.org")) as api:
        backend = ExaBackend("wrong-key", base_url=api.base_url, retries=0)
        with pytest.raises(FetchError, match="Exa API error 401"):
            await backend.search("q", 1)
        browser = BrowserTool(backend)
        with pytest.raises(ToolError, match=r"^Error during search for `q`: Exa API error 401"):
            await browser.search(query="q")
        await browser.aclose()
    attempts: list[int] = []

    async def overloaded(request: web.Request) -> web.Response:
        attempts.append(1)
        if len(attempts) < 3:
            return web.Response(status=429, text="slow down")
        return web.json_response({"results": {"web": []}})

    async with serve({"/v1/search": overloaded}) as api:
        backend_you = YouComBackend("k", base_url=api.base_url, retries=2)
        backend_you.retry_backoff_s = 0.0
        assert await backend_you.search("q", 3) == []
        await backend_you.aclose()
    assert len(attempts) == 3

    monkeypatch.delenv("EXA_API_KEY", raising=False)
    monkeypatch.delenv("YDC_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="EXA_API_KEY"):
        ExaBackend()
    with pytest.raises(ConfigurationError, match="YDC_API_KEY"):
        YouComBackend()
    monkeypatch.setenv("YDC_API_KEY", "from-env")
    assert YouComBackend().api_key == "from-env"
