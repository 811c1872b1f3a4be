"""A fake llama.cpp `llama-server` (`/completion` with token prompts, `/props`, `/health`) from a `Script`.

Reproduced behaviour: `prompt` may be a list of token ids; `n_predict` caps output (-1: no cap);
`return_tokens: true` adds `tokens` to each event; SSE events `data: {"content", "tokens", "stop"}`
without a `[DONE]` sentinel; the last event has `stop: true`, `stop_type` (`eos`, `limit`),
`tokens_predicted` and `tokens_evaluated`; end-of-generation tokens are not returned; a prompt
over the context size is a 400 `exceed_context_size_error`.

Run it: `python -m agentoss.testing.fake_llamacpp --port 0 [--script FILE.json]`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, Unpack

from agentoss.testing.fake_server import (
    FakeServer,
    ServerOptions,
    TextStreamer,
    base_arguments,
    cli_options,
    cut_at_eog,
    run_cli,
)
from agentoss.testing.script import Reply, Script

__all__ = ["FakeLlamaCppServer"]


class FakeLlamaCppServer(FakeServer):
    """`async with FakeLlamaCppServer(script=..., n_ctx=8192) as server: server.base_url`."""

    default_chunk_tokens = (1,)

    def __init__(
        self,
        script: Script | Sequence[Reply] | None = None,
        *,
        n_ctx: int = 8192,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(script, **options)
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
        tokens, limited = cut_at_eog(self.continuation(prompt), limit)
        stop_type = "limit" if limited else "eos"
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

        def frames() -> Iterator[tuple[bytes, int]]:
            for piece in self.chunks(tokens):
                event: dict[str, Any] = {"content": streamer.feed(piece), "stop": False, "index": 0}
                if with_tokens:
                    event["tokens"] = piece
                yield b"data: " + json.dumps(event).encode() + b"\n\n", len(piece)
            yield b"data: " + json.dumps(final).encode() + b"\n\n", 0

        return await self.stream_reply(request, "text/event-stream", frames())


def _make(args: Any) -> FakeLlamaCppServer:
    script, options = cli_options(args)
    return FakeLlamaCppServer(script, n_ctx=args.n_ctx, **options)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m agentoss.testing.fake_llamacpp`: serve until interrupted."""
    parser = base_arguments("A fake llama.cpp server answering from a script.")
    parser.add_argument("--n-ctx", type=int, default=8192)
    run_cli(_make, parser.parse_args(argv))


if __name__ == "__main__":
    main()
