"""History policy and the append-only PromptBuilder."""

from __future__ import annotations

from agentoss.harmony import (
    DeveloperConfig,
    FunctionSpec,
    Message,
    PromptBuilder,
    SystemConfig,
    apply_history_policy,
    decode,
    encode_special,
    parse_completion,
    render_prompt,
)
from agentoss.harmony.tokens import END, RETURN

SYSTEM = SystemConfig(current_date="2025-01-01")
DEVELOPER = DeveloperConfig(instructions="Use tools.", functions=(FunctionSpec("f", "does f"),))


def _a(channel: str, text: str, recipient: str | None = None) -> Message:
    return Message("assistant", text, channel=channel, recipient=recipient)


def test_history_policy_drops_completed_turns_reasoning_and_keeps_the_open_loop() -> None:
    messages = [
        Message.user("q1"), _a("analysis", "r1"), _a("final", "a1"),
        Message.user("q2"), _a("analysis", "r2"), _a("commentary", "{}", "functions.f"),
        Message.tool_result("functions.f", "1"), _a("final", "a2"),
        Message.user("q3"), _a("analysis", "r3"), _a("commentary", "{}", "functions.f"),
        Message.tool_result("functions.f", "2"), _a("analysis", "r3b"),
    ]  # fmt: skip
    kept = apply_history_policy(messages)
    contents = [m.content for m in kept]
    assert "r1" not in contents and "r2" not in contents
    assert "r3" in contents and "r3b" in contents
    assert len(kept) == len(messages) - 2


def test_history_policy_keeps_analysis_tool_calls_and_their_results() -> None:
    messages = [Message.user("q"), _a("analysis", "print(1)", "python"),
                Message.tool_result("python", "1", "analysis"), _a("final", "1")]  # fmt: skip
    assert apply_history_policy(messages) == messages


def _sample(text: str) -> list[int]:
    return encode_special(text)


def test_prompt_builder_is_append_only_within_a_turn_and_matches_a_full_render() -> None:
    builder = PromptBuilder(SYSTEM, DEVELOPER, [Message.user("go")])
    assert builder.tokens == render_prompt(SYSTEM, DEVELOPER, [Message.user("go")])
    previous = list(builder.tokens)
    # The renderer's own order (recipient in the role position) is what a well-trained model samples.
    sampled = _sample("<|channel|>analysis<|message|>call f<|end|><|start|>assistant to=functions.f"
                      "<|channel|>commentary <|constrain|>json<|message|>{}<|call|>")  # fmt: skip
    parsed = parse_completion(sampled, function_names=["f"])
    assert parsed.clean
    builder.append_completion(sampled, parsed)
    builder.append_message(Message.tool_result("functions.f", "42"))
    assert builder.tokens[: len(previous)] == previous
    final = _sample("<|channel|>final<|message|>It is 42.<|return|>")
    builder.append_completion(final, parse_completion(final))
    assert builder.tokens == render_prompt(SYSTEM, DEVELOPER, builder.messages)
    assert RETURN not in builder.tokens
    assert decode(builder.tokens).endswith("It is 42.<|end|><|start|>assistant")


def test_prompt_builder_appends_the_sampled_order_verbatim() -> None:
    builder = PromptBuilder(SYSTEM, DEVELOPER, [Message.user("go")])
    before = list(builder.tokens)
    sampled = _sample("<|channel|>commentary to=functions.f <|constrain|>json<|message|>{}<|call|>")
    builder.append_completion(sampled, parse_completion(sampled, function_names=["f"]))
    assert builder.tokens == [*before, *sampled, *before[-2:]]


def test_prompt_builder_re_renders_a_repaired_completion_canonically() -> None:
    builder = PromptBuilder(SYSTEM, DEVELOPER, [Message.user("go")])
    sampled = _sample("<|start|>assistant<|channel|>analysis to=functions.f json<|message|>{}<|call|>")
    parsed = parse_completion(sampled, function_names=["f"])
    assert not parsed.clean
    builder.append_completion(sampled, parsed)
    assert builder.tokens == render_prompt(SYSTEM, DEVELOPER, builder.messages)
    assert (
        "<|start|>assistant to=functions.f<|channel|>commentary <|constrain|>json<|message|>{}<|call|>"
        in decode(builder.tokens)
    )


def test_a_new_user_turn_applies_the_history_policy() -> None:
    builder = PromptBuilder(SYSTEM, DEVELOPER, [Message.user("q1")])
    sampled = _sample(
        "<|channel|>analysis<|message|>secret<|end|><|start|>assistant<|channel|>final<|message|>a1<|return|>"
    )
    builder.append_completion(sampled, parse_completion(sampled))
    assert "secret" in decode(builder.tokens)
    builder.append_message(Message.user("q2"))
    assert "secret" not in decode(builder.tokens)
    assert builder.tokens == render_prompt(SYSTEM, DEVELOPER, apply_history_policy(builder.messages))
    assert [m.content for m in builder.messages] == ["q1", "a1", "q2"]


def test_rebuild_renders_rewritten_history() -> None:
    builder = PromptBuilder(SYSTEM, None, [Message.user("q")])
    builder.append_message(Message.tool_result("python", "x" * 50, "analysis"))
    builder.rebuild([Message.user("q"), Message.tool_result("python", "[elided]", "analysis")])
    assert builder.tokens == render_prompt(SYSTEM, None, builder.messages)
    assert builder.tokens[-1] != END
