"""Model backends: harmony prompt token ids in, sampled token ids out.

The interface lives in `agentoss.backends.base`; implementations load lazily through
`agentoss.registry` (`vllm`, `ollama`, `llamacpp`, `chat`, `scripted`, `torch`) so that importing this
package pulls in no HTTP client.
"""

from __future__ import annotations

from agentoss.backends.base import (
    CALL_TOKEN,
    RETURN_TOKEN,
    STOP_TOKENS,
    Backend,
    Chunk,
    FinishReason,
    SamplingParams,
    Usage,
)

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
