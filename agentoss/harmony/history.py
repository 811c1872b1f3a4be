"""What the model sees of earlier turns, and the append-only prompt that grows within a turn.

History policy (the gpt-oss chain-of-thought rule, implemented here instead of openai-harmony's
`auto_drop_analysis`, which drops the wrong messages): once a turn is completed by an assistant
`final` message, its analysis is dropped; while a tool loop is open, every analysis since the last
final is kept. `<|return|>` never enters history: it becomes `<|end|>`.

`PromptBuilder` keeps the prompt as a token list and only extends it within a turn: the next prompt
is the previous prompt + the sampled tokens + the rendered tool result + `<|start|>assistant`, so a
server's prefix cache hits on every step and a step costs time proportional to its new tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentoss.harmony.events import ParsedCompletion
from agentoss.harmony.messages import DeveloperConfig, Message, SystemConfig
from agentoss.harmony.render import (
    assistant_prefix,
    render_head,
    render_message,
    render_messages,
)
from agentoss.harmony.tokens import END, RETURN

__all__ = ["PromptBuilder", "apply_history_policy"]


def apply_history_policy(messages: Sequence[Message]) -> list[Message]:
    """Drop the analysis of every completed turn; keep the analysis of the open tool loop.

    A turn is completed by an assistant `final` message, so every assistant `analysis` message
    before the last final is dropped. Tool calls made on the analysis channel and their results are
    kept (dropping the call would orphan its result).
    """
    last_final = -1
    for index, message in enumerate(messages):
        if message.role == "assistant" and message.channel == "final":
            last_final = index
    return [
        message
        for index, message in enumerate(messages)
        if not (
            index < last_final
            and message.role == "assistant"
            and message.channel == "analysis"
            and not message.is_tool_call
        )
    ]


class PromptBuilder:
    """Build the prompt for each sampling step of a conversation, append-only within a turn.

    `tokens` is the live prompt list (read it, do not mutate it): it always ends with
    `<|start|>assistant`. Nothing here applies the history policy except a new user turn.
    """

    def __init__(
        self,
        system: SystemConfig,
        developer: DeveloperConfig | None,
        messages: Sequence[Message] = (),
    ) -> None:
        self._head = render_head(system, developer)
        self._prefix = assistant_prefix()
        self._messages: list[Message] = []
        self._tokens: list[int] = []
        self.rebuild(messages)

    @property
    def tokens(self) -> list[int]:
        """The prompt to send now (ends with `<|start|>assistant`)."""
        return self._tokens

    @property
    def messages(self) -> list[Message]:
        """The conversation so far (without system and developer messages)."""
        return list(self._messages)

    def append_completion(self, sampled: Sequence[int], parsed: ParsedCompletion) -> None:
        """Append what the model sampled: verbatim when well-formed, else re-rendered canonically."""
        if parsed.clean and sampled:
            self._tokens.extend(sampled)
            if sampled[-1] == RETURN:
                self._tokens[-1] = END
        else:
            self._drop_prefix()
            self._tokens.extend(render_messages(parsed.messages))
        self._tokens.extend(self._prefix)
        self._messages.extend(parsed.messages)

    def append_message(self, message: Message) -> None:
        """Append a tool result (append-only) or a user message (starts a new turn).

        A new user turn applies the history policy; when that drops reasoning, the conversation is
        re-rendered canonically once, otherwise the message is simply appended.
        """
        if message.role == "user":
            kept = apply_history_policy([*self._messages, message])
            if len(kept) != len(self._messages) + 1:
                self.rebuild(kept)
                return
        self._drop_prefix()
        self._tokens.extend(render_message(message))
        self._tokens.extend(self._prefix)
        self._messages.append(message)

    def rebuild(self, messages: Sequence[Message]) -> None:
        """Full canonical re-render, after history was rewritten (e.g. old tool outputs elided)."""
        self._messages = list(messages)
        self._tokens = [*self._head, *render_messages(self._messages), *self._prefix]

    def _drop_prefix(self) -> None:
        del self._tokens[len(self._tokens) - len(self._prefix) :]
