"""Streaming parser: the malformed-output corpus, streaming invariants and UTF-8 across tokens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentoss.harmony import (
    ContentDelta,
    DiagnosticEvent,
    MessageEnd,
    MessageStart,
    ParsedCompletion,
    StreamParser,
    encode,
    encode_special,
    parse_completion,
)
from agentoss.harmony.tokens import CALL, CHANNEL, ENDOFTEXT, MESSAGE, RETURN

CORPUS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "harmony" / "malformed.json").read_text()
)
STOPS = {"call": CALL, "return": RETURN, "endoftext": ENDOFTEXT, None: None}


def _parse(case: dict[str, Any], tokens: list[int]) -> ParsedCompletion:
    return parse_completion(
        tokens,
        truncated=case["truncated"],
        builtin_namespaces=case["builtin_namespaces"],
        function_names=case["function_names"],
    )


def _observed(parsed: ParsedCompletion) -> list[dict[str, Any]]:
    return [
        {"channel": m.channel, "recipient": m.recipient, "content_type": m.content_type, "content": m.content}
        for m in parsed.messages
    ]


def test_corpus_covers_every_pattern_from_the_reference() -> None:
    assert {case["pattern"] for case in CORPUS} >= set(range(1, 13))


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_malformed_corpus(case: dict[str, Any]) -> None:
    parsed = _parse(case, encode_special(case["completion"]))
    expected = case["expected"]
    assert _observed(parsed) == expected["messages"]
    codes = [d.code for d in parsed.diagnostics]
    for code in expected["diagnostics"]:
        assert code in codes, f"missing diagnostic {code}: {codes}"
    repairs = {d.code for d in parsed.diagnostics if d.severity != "info"}
    assert repairs <= set(expected["diagnostics"]), f"unexpected repairs {repairs}"
    assert parsed.clean is expected["clean"]
    assert parsed.stop_token == STOPS[expected["stop"]]
    assert all(m.role == "assistant" for m in parsed.messages)


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_token_by_token_streaming_agrees_with_batch(case: dict[str, Any]) -> None:
    tokens = encode_special(case["completion"])
    parser = StreamParser(case["builtin_namespaces"], case["function_names"])
    events = [event for token in tokens for event in parser.feed(token)]
    streamed = parser.finish(truncated=case["truncated"])
    assert streamed == _parse(case, tokens)
    # Deltas concatenate to the message content, each under the channel the message ends with
    # (a guessed channel streams as analysis and can only become final at the stop token).
    ends = [e.message for e in events if isinstance(e, MessageEnd)]
    assert tuple(ends) == streamed.messages[: len(ends)]
    texts: list[str] = []
    current = ""
    for event in events:
        if isinstance(event, MessageStart):
            current = ""
        elif isinstance(event, ContentDelta):
            current += event.text
        elif isinstance(event, MessageEnd):
            texts.append(current)
    assert texts == [m.content for m in streamed.messages][: len(texts)]


def test_analysis_text_never_streams_as_final() -> None:
    completion = (
        "<|channel|>analysis<|message|>secret reasoning<|end|>"
        "<|channel|>?<|message|>more reasoning<|end|>"
        "<|start|>assistant<|channel|><|channel|>analysis<|message|>still reasoning<|end|>"
        "<|start|>assistant<|channel|>final<|message|>The answer.<|return|>"
    )
    parser = StreamParser()
    final_text = "".join(
        e.text for t in encode_special(completion) for e in parser.feed(t)
        if isinstance(e, ContentDelta) and e.channel == "final"
    )  # fmt: skip
    assert final_text == "The answer."


def test_message_start_reports_the_resolved_header() -> None:
    tokens = encode_special("<|channel|>analysis to=functions.python code<|message|>1+1<|call|>")
    events = StreamParser().feed_many(tokens)
    starts = [e for e in events if isinstance(e, MessageStart)]
    assert starts == [MessageStart("assistant", "analysis", "python", "code")]
    assert any(isinstance(e, DiagnosticEvent) and e.diagnostic.code == "builtin_as_function" for e in events)


def test_multibyte_characters_split_across_tokens_are_decoded_whole() -> None:
    text = "🎉日本語 ✓ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"
    content = encode(text)
    tokens = [CHANNEL, *encode("final"), MESSAGE, *content, RETURN]
    parser = StreamParser()
    deltas = [e.text for t in tokens for e in parser.feed(t) if isinstance(e, ContentDelta)]
    assert "".join(deltas) == text
    assert all("\ufffd" not in d for d in deltas)
    assert len(content) > len(deltas) - 0  # some tokens carried half a character
    assert parser.finish().messages[0].content == text


def test_truncated_multibyte_character_is_replaced_not_raised() -> None:
    content = encode("🎉")
    parsed = parse_completion([CHANNEL, *encode("final"), MESSAGE, content[0]], truncated=True)
    assert parsed.messages[0].content == "\ufffd"
    assert parsed.truncated and not parsed.clean


def test_hostile_token_ids_are_reported_not_raised() -> None:
    parsed = parse_completion(
        [-5, 10**9, 201087, 200001, *encode_special("<|channel|>final<|message|>x<|return|>")]
    )
    assert [m.content for m in parsed.messages] == ["x"]
    assert [d.code for d in parsed.diagnostics].count("unexpected_token") >= 3
