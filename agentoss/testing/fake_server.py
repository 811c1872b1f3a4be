"""What the fake model servers share: a loopback aiohttp server, injectable faults, a `python -m` runner.

Each fake (`fake_vllm`, `fake_ollama`, `fake_llamacpp`) speaks its engine's wire protocol and answers
from a `Script`; this module holds the lifecycle (`async with Server(...) as s: s.base_url`), the
streaming of a reply (faults applied, the body ended right after the last event as real servers do),
the fault switches tests flip between requests, and the counters tests assert on.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import signal
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Self, TypedDict

from agentoss.testing.script import Reply, Script

__all__ = [
    "EOG",
    "FakeServer",
    "Faults",
    "ServerOptions",
    "StreamAborted",
    "TextStreamer",
    "base_arguments",
    "cli_options",
    "cut_at_eog",
    "run_cli",
    "script_from",
]

SPECIAL_MIN = 199998
"""Ids at and above this are harmony control / reserved tokens (o200k_harmony)."""


_ASSISTANT_START = [200006, 173781]
"""`<|start|>assistant`: how every completion prompt ends."""

EOG = frozenset({200002, 200012, 199999})
"""End-of-generation tokens (`<|return|>`, `<|call|>`, `<|endoftext|>`) that text servers do not return."""


class StreamAborted(Exception):
    """Raised inside a handler when the fake drops the connection on purpose or the client went away."""


@dataclass
class Faults:
    """Faults a fake injects into its generation endpoint. Counters decrement as faults fire."""

    status: int | None = None
    """Answer this HTTP status (e.g. 500, 503, 429) instead of generating."""
    status_count: int = 1
    """How many requests get `status`; -1 for all of them."""
    retry_after: float | None = None
    """`Retry-After` header (seconds) sent with `status`."""
    drop_after: int | None = None
    """Close the connection after streaming this many tokens."""
    drop_count: int = 1
    """How many requests are dropped; -1 for all of them."""
    stall_after: int | None = None
    """Stop sending (without closing) after this many tokens, for `stall_s` seconds."""
    stall_s: float = 30.0
    error_after: int | None = None
    """Send an in-stream error event after this many tokens (vLLM SSE `data: {"error": ...}`)."""
    token_delay: float = 0.0
    """Seconds slept before each streamed chunk."""
    context_length: bool = False
    """Reject every request as too long for the context window (HTTP 400)."""

    def take_status(self) -> int | None:
        """The injected status for this request, if any (consumes one)."""
        if self.status is None or self.status_count == 0:
            return None
        if self.status_count > 0:
            self.status_count -= 1
        return self.status

    def take_drop(self) -> int | None:
        """The token count after which this request is dropped, if any (consumes one)."""
        if self.drop_after is None or self.drop_count == 0:
            return None
        if self.drop_count > 0:
            self.drop_count -= 1
        return self.drop_after


class TextStreamer:
    """Incremental detokenizer: holds back incomplete UTF-8 like vLLM's, optionally skips control tokens."""

    def __init__(self, skip_special: bool) -> None:
        from agentoss.harmony.encoding import harmony_encoding

        self._enc = harmony_encoding()
        # The Rust object: the Python wrapper does not re-export `decode_bytes`.
        self._bytes = self._enc._inner.decode_bytes
        self._skip = skip_special
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, tokens: Sequence[int]) -> str:
        """Text for these tokens (may be empty while a multi-byte character is incomplete)."""
        out: list[str] = []
        plain: list[int] = []
        for token in tokens:
            if token >= SPECIAL_MIN:
                if plain:
                    out.append(self._utf8.decode(bytes(self._bytes(plain))))
                    plain = []
                if not self._skip:
                    out.append(self._enc.decode([token]))
            else:
                plain.append(token)
        if plain:
            out.append(self._utf8.decode(bytes(self._bytes(plain))))
        return "".join(out)


def cut_at_eog(reply: Sequence[int], limit: int) -> tuple[list[int], bool]:
    """The tokens a text server returns: up to the first end-of-generation token, at most `limit`.

    The flag is True when `limit` cut the reply (a length finish).
    """
    tokens: list[int] = []
    for token in reply:
        if token in EOG:
            return tokens, False
        if len(tokens) >= limit:
            return tokens, True
        tokens.append(token)
    return tokens, False


class ServerOptions(TypedDict, total=False):
    """Keyword options every fake accepts (see `FakeServer`)."""

    faults: Faults | None
    host: str
    port: int
    chunk_tokens: int | Sequence[int] | None


def script_from(script: Script | Sequence[Reply] | None, default: str) -> Script:
    """A `Script` from a script, a list of replies (step rules), or None (always `default`)."""
    if script is None:
        return Script.from_replies([default] * 64)
    if isinstance(script, Script):
        return script
    return Script.from_replies(script)


