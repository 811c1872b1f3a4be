"""Scripted answers for benchmarks: per-sample plans of tool calls and final answers, as harmony replies.

An oracle answers every sample with its ground truth (a benchmark's sanity check: it must score 100%
where the ground truth is unambiguous); a wrong oracle answers every sample wrongly (it must score 0%).
`OracleScript` is the callable `ScriptedBackend` takes: it recognises the sample from the prompt (the
text up to the end of the first user message), the user turn (user messages so far) and the step
(tool results since the last user message), and replies with that step of the plan.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from agentoss.evals.core import Sample

__all__ = ["Call", "Final", "OracleScript", "OracleTask", "Plan", "PlanStep", "render_step"]


@dataclass(frozen=True, slots=True)
class Call:
    """One tool call: `functions.NAME` with JSON arguments, or `python` with code."""

    recipient: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Final:
    """The final answer of a user turn."""

    text: str


PlanStep = Call | Final
Plan = list[list[PlanStep]]
"""One list of steps per user turn; each turn ends with a `Final`."""


class OracleTask(Protocol):
    """A task that can script right and wrong answers for its samples."""

    name: str

    def plan(self, sample: Sample, mode: Literal["oracle", "wrong"]) -> Plan: ...


def render_step(step: PlanStep, reasoning: str | None = None) -> str:
    """The harmony completion text a model would sample for this step (control tokens as text)."""
    thought = f"<|channel|>analysis<|message|>{reasoning}<|end|><|start|>assistant" if reasoning else ""
    if isinstance(step, Final):
        return f"{thought}<|channel|>final<|message|>{step.text}<|return|>"
    if step.recipient == "python":
        return f"{thought}<|channel|>analysis to=python code<|message|>{step.arguments}<|call|>"
    header = f"<|channel|>commentary to={step.recipient} <|constrain|>json"
    return f"{thought}{header}<|message|>{step.arguments}<|call|>"


def _thought(index: int, steps: Sequence[PlanStep]) -> str:
    return f"Oracle plan: step {index + 1} of {len(steps)}."


_USER_MESSAGE = re.compile(r"<\|start\|>user<\|message\|>(.*?)<\|end\|>", re.DOTALL)
_USER = "<|start|>user<|message|>"
_TOOL_RESULT = re.compile(r"<\|start\|>(?!assistant|user|system|developer)[^<\s]+ to=assistant")


def _history_key(user_texts: Sequence[str]) -> str:
    return hashlib.sha256("\x00".join(user_texts).encode()).hexdigest()


class OracleScript:
    """Prompt ids -> the next reply of the matching sample's plan (for `ScriptedBackend`).

    A turn is recognised by every user message so far (not the system or developer message, which
    change with effort and tools), so samples sharing an opening question but not a later turn stay
    apart. Samples whose user messages are identical up to a turn with different steps are listed in
    `ambiguous`: the first one's plan answers both. So are samples the task's optional
    `unscorable(sample) -> bool` flags: ground truth that no answer can match under the benchmark's
    own checker.
    """

    def __init__(
        self, task: OracleTask, samples: Iterable[Sample], mode: Literal["oracle", "wrong"] = "oracle"
    ) -> None:
        self.turns: dict[str, list[PlanStep]] = {}
        self._single_turn: dict[str, str] = {}
        self.ambiguous: set[str] = set()
        """Ids of samples sharing their user messages with another sample that has different steps,
        or whose ground truth the task flags as unscorable."""
        owners: dict[str, str] = {}
        unscorable = getattr(task, "unscorable", None)
        for sample in samples:
            if unscorable is not None and unscorable(sample):
                self.ambiguous.add(sample.id)
            plan = task.plan(sample, mode)
            users = _user_turns(sample, len(plan))
            for index, steps in enumerate(plan):
                key = _history_key(users[: index + 1])
                if key in self.turns and self.turns[key] != steps:
                    self.ambiguous.update({sample.id, owners[key]})
                    continue
                self.turns[key] = steps
                owners.setdefault(key, sample.id)
                if len(plan) == 1:
                    self._single_turn[key] = users[0]

    def steps_for(self, user_texts: Sequence[str]) -> list[PlanStep] | None:
        """The steps of the turn whose user messages so far are `user_texts`."""
        return self.turns.get(_history_key(user_texts))

    def reply_text(self, prompt_text: str) -> str:
        steps = self.steps_for(_USER_MESSAGE.findall(prompt_text))
        if steps is None:
            return render_step(Final("(oracle: unknown sample)"))
        step = len(_TOOL_RESULT.findall(prompt_text, prompt_text.rfind(_USER)))
        if step >= len(steps):
            return render_step(Final("(oracle: no more steps)"))
        return render_step(steps[step], _thought(step, steps))

    def to_rules(self) -> list[dict[str, object]]:
        """Single-turn plans as `agentoss.testing.script` rules (for the fake vLLM server's `--script`)."""
        rules: list[dict[str, object]] = []
        for key, first_user in self._single_turn.items():
            when = re.escape(f"<|start|>user<|message|>{first_user}<|end|>")
            rules.extend(
                {"reply": render_step(s), "when": when, "step": n} for n, s in enumerate(self.turns[key])
            )
        return rules

    def __call__(self, prompt_ids: Sequence[int]) -> str:
        from agentoss.harmony.encoding import decode

        return self.reply_text(decode(prompt_ids))


def _user_turns(sample: Sample, turns: int) -> list[str]:
    """The user message of each turn a task sends (`metadata['user_turns']`, else `['first_user']`)."""
    texts = sample.metadata.get("user_turns")
    if isinstance(texts, list) and len(texts) >= turns:
        return [str(t) for t in texts]
    first = sample.metadata.get("first_user")
    return [str(first if isinstance(first, str) else sample.input)]
