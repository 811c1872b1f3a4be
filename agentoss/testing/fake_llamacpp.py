"""A fake llama.cpp `llama-server` (`/completion` with token prompts, `/props`, `/health`) from a `Script`.

Reproduced behaviour: `prompt` may be a list of token ids; `n_predict` caps output (-1: no cap);
`return_tokens: true` adds `tokens` to each event; SSE events `data: {"content", "tokens", "stop"}`
without a `[DONE]` sentinel; the last event has `stop: true`, `stop_type` (`eos`, `limit`),
`tokens_predicted` and `tokens_evaluated`; end-of-generation tokens are not returned; a prompt
over the context size is a 400 `exceed_context_size_error`.

Run it: `python -m agentoss.testing.fake_llamacpp --port 0 [--script FILE.json]`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from agentoss.testing.fake_server import (
    FakeServer,
    Faults,
    StreamAborted,
    TextStreamer,
    base_arguments,
    run_cli,
)
from agentoss.testing.script import Reply, Script

__all__ = ["FakeLlamaCppServer"]

_EOG = frozenset({200002, 200012, 199999})


class FakeLlamaCppServer(FakeServer):
    """`async with FakeLlamaCppServer(script=..., n_ctx=8192) as server: server.base_url`."""

    def __init__(
        self,
        script: Script | Sequence[Reply] | None = None,
        *,
        n_ctx: int = 8192,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        chunk_tokens: int | Sequence[int] = 1,
    ) -> None:
        super().__init__(script, faults=faults, host=host, port=port, chunk_tokens=chunk_tokens)
        self.n_ctx = n_ctx

    def _add_routes(self, app: Any) -> None:
        from aiohttp import web

        async def health(request: Any) -> Any:
            return web.json_response({"status": "ok"})

        async def props(request: Any) -> Any:
            settings = {"n_ctx": self.n_ctx, "params": {"n_predict": -1}}
            return web.json_response({"default_generation_settings": settings, "total_slots": 1})

        app.router.add_get("/health", health)
        app.router.add_get("/props", props)
        app.router.add_post("/completion", self._completion)

    @staticmethod
    def _error(message: str, status: int, kind: str, **extra: Any) -> Any:
        from aiohttp import web

        error = {"code": status, "message": message, "type": kind, **extra}
        return web.json_response({"error": error}, status=status)

    async def _completion(self, request: Any) -> Any:
        from aiohttp import web

        from agentoss.harmony.encoding import encode_special

        body = await request.json()
        self.requests.append(body)
        status = self.faults.take_status()
        if status is not None:
            return self._error(f"injected fault: HTTP {status}", status, "server_error")
        raw = body.get("prompt")
        prompt = list(raw) if isinstance(raw, list) else encode_special(str(raw or ""))
        if len(prompt) >= self.n_ctx:
            return self._error(
                "the request exceeds the available context size, try increasing it",
                400,
                "exceed_context_size_error",
                n_prompt_tokens=len(prompt),
                n_ctx=self.n_ctx,
            )
        limit = int(body.get("n_predict", -1))
        room = self.n_ctx - len(prompt)
        limit = room if limit < 0 else min(limit, room)
        tokens: list[int] = []
        stop_type = "eos"
        for token in self.continuation(prompt):
            if token in _EOG:
                break
            if len(tokens) >= limit:
                stop_type = "limit"
                break
            tokens.append(token)
        with_tokens = bool(body.get("return_tokens"))
        final = {
            "content": "",
            "tokens": [],
            "stop": True,
            "stop_type": stop_type,
            "stopping_word": "",
            "tokens_predicted": len(tokens),
            "tokens_evaluated": len(prompt),
            "truncated": False,
        }
        streamer = TextStreamer(skip_special=False)
        if not body.get("stream"):
            self.completed += 1
            reply = {**final, "content": streamer.feed(tokens), "tokens": tokens if with_tokens else []}
            return web.json_response(reply)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        drop_at = self.faults.take_drop()
        self.active += 1
        sent = 0
        try:
            for piece in self.chunks(tokens):
                await self.pace(request, sent, drop_at)
                event: dict[str, Any] = {"content": streamer.feed(piece), "stop": False, "index": 0}
                if with_tokens:
                    event["tokens"] = piece
                await resp.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                sent += len(piece)
            await resp.write(b"data: " + json.dumps(final).encode() + b"\n\n")
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


def _make(args: Any) -> FakeLlamaCppServer:
    script = Script.load(args.script) if args.script else None
    return FakeLlamaCppServer(
        script,
        n_ctx=args.n_ctx,
        faults=Faults(token_delay=args.token_delay),
        host=args.host,
        port=args.port,
        chunk_tokens=args.chunk_tokens or 1,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m agentoss.testing.fake_llamacpp`: serve until interrupted."""
    parser = base_arguments("A fake llama.cpp server answering from a script.")
    parser.add_argument("--n-ctx", type=int, default=8192)
    run_cli(_make, parser.parse_args(argv))


if __name__ == "__main__":
    main()