class FakeServer:
    """A loopback aiohttp server; subclasses add routes in `_add_routes`."""

    default_reply = "<|channel|>final<|message|>Hello from the fake server.<|return|>"
    default_chunk_tokens: tuple[int, ...] = (1, 2, 3)
    """Tokens per stream chunk (cycled) when `chunk_tokens` is not given."""

    def __init__(
        self,
        script: Script | Sequence[Reply] | None = None,
        *,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        chunk_tokens: int | Sequence[int] | None = None,
    ) -> None:
        self.script = script_from(script, self.default_reply)
        self.faults = faults if faults is not None else Faults()
        self.host = host
        self.port = port
        if chunk_tokens is None:
            chunk_tokens = self.default_chunk_tokens
        self.chunk_tokens: tuple[int, ...] = (
            (chunk_tokens,) if isinstance(chunk_tokens, int) else tuple(chunk_tokens)
        )
        self.requests: list[dict[str, Any]] = []
        """JSON bodies received by the generation endpoint(s), in order."""
        self.disconnects = 0
        """Streams the client closed before the server finished them."""
        self.completed = 0
        """Generation requests answered to the end."""
        self.active = 0
        """Generation requests in progress now."""
        self.clients: set[Any] = set()
        """Client (host, port) pairs that were streamed a reply: fewer than the streams when the
        client reuses its connections."""
        self._runner: Any = None

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT` of the running server."""
        return f"http://{self.host}:{self.port}"

    def _add_routes(self, app: Any) -> None:
        raise NotImplementedError

    def chunks(self, tokens: Sequence[int]) -> list[list[int]]:
        """Split sampled tokens into stream chunks following `chunk_tokens` (cycled)."""
        out: list[list[int]] = []
        i = 0
        k = 0
        while i < len(tokens):
            size = max(1, self.chunk_tokens[k % len(self.chunk_tokens)])
            out.append(list(tokens[i : i + size]))
            i += size
            k += 1
        return out

    def continuation(self, prompt: Sequence[int]) -> list[int]:
        """The scripted reply, continued where a prompt already holds its beginning (a resumed request).

        A client resuming a cut stream sends prompt + the tokens it received; a real model carries on
        from there. The fake does the same when the prompt ends with `<|start|>assistant` followed by
        a prefix of the reply chosen for it.
        """
        reply = self.script.choose(prompt)
        for k in range(min(len(reply), len(prompt) - 2), 0, -1):
            head = len(prompt) - k
            if list(prompt[head - 2 : head]) == _ASSISTANT_START and list(prompt[head:]) == reply[:k]:
                return reply[k:]
        return reply

    async def pace(self, request: Any, sent: int, drop_at: int | None) -> None:
        """Apply delay / stall / drop faults before the next chunk; `sent` tokens went out so far."""
        faults = self.faults
        if faults.token_delay:
            await asyncio.sleep(faults.token_delay)
        if faults.stall_after is not None and sent >= faults.stall_after:
            faults.stall_after = None
            await asyncio.sleep(faults.stall_s)
        if drop_at is not None and sent >= drop_at:
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise StreamAborted("dropped by fault injection")

    async def stream_reply(self, request: Any, content_type: str, frames: Iterable[tuple[bytes, int]]) -> Any:
        """Stream `frames` (data, tokens it carries) as one chunked body and end it at once.

        Frames carrying tokens are paced first (delay / stall / drop faults). The body ends right after
        the last frame, as vLLM, Ollama and llama-server end theirs, so a client can reuse the connection.
        """
        from aiohttp import web

        resp = web.StreamResponse(headers={"Content-Type": content_type, "Cache-Control": "no-cache"})
        await resp.prepare(request)
        drop_at = self.faults.take_drop()
        self.active += 1
        self.clients.add(request.transport.get_extra_info("peername") if request.transport else None)
        sent = 0
        try:
            for data, tokens in frames:
                if tokens:
                    await self.pace(request, sent, drop_at)
                    sent += tokens
                await resp.write(data)
            await resp.write_eof()
            self.completed += 1
        except StreamAborted:
            return resp
        except (ConnectionError, asyncio.CancelledError):
            self.disconnects += 1
            raise
        finally:
            self.active -= 1
        return resp

    async def start(self) -> Self:
        """Bind and start serving; `base_url` is valid afterwards."""
        from aiohttp import web

        app = web.Application(client_max_size=256 * 1024 * 1024)
        self._add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        """Stop serving and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def base_arguments(description: str) -> argparse.ArgumentParser:
    """The options every fake's `python -m` entry point accepts."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--script", help="JSON list of rules {reply, when?, step?}")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--chunk-tokens", type=int, default=0, help="tokens per chunk (0: 1,2,3 cycle)")
    return parser


def cli_options(args: argparse.Namespace) -> tuple[Script | None, ServerOptions]:
    """The script and server options from `base_arguments`."""
    script = Script.load(args.script) if args.script else None
    options: ServerOptions = {
        "faults": Faults(token_delay=args.token_delay),
        "host": args.host,
        "port": args.port,
        "chunk_tokens": args.chunk_tokens or None,
    }
    return script, options


def run_cli(make: Any, args: argparse.Namespace) -> None:
    """Run a fake until SIGINT / SIGTERM, printing `READY http://HOST:PORT` once listening."""

    async def main() -> None:
        server = make(args)
        await server.start()
        print(f"READY {server.base_url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
