"""Resolve a sampled message header (role, recipient, channel, content type), repairing what is malformed.

A header arrives as parts split at control tokens: the text after `<|start|>` (or after the implied
`<|start|>assistant` of the prompt), the text after each `<|channel|>` and after `<|constrain|>`.
`resolve_header` turns the parts into a `Header` and says, as diagnostics, every repair it made; a
recipient it cannot vouch for is always reported, never silently accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from agentoss.harmony.builtins import BUILTIN_RECIPIENTS
from agentoss.harmony.messages import VALID_CHANNELS, Severity

__all__ = ["Header", "HeaderPart", "RecipientPolicy", "resolve_header", "split_missing_message"]

_CHANNEL_PREFIX = re.compile(r"\s*(analysis|commentary|final)")
_RECIPIENT = re.compile(r"\s*to=([A-Za-z0-9_.\-:/]+)")
_CONTENT_TYPE = re.compile(r"\s*(json|code)(?=[\s{\[\"]|$)")
_GLUED_SUFFIXES = ("json", "code")


@dataclass(slots=True)
class HeaderPart:
    """Text following one header marker: `head` (role position), `channel` or `constrain`."""

    kind: str
    text: str = ""


@dataclass(slots=True)
class Header:
    """A resolved header and the repairs made to reach it (`(code, message, severity)` triples)."""

    role: str = "assistant"
    channel: str | None = None
    recipient: str | None = None
    content_type: str | None = None
    provisional_channel: bool = False
    """The channel was guessed (missing or unknown): the stop token may still settle it."""
    discard: bool = False
    """Not an assistant message (e.g. the model started writing a user turn): drop its content."""
    repairs: list[tuple[str, str, Severity]] = field(default_factory=list)

    def repair(self, code: str, message: str, severity: Severity = "repaired") -> None:
        self.repairs.append((code, message, severity))


@dataclass(frozen=True, slots=True)
class RecipientPolicy:
    """Which recipients are valid: declared built-in namespaces and (if known) function names."""

    builtin_namespaces: frozenset[str]
    function_names: frozenset[str] | None

    @classmethod
    def of(cls, builtins: Iterable[str], functions: Iterable[str] | None) -> RecipientPolicy:
        return cls(frozenset(builtins), None if functions is None else frozenset(functions))

    def is_builtin(self, recipient: str) -> bool:
        namespace = recipient.split(".", 1)[0]
        known = BUILTIN_RECIPIENTS.get(namespace)
        return namespace in self.builtin_namespaces and (known is None or recipient in known)

    def is_function(self, recipient: str) -> bool:
        if not recipient.startswith("functions."):
            return False
        return self.function_names is None or recipient[10:] in self.function_names

    def is_valid(self, recipient: str) -> bool:
        return self.is_builtin(recipient) or self.is_function(recipient)


def split_missing_message(header_text: str, *, role_expected: bool) -> tuple[str, str]:
    """Cut text that ran from a header into content without `<|message|>`: (header part, content)."""
    pos = 0
    if role_expected:
        match = re.match(r"\s*assistant", header_text)
        if match:
            pos = match.end()
    match = _CHANNEL_PREFIX.match(header_text, pos)
    if match:
        pos = match.end()
    for pattern in (_RECIPIENT, _CONTENT_TYPE):
        match = pattern.match(header_text, pos)
        if match:
            pos = match.end()
    return header_text[:pos], header_text[pos:].lstrip(" ")


def resolve_header(parts: list[HeaderPart], *, implied: bool, policy: RecipientPolicy) -> Header:
    """Resolve header parts; `implied` when no `<|start|>{role}` preceded them (role is assistant)."""
    header = Header()
    recipients: list[str] = []
    channel_words: list[str] = []
    for index, part in enumerate(parts):
        words = part.text.split()
        if part.kind == "head":
            if words and not implied and not words[0].startswith("to="):
                role = words.pop(0)
                if role.startswith("assistant") and role != "assistant":
                    words.insert(0, role[9:])
                elif role != "assistant":
                    header.role = role
                    header.discard = True
                    header.repair("unexpected_role", f"a message with role {role!r} was dropped", "dropped")
            elif not implied and not words:
                header.repair("missing_role", "header without a role; assumed assistant")
            elif words and words[0] == "assistant":
                words.pop(0)
            # Text before the first `<|channel|>` that is not a recipient: a channel written
            # without its marker (often after stray text), e.g. `commentary to=functions.f`.
            if (
                words
                and not words[0].startswith("to=")
                and index == 0
                and (len(parts) == 1 or _CHANNEL_PREFIX.fullmatch(words[0]))
            ):
                channel_words.append(words.pop(0))
                header.repair("missing_channel_token", "channel written without <|channel|>")
        elif part.kind == "channel":
            if not words:
                header.repair("empty_channel", "an empty <|channel|> was ignored")
                continue
            channel_words.append(words.pop(0))
        elif part.kind == "constrain":
            if words and not words[0].startswith("to="):
                header.content_type = "<|constrain|>" + words.pop(0)
            # `<|constrain|>json to=functions.f`: the recipient written after the constraint.
            for word in [w for w in words if w.startswith("to=")]:
                recipients.append(word[3:])
                header.repair("recipient_after_constraint", f"recipient {word[3:]!r} after <|constrain|>")
            words = [w for w in words if not w.startswith("to=")]
            if words:
                header.repair("extra_header_words", f"ignored header words {' '.join(words)!r}")
            continue
        for word in words:
            if word.startswith("to="):
                recipients.append(word[3:])
            elif word in _GLUED_SUFFIXES or word.startswith("<|constrain|>"):
                _set_plain_content_type(header, word)
            elif "to=" in word:
                head, _, target = word.partition("to=")
                recipients.append(target)
                header.repair("glued_recipient", f"recipient glued to {head!r}")
            else:
                header.repair("extra_header_words", f"ignored header word {word!r}")
    if header.discard:
        return header
    channel_parts = sum(1 for p in parts if p.kind == "channel")
    if channel_parts > 1:
        header.repair("doubled_channel", "more than one <|channel|> in a header")
    _resolve_recipient(header, recipients, policy)
    _resolve_channel(header, channel_words)
    return header


def _set_plain_content_type(header: Header, word: str) -> None:
    if word == "json":
        header.content_type = "<|constrain|>json"
        header.repair("json_without_constrain", "` json` written without <|constrain|>")
    else:
        header.content_type = word


def _resolve_recipient(header: Header, recipients: list[str], policy: RecipientPolicy) -> None:
    if not recipients:
        return
    unique = list(dict.fromkeys(recipients))
    if len(unique) > 1:
        header.repair(
            "conflicting_recipients",
            f"several recipients {unique!r}; kept {unique[0]!r}",
        )
    elif len(recipients) > 1:
        header.repair("doubled_recipient", "recipient written twice")
    recipient = unique[0]
    if not policy.is_valid(recipient):
        for suffix in _GLUED_SUFFIXES:
            base = recipient[: -len(suffix)]
            if recipient.endswith(suffix) and base and policy.is_valid(_alias(base, policy)):
                recipient = base
                _set_plain_content_type(header, suffix)
                header.repair("glued_content_type", f"content type {suffix!r} glued to the recipient")
                break
    aliased = _alias(recipient, policy)
    if aliased != recipient:
        header.repair(
            "builtin_as_function",
            f"{recipient!r} addresses the built-in tool {aliased!r}; routed to {aliased!r}",
        )
        recipient = aliased
    if policy.function_names is not None and recipient in policy.function_names:
        header.repair("missing_namespace", f"{recipient!r} routed to 'functions.{recipient}'")
        recipient = f"functions.{recipient}"
    if not policy.is_valid(recipient):
        header.repair("unknown_recipient", f"recipient {recipient!r} is not a declared tool", "info")
    header.recipient = recipient


def _alias(recipient: str, policy: RecipientPolicy) -> str:
    if not recipient.startswith("functions."):
        return recipient
    name = recipient[10:]
    if policy.function_names is not None and name in policy.function_names:
        return recipient
    return name if policy.is_builtin(name) else recipient


def _resolve_channel(header: Header, words: list[str]) -> None:
    channel: str | None = None
    for word in words:
        if word in VALID_CHANNELS:
            channel = word
            break
        match = _CHANNEL_PREFIX.match(word)
        if match:
            channel = match.group(1)
            header.repair("unknown_channel", f"channel {word!r} read as {channel!r}")
            break
    if channel is None and words:
        header.repair("unknown_channel", f"channel {words[0]!r} is not a harmony channel")
    recipient = header.recipient
    if recipient is not None and recipient.startswith("functions."):
        if channel != "commentary":
            if channel is not None:
                header.repair("function_call_channel", f"function call on {channel!r} moved to commentary")
            else:
                header.repair("missing_channel", "function call without a channel: commentary")
            channel = "commentary"
    elif recipient is not None:
        if channel == "final":
            header.repair("tool_call_on_final", f"call to {recipient!r} on final moved to analysis")
            channel = "analysis"
        elif channel is None:
            header.repair("missing_channel", "tool call without a channel: analysis")
            channel = "analysis"
        elif channel == "commentary":
            header.repair("builtin_on_commentary", f"{recipient!r} called on commentary", "info")
    elif channel is None:
        if not words:
            header.repair("missing_channel", "message without a channel")
        # Never risk showing reasoning as the answer: analysis until a stop token says otherwise.
        channel = "analysis"
        header.provisional_channel = True
    header.channel = channel
