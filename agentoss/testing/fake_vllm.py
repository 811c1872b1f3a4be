"""A fake vLLM OpenAI-compatible server answering from a `Script`, faithful to the wire protocol.

Endpoints: `POST /v1/completions` (stream and non-stream), `GET /v1/models`, `GET /health`,
`GET /version`, `POST /tokenize`, `POST /detokenize`, and a minimal `POST /v1/chat/completions`
(see `agentoss.testing.fake_chat`). Quirks reproduced: `max_tokens` defaults to 16;
`skip_special_tokens` defaults to true and strips every control token from `text`; the stop token is
in `token_ids` and usage but not in `text` unless `include_stop_str_in_output`; `stop_reason` is the
stop token id for `<|call|>` / `<|endoftext|>` and null for EOS `<|return|>` and for length;
`stream_options` without `stream` is a 400; unknown fields are ignored.

Version profiles:
- `0.10.1`: ignores `return_token_ids`; token ids only through `logprobs` with
  `return_tokens_as_token_ids` (`"token_id:N"` strings). Errors are flat `{"object": "error", ...}`.
- `0.10.2`: `return_token_ids` gives `token_ids` per choice / chunk and `prompt_token_ids`.
- `0.33`: as 0.10.2, but `max_tokens` beyond the context is clamped instead of rejected, and errors
  are nested `{"error": {...}}`.

Run it: `python -m agentoss.testing.fake_vllm --port 0 --script FILE.json [--profile 0.10.2]`
prints `READY http://127.0.0.1:PORT`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Unpack

from agentoss.testing.fake_server import (
    FakeServer,
    ServerOptions,
    TextStreamer,
    base_arguments,
    cli_options,
    run_cli,
)
from agentoss.testing.script import Reply, Script

__all__ = ["PROFILES", "FakeVLLMServer", "Profile"]

_RETURN = 200002
_CALL = 200012
_ENDOFTEXT = 199999
_MODEL_STOPS = (_RETURN, _ENDOFTEXT, _CALL)
"""gpt-oss's generation config adds these as stops automatically; `<|return|>` is the EOS token."""


@dataclass(frozen=True, slots=True)
class Profile:
    """How one vLLM version behaves on the wire."""

    version: str
    token_ids: bool
    """Honours `return_token_ids`."""
    clamp_max_tokens: bool
    """Clamps `max_tokens` to the room left instead of answering 400."""
    nested_errors: bool
    """Errors are `{"error": {...}}` rather than flat `{"object": "error", ...}`."""


PROFILES: dict[str, Profile] = {
    "0.10.1": Profile("0.10.1", token_ids=False, clamp_max_tokens=False, nested_errors=False),
    "0.10.2": Profile("0.10.2", token_ids=True, clamp_max_tokens=False, nested_errors=False),
    "0.33": Profile("0.33.0", token_ids=True, clamp_max_tokens=True, nested_errors=True),
}


