"""A fake Ollama server (`/api/generate` raw mode, `/api/show`, `/api/version`) answering from a `Script`.

Reproduced behaviour: the prompt is harmony text (control tokens written out, parsed as special
tokens in raw mode); replies stream as NDJSON lines `{"response": TEXT, "done": false}` and end with
`{"done": true, "done_reason": "stop" | "length", "prompt_eval_count", "eval_count", ...}`; the
end-of-generation tokens `<|return|>` / `<|call|>` stop sampling and are not part of the text;
`num_predict` caps output; errors are `{"error": "..."}`.

Run it: `python -m agentoss.testing.fake_ollama --port 0 [--script FILE.json]`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
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

__all__ = ["FakeOllamaServer"]


class FakeOllamaServer(FakeServer):
    """`async with FakeOllamaServer(script=...) as server: server.base_url`."""

    def __init__(
        self,
        script: Script | Sequence[Reply] | None = None,
        *,
        model: str = "gpt-oss:20b",
        context_length: int = 131_072,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(script, **options)
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
        tokens, limited = cut_at_eog(reply, limit)
        done_reason = "length" if limited else "stop"
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

        def frames() -> Iterator[tuple[bytes, int]]:
            for piece in self.chunks(tokens):
                line = {
                    "model": self.model,
                    "created_at": _now(),
                    "response": streamer.feed(piece),
                    "done": False,
                }
                yield json.dumps(line).encode() + b"\n", len(piece)
            yield json.dumps(final).encode() + b"\n", 0

        return await self.stream_reply(request, "application/x-ndjson", frames())


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _make(args: Any) -> FakeOllamaServer:
    script, options = cli_options(args)
    return FakeOllamaServer(script, model=args.model, **options)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m agentoss.testing.fake_ollama`: serve until interrupted."""
    parser = base_arguments("A fake Ollama server answering from a script.")
    parser.add_argument("--model", default="gpt-oss:20b")
    run_cli(_make, parser.parse_args(argv))


if __name__ == "__main__":
    main()
