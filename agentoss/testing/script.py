"""Scripted model replies: an ordered list of rules choosing a harmony completion for a prompt.

A reply is what the model would sample after a prompt ending in `<|start|>assistant`, written as
harmony text with control tokens spelled out (encoded with control tokens allowed), e.g.::

    <|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>commentary \
to=functions.f <|constrain|>json<|message|>{"a":1}<|call|>

or given directly as a list of token ids. A text reply that does not end in a stop token
(`<|return|>`, `<|call|>`, `<|endoftext|>`) gets `<|return|>` appended, as a model would sample it;
a token-list reply is used verbatim.

A `Script` is an ordered list of `Rule`s; `Script.choose(prompt_ids)` returns the reply of the first
rule that matches. A rule matches when all its conditions hold:

- `when`: a regular expression, `re.search`-ed over the decoded prompt text (control tokens as text);
- `step`: the number of tool-result messages after the last user message equals this number.

A prompt no rule matches gets a final message saying so, never an exception. The JSON form
(`Script.load`) is a list of objects `{"reply": TEXT or [ids], "when": REGEX?, "step": N?}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentoss.errors import ConfigurationError

__all__ = ["Reply", "Rule", "Script", "count_tool_steps", "encode_reply", "unmatched_reply"]

Reply = str | Sequence[int]
"""Harmony completion text (control tokens written as text) or the sampled token ids."""

_RETURN = 200002
_CALL = 200012
_ENDOFTEXT = 199999
_FINAL_STOPS = (_RETURN, _CALL, _ENDOFTEXT)
_AUTHOR = re.compile(r"<\|start\|>([^<\s]+)")
_NOT_TOOLS = frozenset({"system", "developer", "assistant"})


def encode_reply(reply: Reply) -> list[int]:
    """Token ids for a reply: text is encoded with control tokens allowed and ends in a stop token."""
    if isinstance(reply, str):
        from agentoss.harmony.encoding import encode_special

        tokens = encode_special(reply)
        if not tokens or tokens[-1] not in _FINAL_STOPS:
            tokens.append(_RETURN)
        return tokens
    return [int(token) for token in reply]


def unmatched_reply(detail: str) -> list[int]:
    """A final answer reporting that the script has no reply for this prompt."""
    text = detail.replace("<|", "< |")
    return encode_reply(f"<|channel|>final<|message|>[agentoss script] {text}<|return|>")


def count_tool_steps(prompt_text: str) -> int:
    """How many tool-result messages follow the last user message in a decoded harmony prompt."""
    steps = 0
    for match in _AUTHOR.finditer(prompt_text):
        author = match.group(1)
        if author == "user":
            steps = 0
        elif author not in _NOT_TOOLS:
            steps += 1
    return steps


@dataclass(frozen=True, slots=True)
class Rule:
    """One scripted reply and the conditions under which it is chosen."""

    reply: tuple[int, ...]
    """The completion's token ids (see `encode_reply`)."""
    when: re.Pattern[str] | None = None
    """Matches when this pattern is found (`re.search`) in the decoded prompt text."""
    step: int | None = None
    """Matches when exactly this many tool results follow the last user message."""

    @classmethod
    def make(cls, reply: Reply, *, when: str | None = None, step: int | None = None) -> Rule:
        """Build a rule from reply text or ids, compiling `when`."""
        try:
            pattern = re.compile(when) if when is not None else None
        except re.error as exc:
            raise ConfigurationError(f"script rule has an invalid 'when' regex {when!r}: {exc}") from exc
        return cls(reply=tuple(encode_reply(reply)), when=pattern, step=step)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Rule:
        """Build a rule from its JSON form `{"reply": ..., "when": ..., "step": ...}`."""
        unknown = set(data) - {"reply", "when", "step"}
        if "reply" not in data or unknown:
            raise ConfigurationError(
                f"script rule must have 'reply' and only 'when' / 'step' besides; got {sorted(data)}"
            )
        reply = data["reply"]
        if not isinstance(reply, str) and not (
            isinstance(reply, list) and all(isinstance(t, int) for t in reply)
        ):
            raise ConfigurationError("script rule 'reply' must be harmony text or a list of token ids")
        step = data.get("step")
        if step is not None and (not isinstance(step, int) or step < 0):
            raise ConfigurationError(f"script rule 'step' must be a non-negative integer, got {step!r}")
        return cls.make(reply, when=data.get("when"), step=step)


class Script:
    """An ordered list of rules; the first rule matching a prompt gives the reply."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)

    @classmethod
    def from_replies(cls, replies: Sequence[Reply]) -> Script:
        """Reply i when i tool results follow the last user message (step 0, 1, 2, ...)."""
        return cls(Rule.make(reply, step=i) for i, reply in enumerate(replies))

    @classmethod
    def from_json(cls, data: Any) -> Script:
        """Build a script from its JSON form: a list of rule objects."""
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise ConfigurationError("a script must be a JSON list of rule objects")
        return cls(Rule.from_mapping(item) for item in data)

    @classmethod
    def load(cls, path: str | Path) -> Script:
        """Read a script file (a JSON list of rules)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"cannot read script {path}: {exc}") from exc
        return cls.from_json(data)

    def choose(self, prompt_ids: Sequence[int]) -> list[int]:
        """The reply of the first rule matching the prompt, or a final message saying none did."""
        text: str | None = None
        steps: int | None = None
        for rule in self.rules:
            if rule.when is not None or rule.step is not None:
                if text is None:
                    from agentoss.harmony.encoding import decode

                    text = decode(prompt_ids)
                if rule.step is not None:
                    if steps is None:
                        steps = count_tool_steps(text)
                    if steps != rule.step:
                        continue
                if rule.when is not None and not rule.when.search(text):
                    continue
            return list(rule.reply)
        if steps is None:
            from agentoss.harmony.encoding import decode

            steps = count_tool_steps(decode(prompt_ids))
        return unmatched_reply(f"no script rule matches this prompt (tool step {steps}).")
