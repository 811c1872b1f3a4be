"""Property tests: the parser never raises, and render -> parse is the identity for valid completions."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentoss.harmony import ContentDelta, Message, MessageEnd, StreamParser, parse_completion, render_message
from agentoss.harmony.render import assistant_prefix
from agentoss.harmony.tokens import CALL, CHANNEL, CONSTRAIN, END, ENDOFTEXT, MESSAGE, RETURN, START

_CONTROL = [START, END, MESSAGE, CHANNEL, CONSTRAIN, RETURN, CALL, ENDOFTEXT, 199998, 200013, 201087]
_WORDS = [200, 1029, 12606, 17196, 3086, 35644, 1721, 316, 28, 13]  # ordinary text tokens
_tokens = st.lists(
    st.one_of(
        st.sampled_from(_CONTROL),
        st.sampled_from(_WORDS),
        st.integers(min_value=0, max_value=199_997),
        st.integers(min_value=-3, max_value=300_000),
    ),
    max_size=80,
)
_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(tokens=_tokens, truncated=st.booleans(), chunk=st.integers(min_value=1, max_value=9))
def test_parser_never_raises_and_streams_consistently(tokens: list[int], truncated: bool, chunk: int) -> None:
    one = StreamParser(function_names=["f"])
    events = [event for token in tokens for event in one.feed(token)]
    many = StreamParser(function_names=["f"])
    for start in range(0, len(tokens), chunk):
        many.feed_many(tokens[start : start + chunk])
    parsed = one.finish(truncated=truncated)
    assert parsed == many.finish(truncated=truncated)
    ended = [e.message for e in events if isinstance(e, MessageEnd)]
    assert tuple(ended) == parsed.messages[: len(ended)]
    assert all(isinstance(e.text, str) and e.text for e in events if isinstance(e, ContentDelta))
    # Text streamed as final belongs to a message that ends as final: reasoning never leaks.
    streamed_final = False
    for event in events:
        if isinstance(event, ContentDelta) and event.channel == "final":
            streamed_final = True
        elif isinstance(event, MessageEnd):
            assert not streamed_final or event.message.channel == "final"
            streamed_final = False
    assert not (parsed.clean and parsed.diagnostics and any(d.severity != "info" for d in parsed.diagnostics))


_plain = st.builds(
    lambda channel, text: Message("assistant", text, channel=channel),
    st.sampled_from(["analysis", "commentary"]),
    _text,
)
_final = st.builds(lambda text, ctype: Message("assistant", text, channel="final", content_type=ctype), _text,
                   st.sampled_from([None, "<|constrain|>json"]))  # fmt: skip
_call = st.builds(
    lambda target, text: Message(
        "assistant", text, channel=target[1], recipient=target[0], content_type=target[2]
    ),
    st.sampled_from(
        [
            ("functions.f", "commentary", "<|constrain|>json"),
            ("functions.f", "commentary", None),
            ("python", "analysis", "code"),
            ("browser.search", "analysis", "<|constrain|>json"),
            ("browser.open", "analysis", None),
        ]
    ),
    _text,
)


@_settings
@given(prefix=st.lists(_plain, max_size=4), last=st.one_of(_final, _call))
def test_render_then_parse_is_the_identity(prefix: list[Message], last: Message) -> None:
    messages = [*prefix, last]
    tokens: list[int] = []
    for message in messages:
        tokens.extend(render_message(message))
    head = assistant_prefix()
    assert tokens[: len(head)] == head
    tokens = tokens[len(head) :]  # the prompt already ended with <|start|>assistant
    if tokens[-1] == END:
        tokens[-1] = RETURN  # what the sampler stops on
    parsed = parse_completion(tokens, function_names=["f"])
    assert list(parsed.messages) == messages
    assert parsed.clean, parsed.diagnostics
    assert parsed.stop_token == (CALL if last.is_tool_call else RETURN)


# openai-harmony misreads `final <|constrain|>json` (REFERENCE.md), so compare only plain finals.
_plain_final = st.builds(lambda text: Message("assistant", text, channel="final"), _text)


@settings(max_examples=60, deadline=None)
@given(prefix=st.lists(_plain, max_size=3), last=st.one_of(_plain_final, _call))
def test_valid_completions_parse_like_openai_harmony(prefix: list[Message], last: Message) -> None:
    from openai_harmony import Role

    from agentoss.harmony.encoding import harmony_encoding

    tokens: list[int] = []
    for message in [*prefix, last]:
        tokens.extend(render_message(message))
    tokens = tokens[len(assistant_prefix()) :]
    theirs = harmony_encoding().parse_messages_from_completion_tokens(tokens, Role.ASSISTANT)
    ours = parse_completion(tokens, function_names=["f"]).messages
    assert [(m.channel, m.recipient, m.content_type, m.content) for m in ours] == [
        (m.channel, m.recipient, m.content_type, "".join(c.text for c in m.content)) for m in theirs
    ]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["type", "properties", "anyOf", "oneOf", "allOf", "$ref", "items", "enum", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    schema=st.dictionaries(st.sampled_from(["type", "properties", "anyOf", "$ref", "$defs", "items"]), _json)
)
def test_normalize_schema_never_raises(schema: dict[str, object]) -> None:
    from agentoss.harmony import normalize_schema

    result = normalize_schema(schema)
    assert isinstance(result.schema, dict)
    assert all(isinstance(w, str) for w in result.warnings)


_FRAGMENTS = [
    "<|start|>", "assistant", "<|channel|>", "analysis", "commentary", "final", "<|message|>", "<|end|>",
    "<|return|>", "<|call|>", "<|constrain|>", "json", " json", " code", " to=functions.f", " to=python",
    "to=functions.python", " to=browser.search", " to=functions.nope", "hello world", "🎉", "?", " ", "\n",
    "<|endoftext|>", "functions.fjson", "user", "I'm sorry",
]  # fmt: skip


@_settings
@given(pieces=st.lists(st.sampled_from(_FRAGMENTS), max_size=40), truncated=st.booleans())
def test_near_harmony_noise_never_yields_a_silent_wrong_recipient(pieces: list[str], truncated: bool) -> None:
    from agentoss.harmony import encode_special

    parsed = parse_completion(encode_special("".join(pieces)), truncated, function_names=["f"])
    valid = {"functions.f", "python", "browser.search"}
    reported = {d.code for d in parsed.diagnostics}
    for message in parsed.messages:
        assert message.recipient is None or message.recipient in valid or "unknown_recipient" in reported
        assert message.channel in ("analysis", "commentary", "final")
