"""Web search providers: `ExaBackend` (Exa) and `YouComBackend` (You.com); pages fetched by `WebFetcher`.

API keys come from the constructor or the environment (`EXA_API_KEY`, `YDC_API_KEY`); `base_url`
points a provider at another endpoint (the tests use a local fake of each API). The provider's API
endpoint is configuration, not model input, so it is not subject to the URL policy; every page the
model opens is (it goes through the `WebFetcher`).
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from agentoss.tools.browser.backend import FetchError, SearchResult
from agentoss.tools.browser.fetch import WebFetcher
from agentoss.tools.browser.page import Page

from agentoss.errors import ConfigurationError

if TYPE_CHECKING:
    import httpx

__all__ = ["ExaBackend", "YouComBackend"]

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class _ApiSearchBackend:
    """Shared plumbing: an httpx client with timeouts, bounded retries, error mapping, page fetching."""

    provider = "search"
    env_var = ""
    default_base_url = ""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        fetcher: WebFetcher | None = None,
        timeout_s: float = 20.0,
        retries: int = 2,
        retry_backoff_s: float = 0.5,
        source: str = "web",
    ) -> None:
        key = api_key or os.environ.get(self.env_var)
        if not key:
            raise ConfigurationError(
                f"{type(self).__name__} needs an API key: pass api_key=... or set {self.env_var}"
            )
        self.api_key = key
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.fetcher = fetcher if fetcher is not None else WebFetcher()
        self.timeout_s = timeout_s
        self.retries = retries
        self.retry_backoff_s = retry_backoff_s
        self._source = source
        self._client: httpx.AsyncClient | None = None

    @property
    def source(self) -> str:
        return self._source

    def _client_now(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s), trust_env=False)
        return self._client

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        attempt = 0
        while True:
            try:
                response = await self._client_now().request(method, f"{self.base_url}{path}", **kwargs)
            except httpx.TransportError as exc:
                problem = f"{self.provider} API unreachable ({type(exc).__name__})"
            else:
                if response.status_code == 200:
                    try:
                        return response.json()
                    except ValueError:
                        raise FetchError(f"{self.provider} API returned invalid JSON") from None
                problem = f"{self.provider} API error {response.status_code}: {response.text[:300]}"
                if response.status_code not in _RETRY_STATUS:
                    raise FetchError(problem)
            if attempt >= self.retries:
                raise FetchError(problem)
            await asyncio.sleep(self.retry_backoff_s * (2**attempt))
            attempt += 1

    async def fetch(self, url: str) -> Page:
        return await self.fetcher.fetch_page(url)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await self.fetcher.aclose()


class ExaBackend(_ApiSearchBackend):
    """Search with Exa (`POST {base_url}/search`, header `x-api-key`); key from `EXA_API_KEY`."""

    provider = "Exa"
    env_var = "EXA_API_KEY"
    default_base_url = "https://api.exa.ai"

    async def search(self, query: str, topn: int) -> list[SearchResult]:
        payload = {"query": query, "numResults": topn, "contents": {"highlights": True}}
        data = await self._request("POST", "/search", json=payload, headers={"x-api-key": self.api_key})
        results = []
        for item in (data or {}).get("results", [])[:topn]:
            if not isinstance(item, dict) or not item.get("url"):
                continue
            highlights = item.get("highlights") or []
            snippet = " ".join(str(h) for h in highlights) or str(
                item.get("summary") or item.get("text") or ""
            )
            results.append(
                SearchResult(
                    url=str(item["url"]), title=str(item.get("title") or item["url"]), snippet=snippet[:500]
                )
            )
        return results


class YouComBackend(_ApiSearchBackend):
    """Search with You.com (`GET {base_url}/v1/search`, header `X-API-Key`); key from `YDC_API_KEY`."""

    provider = "You.com"
    env_var = "YDC_API_KEY"
    default_base_url = "https://ydc-index.io"

    async def search(self, query: str, topn: int) -> list[SearchResult]:
        params = {"query": query, "count": topn}
        data = await self._request("GET", "/v1/search", params=params, headers={"X-API-Key": self.api_key})
        data = data or {}
        results_field = data.get("results")
        # Current API: {"results": {"web": [...], "news": [...]}}; the legacy one: {"hits": [...]}.
        if isinstance(results_field, dict):
            hits = list(results_field.get("web") or []) + list(results_field.get("news") or [])
        else:
            hits = list(data.get("hits") or [])
        results = []
        for item in hits[:topn]:
            if not isinstance(item, dict) or not item.get("url"):
                continue
            snippets = item.get("snippets") or []
            snippet = str(item.get("description") or "") + (
                " " + " ".join(map(str, snippets)) if snippets else ""
            )
            results.append(
                SearchResult(
                    url=str(item["url"]), title=str(item.get("title") or item["url"]), snippet=snippet[:500]
                )
            )
        return results