class FakeVLLMServer(FakeServer):
    """`async with FakeVLLMServer(script=..., profile="0.10.2") as server: server.base_url`."""

    def __init__(
        self,
        script: Script | Sequence[Reply] | None = None,
        *,
        profile: str = "0.10.2",
        max_model_len: int = 131_072,
        model: str = "openai/gpt-oss-20b",
        api_key: str | None = None,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(script, **options)
        if profile not in PROFILES:
            raise ValueError(f"unknown vLLM profile {profile!r}; choose one of {sorted(PROFILES)}")
        self.profile = PROFILES[profile]
        self.max_model_len = max_model_len
        self.model = model
        self.api_key = api_key

    # -- plumbing ---------------------------------------------------------------------------------

    def _add_routes(self, app: Any) -> None:
        from agentoss.testing.fake_chat import chat_completions

        app.router.add_get("/health", self._health)
        app.router.add_get("/version", self._version)
        app.router.add_get("/v1/models", self._guard(self._models))
        app.router.add_post("/v1/completions", self._guard(self._completions))
        app.router.add_post("/v1/chat/completions", self._guard(lambda r: chat_completions(self, r)))
        app.router.add_post("/tokenize", self._tokenize)
        app.router.add_post("/detokenize", self._detokenize)

    def error(self, message: str, status: int, kind: str = "BadRequestError", headers: Any = None) -> Any:
        """An error response in this profile's JSON shape."""
        from aiohttp import web

        info = {"message": message, "type": kind, "param": None, "code": status}
        body = {"error": info} if self.profile.nested_errors else {"object": "error", **info}
        return web.json_response(body, status=status, headers=headers)

    def _guard(self, handler: Any) -> Any:
        async def guarded(request: Any) -> Any:
            if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
                from aiohttp import web

                return web.json_response({"error": "Unauthorized"}, status=401)
            return await handler(request)

        return guarded

    def injected_status(self) -> Any:
        """The fault-injected error response for this request, or None."""
        status = self.faults.take_status()
        if status is None:
            return None
        headers = None
        if self.faults.retry_after is not None:
            headers = {"Retry-After": str(self.faults.retry_after)}
        kind = "TooManyRequests" if status == 429 else "InternalServerError"
        return self.error(f"injected fault: HTTP {status}", status, kind, headers)

    async def _health(self, request: Any) -> Any:
        from aiohttp import web

        return web.Response(status=200)

    async def _version(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response({"version": self.profile.version})

    async def _models(self, request: Any) -> Any:
        from aiohttp import web

        entry = {
            "id": self.model,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "vllm",
            "root": self.model,
            "parent": None,
            "max_model_len": self.max_model_len,
        }
        return web.json_response({"object": "list", "data": [entry]})

    async def _tokenize(self, request: Any) -> Any:
        from aiohttp import web

        from agentoss.harmony.encoding import encode_special

        body = await request.json()
        tokens = encode_special(str(body.get("prompt", "")))
        return web.json_response(
            {"count": len(tokens), "max_model_len": self.max_model_len, "tokens": tokens, "token_strs": None}
        )

    async def _detokenize(self, request: Any) -> Any:
        from aiohttp import web

        from agentoss.harmony.encoding import decode

        body = await request.json()
        return web.json_response({"prompt": decode([int(t) for t in body.get("tokens", [])])})

    # -- /v1/completions --------------------------------------------------------------------------

    def _prompt_ids(self, prompt: Any) -> list[int] | None:
        from agentoss.harmony.encoding import encode_special

        if isinstance(prompt, str):
            return encode_special(prompt)
        if isinstance(prompt, list) and all(isinstance(t, int) for t in prompt):
            return list(prompt)
        return None

    def sample(self, prompt: list[int], max_tokens: int, stop_ids: Sequence[int]) -> tuple[list[int], Any]:
        """The scripted completion cut at a stop token or `max_tokens`, and vLLM's stop_reason."""
        reply = self.continuation(prompt)
        stops = set(_MODEL_STOPS) | set(stop_ids)
        out: list[int] = []
        for token in reply:
            if len(out) >= max_tokens:
                return out, ("length", None)
            out.append(token)
            if token in stops:
                return out, ("stop", None if token == _RETURN else token)
        return out, ("stop", None)

    async def _completions(self, request: Any) -> Any:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return self.error("invalid JSON body", 400)
        self.requests.append(body)
        if body.get("stream_options") is not None and not body.get("stream"):
            return self.error("Stream options can only be defined when `stream=True`.", 400)
        prompt = self._prompt_ids(body.get("prompt"))
        if prompt is None:
            return self.error("prompt must be a string or a list of token ids", 400)
        failed = self.injected_status()
        if failed is not None:
            return failed
        max_tokens = int(body.get("max_tokens") or 16)
        room = self.max_model_len - len(prompt)
        too_long = self.faults.context_length or room < 1
        if not too_long and max_tokens > room:
            if self.profile.clamp_max_tokens:
                max_tokens = room
            else:
                too_long = True
        if too_long:
            return self.error(
                f"This model's maximum context length is {self.max_model_len} tokens. However, you "
                f"requested {len(prompt) + max_tokens} tokens ({len(prompt)} in the messages, "
                f"{max_tokens} in the completion). Please reduce the length of the messages or completion.",
                400,
            )
        tokens, (finish, stop_reason) = self.sample(prompt, max_tokens, body.get("stop_token_ids") or ())
        want_ids = bool(body.get("return_token_ids")) and self.profile.token_ids
        if body.get("stream"):
            return await self._stream(request, body, prompt, tokens, finish, stop_reason, want_ids)
        self.completed += 1
        streamer = TextStreamer(skip_special=body.get("skip_special_tokens", True))
        choice: dict[str, Any] = {
            "index": 0,
            "text": streamer.feed(self._visible(tokens, finish, body)),
            "logprobs": self._logprobs(tokens, body),
            "finish_reason": finish,
            "stop_reason": stop_reason,
            "prompt_logprobs": None,
        }
        if want_ids:
            choice["token_ids"] = tokens
            choice["prompt_token_ids"] = prompt
        from aiohttp import web

        return web.json_response(
            {
                "id": f"cmpl-{uuid.uuid4().hex}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [choice],
                "usage": self._usage(prompt, tokens),
            }
        )

    @staticmethod
    def _visible(tokens: list[int], finish: str, body: dict[str, Any]) -> list[int]:
        """Tokens whose text appears in `text`: the stop token only with include_stop_str_in_output."""
        stops = (*_MODEL_STOPS, *(body.get("stop_token_ids") or ()))
        hide = finish == "stop" and tokens and tokens[-1] in stops
        return tokens[:-1] if hide and not body.get("include_stop_str_in_output") else tokens

    @staticmethod
    def _usage(prompt: list[int], tokens: list[int]) -> dict[str, Any]:
        return {
            "prompt_tokens": len(prompt),
            "total_tokens": len(prompt) + len(tokens),
            "completion_tokens": len(tokens),
            "prompt_tokens_details": None,
        }

    @staticmethod
    def _logprobs(tokens: list[int], body: dict[str, Any], offset: int = 0) -> Any:
        if body.get("logprobs") is None:
            return None
        if body.get("return_tokens_as_token_ids"):
            names = [f"token_id:{t}" for t in tokens]
        else:
            from agentoss.harmony.encoding import decode

            names = [decode([t]) for t in tokens]
        return {
            "text_offset": list(range(offset, offset + len(tokens))),
            "token_logprobs": [-0.01] * len(tokens),
            "tokens": names,
            "top_logprobs": [{name: -0.01} for name in names],
        }

    async def _stream(
        self,
        request: Any,
        body: dict[str, Any],
        prompt: list[int],
        tokens: list[int],
        finish: str,
        stop_reason: Any,
        want_ids: bool,
    ) -> Any:
        ident = f"cmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        visible_count = len(self._visible(tokens, finish, body))
        streamer = TextStreamer(skip_special=body.get("skip_special_tokens", True))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def event(choices: list[dict[str, Any]], usage: Any) -> bytes:
            data = {"id": ident, "object": "text_completion", "created": created, "model": self.model}
            data["choices"] = choices
            if include_usage:
                data["usage"] = usage
            return b"data: " + json.dumps(data).encode() + b"\n\n"

        def frames() -> Iterator[tuple[bytes, int]]:
            chunks = self.chunks(tokens) or [[]]
            sent = 0
            for number, piece in enumerate(chunks):
                if self.faults.error_after is not None and sent >= self.faults.error_after:
                    self.faults.error_after = None
                    error = {"message": "injected fault: engine error", "type": "InternalServerError"}
                    yield f"data: {json.dumps({'error': {**error, 'code': 500}})}\n\n".encode(), 0
                    break
                last = number == len(chunks) - 1
                choice: dict[str, Any] = {
                    "index": 0,
                    "text": streamer.feed(piece[: max(0, visible_count - sent)]),
                    "logprobs": self._logprobs(piece, body, sent),
                    "finish_reason": finish if last else None,
                    "stop_reason": stop_reason if last else None,
                }
                if want_ids:
                    choice["token_ids"] = piece
                    if number == 0:
                        choice["prompt_token_ids"] = prompt
                yield event([choice], None), len(piece)
                sent += len(piece)
            else:
                if include_usage:
                    yield event([], self._usage(prompt, tokens)), 0
            yield b"data: [DONE]\n\n", 0

        return await self.stream_reply(request, "text/event-stream", frames())


def _make(args: Any) -> FakeVLLMServer:
    script, options = cli_options(args)
    return FakeVLLMServer(
        script,
        profile=args.profile,
        max_model_len=args.max_model_len,
        model=args.model,
        api_key=args.api_key,
        **options,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m agentoss.testing.fake_vllm`: serve until interrupted."""
    parser = base_arguments("A fake vLLM server answering from a script.")
    parser.add_argument("--profile", default="0.10.2", choices=sorted(PROFILES))
    parser.add_argument("--max-model-len", type=int, default=131_072)
    parser.add_argument("--model", default="openai/gpt-oss-20b")
    parser.add_argument("--api-key", default=None)
    run_cli(_make, parser.parse_args(argv))


if __name__ == "__main__":
    main()
