"""The backend interface: prompt token ids in, a stream of sampled token ids out.

Backends never see messages. The orchestrator renders a harmony prompt, hands the token ids to a
`Backend`, and parses what comes back. Every backend (vLLM, Ollama, llama.cpp, the chat fallback,
the embedded engine, the scripted fake) implements this one Protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = [
    "CALL_TOKEN",
    "RETURN_TOKEN",
    "STOP_TOKENS",
    "Backend",
    "Chunk",
    "FinishReason",
    "SamplingParams",
    "Usage",
]

RETURN_TOKEN = 200002
"""`<|return|>`: the model finished its final answer (decode-time stop only)."""
CALL_TOKEN = 200012
"""`<|call|>`: the model addressed a tool and waits for its result."""
STOP_TOKENS: tuple[int, ...] = (RETURN_TOKEN, CALL_TOKEN)
"""The only tokens sampling stops on. Never `<|end|>`: one completion holds several messages."""


class FinishReason(StrEnum):
    """Why a completion ended."""

    STOP = "stop"
    """A stop token was sampled (see `Chunk.stop_token`)."""
    LENGTH = "length"
    """`max_tokens` or the context window was reached: the last message may be cut."""
    ABORT = "abort"
    """The server aborted the request, or the client cancelled it."""
    ERROR = "error"
    """The server reported an error mid-stream."""


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How to sample one completion."""

    max_tokens: int
    """Most tokens to sample; backends shrink it so prompt + output fit the context window."""
    temperature: float = 1.0
    """Softmax temperature; 0 means greedy."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    seed: int | None = None
    """Seed for reproducible sampling where the server supports it."""
    stop_token_ids: tuple[int, ...] = STOP_TOKENS
    """Token ids that end sampling; the stop token is included in the sampled ids."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token accounting for one completion."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int | None = None
    """Prompt tokens served from a prefix cache, when the server reports it."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a streamed completion: some sampled token ids, and on the last chunk why it ended."""

    token_ids: tuple[int, ...] = ()
    finish_reason: FinishReason | None = None
    """Set on the last chunk only."""
    stop_token: int | None = None
    """The stop token that ended sampling, when `finish_reason` is STOP and it is known."""
    usage: Usage | None = None
    """Set on the last chunk when the server reports usage."""
    error: str | None = field(default=None)
    """The server's error message verbatim, when `finish_reason` is ERROR."""


@runtime_checkable
class Backend(Protocol):
    """Samples completions for harmony prompts given as token ids."""

    def stream(self, prompt: Sequence[int], params: SamplingParams) -> AsyncIterator[Chunk]:
        """Stream sampled token ids. The last chunk carries `finish_reason`.

        Cancelling the consumer (or closing the iterator) closes the underlying request.
        Raises `agentoss.errors.BackendError` subclasses; `ContextLengthError` before any request
        when the prompt cannot fit.
        """
        ...

    async def context_window(self) -> int | None:
        """The model's context length in tokens (prompt + output), or None when unknown."""
        ...

    async def aclose(self) -> None:
        """Release connections and processes."""
        ...
