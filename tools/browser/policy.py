"""Which addresses the browser may fetch: no SSRF into loopback, private, link-local or metadata hosts.

`UrlPolicy.check_url` vets a URL's scheme and port; `UrlPolicy.resolve` resolves a host name and
refuses it when *any* address it resolves to is not public (a mixed answer is refused rather than
filtered, so a rebinding name cannot win a race). The check runs again at connection time for every
connection httpx opens (`GuardedNetworkBackend`), which covers every redirect hop, and the connection
goes to the address that was vetted, so a second DNS answer is never used.

Allowed by default: globally routable unicast addresses only. An IPv6 address that embeds an IPv4
address (IPv4-mapped, IPv4-compatible, SIIT, 6to4, NAT64 `64:ff9b::/96`) is judged by that IPv4
address; local-use NAT64 (`64:ff9b:1::/48`) is refused. `allow` opts specific networks in
(tests use `UrlPolicy(allow=["127.0.0.1/32"])` for their loopback server).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from agentoss.tools.browser.backend import FetchError

__all__ = ["GuardedNetworkBackend", "UrlPolicy", "UrlRefused"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata endpoints outside the ranges `is_global` already excludes.
_METADATA = (ipaddress.ip_network("100.100.100.200/32"), ipaddress.ip_network("fd00:ec2::254/128"))

# Not globally reachable (IANA special-purpose registry) though Python 3.11's `is_global` says they
# are. Local-use NAT64 (RFC 8215) is refused whole: the operator picks its prefix length, so where
# the IPv4 address sits inside it (RFC 6052) cannot be known from the address alone.
_NOT_GLOBAL = (
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("fec0::/10"),
    ipaddress.ip_network("3fff::/20"),
)

# IPv6 forms that carry an IPv4 address in their last 32 bits (and reach it, through a translator
# or an automatic tunnel): IPv4-compatible (RFC 4291, deprecated), SIIT IPv4-translated (RFC 2765)
# and the well-known NAT64 prefix (RFC 6052). IPv4-mapped and 6to4 have `ipaddress` properties.
_EMBEDDING_V4 = (
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
    ipaddress.ip_network("64:ff9b::/96"),
)


class UrlRefused(FetchError):
    """The URL policy refused a URL or the address it resolves to."""


def _unmapped(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for (judged instead of it), else `address` itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if any(address in network for network in _EMBEDDING_V4):
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


@dataclass(frozen=True)
class UrlPolicy:
    """Rules for outgoing fetches."""

    allow: Sequence[str] = ()
    """Networks (`"127.0.0.1/32"`, `"10.0.0.0/8"`) allowed even though they are not public."""
    schemes: tuple[str, ...] = ("http", "https")
    resolve_timeout_s: float = 5.0
    """Timeout of one DNS resolution."""
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        networks = tuple(ipaddress.ip_network(entry, strict=False) for entry in self.allow)
        object.__setattr__(self, "_networks", networks)

    def address_allowed(self, address: IPAddress) -> bool:
        """True when `address` is public, or inside an allowed network."""
        plain = _unmapped(address)
        if any(plain in network or address in network for network in self._networks):
            return True
        if any(plain in network for network in _METADATA + _NOT_GLOBAL):
            return False
        return plain.is_global and not plain.is_multicast

    def check_url(self, url: str) -> tuple[str, int]:
        """Scheme, host and port checks that need no DNS; returns (host, port). Raises `UrlRefused`."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UrlRefused(f"invalid URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in self.schemes:
            raise UrlRefused(
                f"URL scheme `{scheme or '(none)'}` is not allowed (use {', '.join(self.schemes)})"
            )
        host = parts.hostname
        if not host:
            raise UrlRefused("URL has no host")
        return host, port or (443 if scheme == "https" else 80)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Resolve `host` and return its addresses; raises `UrlRefused` unless every one is allowed."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            loop = asyncio.get_running_loop()
            try:
                infos = await asyncio.wait_for(
                    loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), self.resolve_timeout_s
                )
            except TimeoutError:
                raise UrlRefused(f"DNS resolution of `{host}` timed out") from None
            except OSError as exc:
                raise UrlRefused(f"cannot resolve host `{host}`: {exc.strerror or exc}") from None
            addresses = []
            for info in infos:
                address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
                if address not in addresses:
                    addresses.append(address)
        refused = [address for address in addresses if not self.address_allowed(address)]
        if refused or not addresses:
            shown = ", ".join(str(address) for address in refused) or "nothing"
            raise UrlRefused(
                f"refused to fetch `{host}`: it resolves to a non-public address ({shown}); "
                "only public internet addresses may be fetched"
            )
        return addresses


class GuardedNetworkBackend:
    """An httpcore network backend that connects only to addresses the policy allows.

    Every TCP connection (first request, each redirect, each retry) resolves its host here, checks
    all addresses, and connects to the vetted address itself; TLS still verifies the host name.
    """

    def __init__(self, policy: UrlPolicy) -> None:
        import httpcore

        self.policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        addresses = await self.policy.resolve(host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except Exception as exc:  # try the next vetted address, as a resolver-aware client would
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend signature)
        socket_options: Any = None,
    ) -> Any:
        raise UrlRefused("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
