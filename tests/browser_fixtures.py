"""Shared helpers for the browser tests: a real loopback HTTP server serving canned responses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

DATA = Path(__file__).parent / "data" / "browser"
SITE = DATA / "site"
GOLDEN = DATA / "golden"


@dataclass
class Route:
    """A canned response: body, status, content type and extra headers."""

    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[web.Request], Any]


@dataclass
class LoopbackServer:
    base_url: str
    hits: list[str]


@asynccontextmanager
async def serve(
    routes: Mapping[str, Route | Handler], *, host: str = "127.0.0.1"
) -> AsyncIterator[LoopbackServer]:
    """Serve `routes` (path -> Route or aiohttp handler) on `host`, a free port; 404 elsewhere."""
    hits: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        hits.append(request.path_qs)
        route = routes.get(request.path_qs) or routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="not found")
        if callable(route):
            return await route(request)
        body = route.body.encode() if isinstance(route.body, str) else route.body
        headers = {"Content-Type": route.content_type, **route.headers}
        return web.Response(status=route.status, body=body, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield LoopbackServer(base_url=f"http://{host}:{port}", hits=hits)
    finally:
        await runner.cleanup()


def site_routes() -> dict[str, Route]:
    """Every file under tests/data/browser/site served at /<name>."""
    routes: dict[str, Route] = {}
    for path in sorted(SITE.iterdir()):
        kind = {".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8"}.get(
            path.suffix, "application/octet-stream"
        )
        routes[f"/{path.name}"] = Route(body=path.read_bytes(), content_type=kind)
    return routes


def make_pdf(text: str) -> bytes:
    """A minimal one-page PDF showing `text` in Helvetica (ASCII only)."""
    stream = f"BT /F1 18 Tf 72 700 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
