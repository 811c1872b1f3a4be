"""SSRF: the default URL policy refuses internal addresses directly, by DNS name and on redirects."""

from __future__ import annotations

import ipaddress

import pytest
from agentoss.tools.browser import BrowserTool, FetchError, UrlPolicy, UrlRefused, WebFetcher
from aiohttp import web
from browser_fixtures import Handler, Route, serve

from agentoss.runtime.tool import ToolError

SECRET = Route(body="<html><body><p>internal secret</p></body></html>")


def _redirect(location: str, status: int = 302) -> Route:
    return Route(status=status, body="", headers={"Location": location})


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.0.0.2",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.100.100.200",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "::ffff:127.0.0.1",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "::127.0.0.1",  # IPv4-compatible IPv6
        "::a9fe:a9fe",
        "::ffff:0:7f00:1",  # SIIT IPv4-translated
        "64:ff9b::7f00:1",  # NAT64 well-known prefix -> 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # -> 169.254.169.254
        "64:ff9b::a00:1",  # -> 10.0.0.1
        "64:ff9b:1::5db8:d822",  # local-use NAT64: refused whatever it embeds
        "64:ff9b:1:7f00:1::",
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "fec0::1",  # deprecated site-local
    ],
)
def test_default_policy_refuses_internal_addresses(address: str) -> None:
    assert not UrlPolicy().address_allowed(ipaddress.ip_address(address))


def test_public_addresses_and_allowlist() -> None:
    assert UrlPolicy().address_allowed(ipaddress.ip_address("93.184.216.34"))
    assert UrlPolicy().address_allowed(ipaddress.ip_address("2606:4700::1111"))
    # NAT64 of a public address is how an IPv6-only network (DNS64) reaches the IPv4 internet.
    assert UrlPolicy().address_allowed(ipaddress.ip_address("64:ff9b::5db8:d822"))
    policy = UrlPolicy(allow=["127.0.0.1/32"])
    assert policy.address_allowed(ipaddress.ip_address("127.0.0.1"))
    assert policy.address_allowed(ipaddress.ip_address("64:ff9b::7f00:1"))  # judged as 127.0.0.1
    assert not policy.address_allowed(ipaddress.ip_address("127.0.0.2"))
    assert not policy.address_allowed(ipaddress.ip_address("::7f00:2"))


async def test_direct_loopback_refused_before_any_request() -> None:
    async with serve({"/": SECRET}) as server:
        fetcher = WebFetcher()
        with pytest.raises(UrlRefused, match=r"non-public address \(127\.0\.0\.1\)"):
            await fetcher.fetch(server.base_url + "/")
        await fetcher.aclose()
        assert server.hits == []


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433:9/",  # 127.0.0.1 as one decimal number
        "http://0x7f.1:9/",  # hex and short forms
        "http://127.1:9/",
        "http://[::1]:9/",
        "http://[::ffff:127.0.0.1]:9/",  # IPv4-mapped IPv6
        "http://[::127.0.0.1]:9/",  # IPv4-compatible IPv6
        "http://[64:ff9b::7f00:1]:9/",  # NAT64 of loopback
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 of the metadata address
        "http://169.254.169.254/latest/meta-data/",
        "ftp://example.com/file",
        "gopher://127.0.0.1:6379/_",
    ],
)
async def test_obfuscated_internal_urls_refused(url: str) -> None:
    fetcher = WebFetcher(retries=0)
    with pytest.raises(UrlRefused):
        await fetcher.fetch(url)
    await fetcher.aclose()


async def test_dns_name_resolving_to_loopback_refused() -> None:
    async with serve({"/": SECRET}) as server:
        port = server.base_url.rsplit(":", 1)[1]
        fetcher = WebFetcher()
        with pytest.raises(UrlRefused, match="refused to fetch `localhost`"):
            await fetcher.fetch(f"http://localhost:{port}/")
        await fetcher.aclose()
        assert server.hits == []
        allowed = WebFetcher(UrlPolicy(allow=["127.0.0.0/8", "::1/128"]))
        document = await allowed.fetch(f"http://localhost:{port}/")
        await allowed.aclose()
        assert b"internal secret" in document.body


async def test_redirect_to_internal_address_refused() -> None:
    async with serve({"/secret": SECRET}, host="127.0.0.2") as internal:
        routes = {
            "/to-internal": _redirect(internal.base_url + "/secret"),
            "/to-metadata": _redirect("http://169.254.169.254/latest/meta-data/", 301),
            "/to-file": _redirect("file:///etc/passwd", 307),
            "/loop": _redirect("/loop"),
        }
        async with serve(routes) as public:
            fetcher = WebFetcher(UrlPolicy(allow=["127.0.0.1/32"]), retries=0)
            with pytest.raises(UrlRefused, match=r"127\.0\.0\.2"):
                await fetcher.fetch(public.base_url + "/to-internal")
            with pytest.raises(UrlRefused, match=r"169\.254\.169\.254"):
                await fetcher.fetch(public.base_url + "/to-metadata")
            with pytest.raises(UrlRefused, match="scheme `file`"):
                await fetcher.fetch(public.base_url + "/to-file")
            with pytest.raises(FetchError, match="too many redirects"):
                await fetcher.fetch(public.base_url + "/loop")
            await fetcher.aclose()
            assert internal.hits == []
            # Control: once the internal network is allowed, the same redirect is followed.
            opened = WebFetcher(UrlPolicy(allow=["127.0.0.0/8"]))
            document = await opened.fetch(public.base_url + "/to-internal")
            await opened.aclose()
            assert b"internal secret" in document.body and internal.hits == ["/secret"]


async def test_browser_default_policy_reports_refusal_as_text() -> None:
    async with serve({"/": SECRET}) as server:
        browser = BrowserTool()
        with pytest.raises(
            ToolError, match=r"^Error fetching URL `http://127\.0\.0\.1:\d+/`: refused to fetch"
        ):
            await browser.open(id=server.base_url + "/")
        with pytest.raises(ToolError, match="no search provider is configured"):
            await browser.search(query="anything")
        await browser.aclose()
        assert server.hits == []


async def test_fetcher_limits_size_timeouts_retries_and_types() -> None:
    attempts: list[int] = []

    async def flaky(request: web.Request) -> web.Response:
        attempts.append(1)
        if len(attempts) == 1:
            return web.Response(status=503, text="busy")
        return web.Response(text="recovered", content_type="text/plain")

    async def slow(request: web.Request) -> web.StreamResponse:
        import asyncio

        response = web.StreamResponse()
        await response.prepare(request)
        await asyncio.sleep(0.8)
        return response

    routes: dict[str, Route | Handler] = {
        "/big": Route(body="<p>" + "word " * 50_000 + "</p>"),
        "/flaky": flaky,
        "/slow": slow,
        "/image": Route(body=b"\x89PNG", content_type="image/png"),
    }
    async with serve(routes) as server:
        policy = UrlPolicy(allow=["127.0.0.1/32"])
        fetcher = WebFetcher(policy, max_bytes=2_000, read_timeout_s=0.2, retries=1, retry_backoff_s=0.0)
        big = await fetcher.fetch(server.base_url + "/big")
        assert big.truncated and len(big.body) == 2_000
        page = await fetcher.fetch_page(server.base_url + "/flaky")
        assert "recovered" in page.text and len(attempts) == 2
        with pytest.raises(FetchError, match="timed out"):
            await fetcher.fetch(server.base_url + "/slow")
        with pytest.raises(FetchError, match="unsupported content type `image/png`"):
            await fetcher.fetch_page(server.base_url + "/image")
        await fetcher.aclose()
