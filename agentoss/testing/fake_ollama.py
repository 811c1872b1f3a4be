"""A fake Ollama server (`/api/generate` raw mode, `/api/show`, `/api/version`) answering from a `Script`.

Reproduced behaviour: the prompt is harmony text (control tokens written out, parsed as special
tokens in raw mode); replies stream as NDJSON lines `{"response": TEXT, "done": false}` and end with
`{"done": true, "done_reason": "stop" | "length", "prompt_eval_count", "eval_count", ...}`; the
end-of-generation tokens `<|return|>` / `<|call|>` stop sampling and are not part of the text;
`num_predict` caps output; errors are `{"error": "..."}`.

Run it: `python -m agentoss.testing.fake_ollama --port 0 [--script FILE.json]`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
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

__all__ = ["FakeOllamaServer"]

_EOG = frozenset({200002, 200012, 199999})


class FakeOllamaServer(FakeServer):
    """`async with FakeOllamaServer(script=...) as server: server.base_url`."""

    def __init__(
        self,
        script: Script | Sequence[Reply] | None = None,
        *,
        model: str = "gpt-oss:20b",
        context_length: int = 131_072,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        chunk_tokens: int | Sequence[int] = (1, 2, 3),
    ) -> None:
        super().__init__(script, faults=faults, host=host, port=port, chunk_tokens=chunk_tokens)
        self.model = model
        self.context_length = context_length

    def _add_routes(self, app: Any) -> None:
        from aiohttp import web

        async def root(request: Any) -> Any:
            return web.Response(text="Ollama is running")

        async def version(request: Any) -> Any:
            return web.json_response({"version": "0.12.3"})

        app.router.add_get("/", root)
        app.router.add_get("/api/version", version)
        app.router.add_post("/api/show", self._show)
        app.router.add_post("/api/generate", self._generate)

    async def _show(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.json()
        if body.get("model", body.get("name")) != self.model:
            return web.json_response({"error": f"model '{body.get('model')}' not found"}, status=404)
        info = {"general.architecture": "gptoss", "gptoss.context_length": self.context_length}
        return web.json_response({"model_info": info, "details": {"family": "gptoss"}})

    async def _generate(self, request: Any) -> Any:
        from aiohttp import web

        from agentoss.harmony.encoding import encode_special

        body = await request.json()
        self.requests.append(body)
        if body.get("model") != self.model:
            return web.json_response({"error": f"model '{body.get('model')}' not found"}, status=404)
        status = self.faults.take_status()
        if status is not None:
            return web.json_response({"error": f"injected fault: HTTP {status}"}, status=status)
        options = body.get("options") or {}
        prompt = encode_special(str(body.get("prompt", "")))
        num_ctx = int(options.get("num_ctx") or 4096)
        if len(prompt) >= num_ctx:
            # Ollama truncates an over-long prompt silently; keep its tail like the real server.
            prompt = prompt[-(num_ctx // 2) :]
        limit = int(options.get("num_predict", -1))
        limit = num_ctx - len(prompt) if limit < 0 else min(limit, num_ctx - len(prompt))
        reply = self.continuation(prompt)
        tokens: list[int] = []
        done_reason = "stop"
        for token in reply:
            if token in _EOG:
                break
            if len(tokens) >= limit:
                done_reason = "length"
                break
            tokens.append(token)
        eval_count = len(tokens) + (1 if done_reason == "stop" and len(tokens) < len(reply) else 0)
        final = {
            "model": self.model,
            "created_at": _now(),
            "response": "",
            "done": True,
            "done_reason": done_reason,
            "total_duration": 1000,
            "prompt_eval_count": len(prompt),
            "eval_count": eval_count,
        }
        streamer = TextStreamer(skip_special=False)
        if not body.get("stream", True):
            self.completed += 1
            return web.json_response({**final, "response": streamer.feed(tokens)})
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        drop_at = self.faults.take_drop()
        self.active += 1
        sent = 0
        try:
            for piece in self.chunks(tokens):
                await self.pace(request, sent, drop_at)
                line = {
                    "model": self.model,
                    "created_at": _now(),
                    "response": streamer.feed(piece),
                    "done": False,
                }
                await resp.write(json.dumps(line).encode() + b"\n")
                sent += len(piece)
            await resp.write(json.dumps(final).encode() + b"\n")
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


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _make(args: Any) -> FakeOllamaServer:
    script = Script.load(args.script) if args.script else None
    return FakeOllamaServer(
        script,
        model=args.model,
        faults=Faults(token_delay=args.token_delay),
        host=args.host,
        port=args.port,
        chunk_tokens=args.chunk_tokens or (1, 2, 3),
    )


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m agentoss.testing.fake_ollama`: serve until interrupted."""
    parser = base_arguments("A fake Ollama server answering from a script.")
    parser.add_argument("--model", default="gpt-oss:20b")
    run_cli(_make, parser.parse_args(argv))


if __name__ == "__main__":
    main()
