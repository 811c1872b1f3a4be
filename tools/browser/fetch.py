"""`WebFetcher`: fetch web pages safely (URL policy, timeouts, size cap, redirects, retries, cache).

httpx does the HTTP; every connection goes through `GuardedNetworkBackend`, so the URL policy is
enforced after DNS resolution and again for each redirect hop (redirects are followed here, one hop
at a time, so each new URL's scheme is checked too). Environment proxies are ignored on purpose: a
proxy would make the policy check the proxy's address instead of the destination's.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from agentoss.tools.browser.backend import FetchError, SearchResult
from agentoss.tools.browser.convert import html_to_page, markdown_to_page, pdf_to_page, text_to_page
from agentoss.tools.browser.page import Page
from agentoss.tools.browser.policy import GuardedNetworkBackend, UrlPolicy, UrlRefused

if TYPE_CHECKING:
    import httpx

__all__ = ["FetchedDocument", "WebBackend", "WebFetcher"]

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_TEXT_TYPES = ("text/plain", "text/csv", "application/json", "text/xml", "application/xml")
_MARKDOWN_TYPES = ("text/markdown", "text/x-markdown")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FetchedDocument:
    """A response body after redirects: the final URL, its media type and (possibly capped) bytes."""

    url: str
    status: int
    content_type: str
    charset: str | None
    body: bytes
    truncated: bool


class WebFetcher:
    """Fetches http(s) URLs under a `UrlPolicy` and converts them into pages (cached per instance)."""

    def __init__(
        self,
        policy: UrlPolicy | None = None,
        *,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 20.0,
        total_timeout_s: float = 45.0,
        max_bytes: int = 5_000_000,
        max_redirects: int = 5,
        retries: int = 2,
        retry_backoff_s: float = 0.5,
        user_agent: str = "agentoss-browser/0.1 (+https://github.com/agentoss)",
    ) -> None:
        self.policy = policy if policy is not None else UrlPolicy()
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.total_timeout_s = total_timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.retries = retries
        self.retry_backoff_s = retry_backoff_s
        self.user_agent = user_agent
        self._client: httpx.AsyncClient | None = None
        self._cache: dict[str, Page] = {}

    def _client_now(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpcore
            import httpx

            transport = httpx.AsyncHTTPTransport(trust_env=False)
            # httpx has no public hook for the network backend; the pool it builds is replaced by an
            # identical one whose every TCP connect goes through the policy.
            transport._pool = httpcore.AsyncConnectionPool(
                ssl_context=httpx.create_ssl_context(trust_env=False),
                max_connections=20,
                keepalive_expiry=30.0,
                network_backend=cast(Any, GuardedNetworkBackend(self.policy)),
            )
            self._client = httpx.AsyncClient(
                transport=transport,
                trust_env=False,
                follow_redirects=False,
                timeout=httpx.Timeout(
                    connect=self.connect_timeout_s,
                    read=self.read_timeout_s,
                    write=self.read_timeout_s,
                    pool=self.connect_timeout_s,
                ),
                headers={"User-Agent": self.user_agent, "Accept": "text/html,text/plain;q=0.9,*/*;q=0.5"},
            )
        return self._client

    async def fetch(self, url: str) -> FetchedDocument:
        """GET `url`, following up to `max_redirects` redirects. Raises `FetchError` (incl. `UrlRefused`)."""
        try:
            async with asyncio.timeout(self.total_timeout_s):
                return await self._fetch(url)
        except TimeoutError:
            raise FetchError(f"timed out after {self.total_timeout_s:g} seconds") from None

    async def _fetch(self, url: str) -> FetchedDocument:
        current = url
        for _ in range(self.max_redirects + 1):
            self.policy.check_url(current)
            document, location = await self._get_with_retries(current)
            if location is None:
                return document
            import httpx

            current = str(httpx.URL(current).join(location))
        raise FetchError(f"too many redirects (more than {self.max_redirects})")

    async def _get_with_retries(self, url: str) -> tuple[FetchedDocument, str | None]:
        import httpx

        attempt = 0
        while True:
            try:
                document, location = await self._get_once(url)
            except UrlRefused:
                raise
            except (httpx.TransportError, _RetryableStatus) as exc:
                if attempt >= self.retries:
                    raise FetchError(_describe(exc)) from None
            else:
                return document, location
            await asyncio.sleep(self.retry_backoff_s * (2**attempt))
            attempt += 1

    async def _get_once(self, url: str) -> tuple[FetchedDocument, str | None]:
        client = self._client_now()
        async with client.stream("GET", url) as response:
            if response.status_code in _REDIRECT_STATUS and "location" in response.headers:
                return _empty(url, response.status_code), response.headers["location"]
            if response.status_code in _RETRY_STATUS:
                raise _RetryableStatus(response.status_code, response.reason_phrase)
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}")
            chunks: list[bytes] = []
            size = 0
            truncated = False
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > self.max_bytes:
                    truncated = True
                    break
            body = b"".join(chunks)[: self.max_bytes]
            media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            return (
                FetchedDocument(
                    url=str(response.url),
                    status=response.status_code,
                    content_type=media,
                    charset=response.charset_encoding,
                    body=body,
                    truncated=truncated,
                ),
                None,
            )

    async def fetch_page(self, url: str) -> Page:
        """Fetch `url` and convert it by content type (HTML, plain text, Markdown, PDF); cached."""
        cached = self._cache.get(url)
        if cached is not None:
            return cached
        document = await self.fetch(url)
        page = await asyncio.to_thread(document_to_page, document, url)
        self._cache[url] = page
        return page

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class _RetryableStatus(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}")


def _describe(exc: Exception) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect ({exc})"
    return str(exc) or type(exc).__name__


def _empty(url: str, status: int) -> FetchedDocument:
    return FetchedDocument(url=url, status=status, content_type="", charset=None, body=b"", truncated=False)


def document_to_page(document: FetchedDocument, requested_url: str) -> Page:
    """Convert a fetched body by media type; raises `FetchError` for types the browser cannot show."""
    media = document.content_type
    url = document.url or requested_url
    if media == "application/pdf" or (not media and document.body.startswith(b"%PDF")):
        if document.truncated:
            raise FetchError("PDF larger than the response size cap")
        try:
            return pdf_to_page(document.body, url)
        except ImportError:
            raise FetchError("cannot show PDF: install pypdf (pip install 'agentoss[browser]')") from None
        except Exception as exc:
            raise FetchError(f"unreadable PDF ({type(exc).__name__})") from None
    charset = document.charset
    if charset is None and media in _HTML_TYPES:
        declared = _META_CHARSET.search(document.body[:4096])
        charset = declared.group(1).decode("ascii") if declared else None
    try:
        text = document.body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        text = document.body.decode("utf-8", errors="replace")
    if media in _HTML_TYPES or (not media and text.lstrip()[:1] == "<"):
        return html_to_page(text, url)
    if media in _MARKDOWN_TYPES:
        return markdown_to_page(text, url)
    if media in _TEXT_TYPES or media.startswith("text/") or not media:
        return text_to_page(text, url)
    raise FetchError(f"unsupported content type `{media}`")


class WebBackend:
    """Open-only web browsing: `fetch` goes through a `WebFetcher`; `search` needs a search provider."""

    def __init__(self, fetcher: WebFetcher | None = None) -> None:
        self.fetcher = fetcher if fetcher is not None else WebFetcher()

    @property
    def source(self) -> str:
        return "web"

    async def search(self, query: str, topn: int) -> list[SearchResult]:
        raise FetchError(
            "no search provider is configured; open a URL directly with browser.open(id=URL), "
            "or configure a search backend (ExaBackend, YouComBackend, a local corpus)"
        )

    async def fetch(self, url: str) -> Page:
        return await self.fetcher.fetch_page(url)

    async def aclose(self) -> None:
        await self.fetcher.aclose()
