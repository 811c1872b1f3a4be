"""A deterministic in-process backend that replays scripted harmony completions (tests and demos).

`ScriptedBackend` accepts three forms of script:

- a `Script` (rules chosen by prompt content / tool step, see `agentoss.testing.script`);
- a sequence of replies (harmony text or token ids), used one per call in order;
- a function of the prompt token ids returning a reply.

It honours the `Backend` contract like a real server: stops on the requested stop tokens, cuts at
`max_tokens` and at the context window (finish reason LENGTH), raises `ContextLengthError` before
sampling when the prompt cannot fit, and streams multi-token chunks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from agentoss.backends.base import Chunk, FinishReason, SamplingParams, Usage
from agentoss.errors import ConfigurationError, ContextLengthError
from agentoss.testing.script import Reply, Script, encode_reply, unmatched_reply

__all__ = ["ScriptedBackend", "ScriptedCall"]

_ENDOFTEXT = 199999

ScriptSource = Script | Sequence[Reply] | Callable[[list[int]], Reply]


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """One call the backend received: what tests inspect."""

    prompt: tuple[int, ...]
    params: SamplingParams
    reply: tuple[int, ...]
    """The full scripted reply, before stop / length cuts."""


class ScriptedBackend:
    """Replays scripted completions; implements `agentoss.backends.base.Backend`."""

    def __init__(
        self,
        script: ScriptSource,
        *,
        context_window: int | None = 131_072,
        chunk_size: int = 4,
        delay: float = 0.0,
    ) -> None:
        """`chunk_size` tokens per chunk; `delay` seconds slept before each chunk (for cancellation tests)."""
        if chunk_size < 1:
            raise ConfigurationError("chunk_size must be at least 1")
        self._script: Script | None = None
        self._replies: list[tuple[int, ...]] | None = None
        self._function: Callable[[list[int]], Reply] | None = None
        if isinstance(script, Script):
            self._script = script
        elif isinstance(script, str):
            self._replies = [tuple(encode_reply(script))]
        elif isinstance(script, Sequence):
            if script and all(isinstance(item, int) for item in script):
                raise ConfigurationError(
                    "ScriptedBackend takes a sequence of replies; wrap a single token list in a list"
                )
            self._replies = [tuple(encode_reply(item)) for item in script]  # type: ignore[arg-type]
        elif callable(script):
            self._function = script
        else:
            raise ConfigurationError(f"unsupported script type {type(script).__name__}")
        self._window = context_window
        self._chunk_size = chunk_size
        self._delay = delay
        self.calls: list[ScriptedCall] = []
        """Every call received, in order."""

    def _reply_for(self, prompt: list[int]) -> list[int]:
        if self._script is not None:
            return self._script.choose(prompt)
        if self._function is not None:
            return encode_reply(self._function(prompt))
        assert self._replies is not None
        index = len(self.calls)
        if index < len(self._replies):
            return list(self._replies[index])
        return unmatched_reply(f"the script has no reply for call {index + 1} ({len(self._replies)} given).")

    async def stream(self, prompt: Sequence[int], params: SamplingParams) -> AsyncIterator[Chunk]:
        """Stream the scripted reply for this prompt, cut at a stop token or the token budget."""
        prompt_list = list(prompt)
        budget = params.max_tokens
        if self._window is not None:
            room = self._window - len(prompt_list)
            if room < 1:
                raise ContextLengthError(
                    f"prompt of {len(prompt_list)} tokens leaves no room in the {self._window}-token "
                    "context window",
                    prompt_tokens=len(prompt_list),
                    max_model_len=self._window,
                )
            budget = min(budget, room)
        reply = self._reply_for(prompt_list)
        self.calls.append(ScriptedCall(tuple(prompt_list), params, tuple(reply)))

        stops = set(params.stop_token_ids) | {_ENDOFTEXT}
        sampled: list[int] = []
        stop_token: int | None = None
        for token in reply:
            if len(sampled) >= budget:
                break
            sampled.append(token)
            if token in stops:
                stop_token = token
                break
        if stop_token is not None or len(sampled) == len(reply):
            finish = FinishReason.STOP
        else:
            finish = FinishReason.LENGTH
        usage = Usage(prompt_tokens=len(prompt_list), completion_tokens=len(sampled))

        size = self._chunk_size
        last = max(len(sampled) - 1, 0) // size * size
        for start in range(0, max(len(sampled), 1), size):
            if self._delay:
                await asyncio.sleep(self._delay)
            else:
                await asyncio.sleep(0)
            piece = tuple(sampled[start : start + size])
            if start == last:
                yield Chunk(piece, finish_reason=finish, stop_token=stop_token, usage=usage)
            else:
                yield Chunk(piece)

    async def context_window(self) -> int | None:
        """The configured context window."""
        return self._window

    async def aclose(self) -> None:
        """Nothing to release."""
