"""BFCL through the real agent loop: single-turn categories scored by BFCL's AST checker.

gpt-oss emits one call per message. A turn's calls are collected, in order, until the final answer,
and that list is what BFCL's checker sees, so the parallel categories measure "all the required calls
in one turn, any order" (labelled "sequential" in reports). Each call is answered with a neutral
acknowledgement: single-turn BFCL has no executable backends. `simple_java` and `simple_javascript`
declare their functions and are checked in their language (`agentoss.evals.bfcl_lang`). Multi-turn
categories live in `agentoss.evals.bfcl_multi` and are dispatched from here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from agentoss.evals.bfcl_data import (
    MULTI_TURN_CATEGORIES,
    SINGLE_TURN_CATEGORIES,
    load_checkers,
    load_entries,
    to_json_schema,
)
from agentoss.evals.bfcl_lang import CATEGORY_LANGUAGES, declare, literal, representable
from agentoss.evals.core import Attempt, RunSpec, Sample, SampleEnv, Score, Scorer
from agentoss.evals.oracle import Call, Final, Plan
from agentoss.evals.tools import callback_tool
from agentoss.evals.transcript import attempt_from_results

from agentoss.errors import EvalError

__all__ = ["ACKNOWLEDGEMENT", "BFCL_INSTRUCTIONS", "PARALLEL_LABEL", "BFCLTask"]

BFCL_INSTRUCTIONS = (
    "You are given a question and a set of possible functions. Based on the question, make the function "
    "calls needed to achieve the purpose, one call per message, then give a short final answer. If none "
    "of the functions can be used, do not call any and say so. If the question lacks parameters the "
    "functions require, do not call them and say so."
)
ACKNOWLEDGEMENT = "OK: call recorded. Make any other calls the request needs, then answer."
PARALLEL_LABEL = "calls of one turn collected sequentially (one call per message)"
_NO_CALL = {"irrelevance", "live_irrelevance"}


def _model_name(name: str) -> str:
    """Function names as declared to the model: dots are not valid in a harmony recipient's name."""
    return name.replace(".", "_")


def _first_value(options: Any) -> tuple[bool, Any]:
    """The first acceptable value of a BFCL answer list; (False, None) when the parameter may be omitted."""
    if not isinstance(options, list) or not options:
        return True, _concrete(options)
    first = options[0]
    if first == "":
        return False, None
    return True, _concrete(first)


def _concrete(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, options in value.items():
            keep, chosen = _first_value(options)
            if keep:
                out[key] = chosen
        return out
    if isinstance(value, list):
        return [_concrete(item) for item in value]
    return value


def ground_truth_calls(ground_truth: Sequence[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """One concrete call per ground-truth entry, each parameter at its first acceptable value."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for entry in ground_truth:
        for name, params in entry.items():
            arguments: dict[str, Any] = {}
            for param, options in params.items():
                keep, value = _first_value(options)
                if keep:
                    arguments[param] = value
            calls.append((name, arguments))
    return calls


class BFCLScorer:
    """BFCL's own checkers: no call (irrelevance), any call (relevance), the AST checker, or multi-turn."""

    async def __call__(self, sample: Sample, attempt: Attempt, env: SampleEnv) -> Score:
        if sample.category in MULTI_TURN_CATEGORIES:
            from agentoss.evals.bfcl_multi import score_multi_turn

            return await score_multi_turn(sample, attempt)
        calls = list(attempt.prediction or [])
        if sample.category in _NO_CALL:
            return Score(0.0 if calls else 1.0, "made a call" if calls else "no call, as expected")
        if sample.category == "live_relevance":
            return Score(1.0 if calls else 0.0, "called a function" if calls else "made no call")
        checkers = load_checkers()
        verdict = checkers.ast_checker(
            sample.input["function"],
            calls,
            sample.target,
            checkers.languages[CATEGORY_LANGUAGES.get(sample.category, "python")],
            sample.metadata["stem"],
            "agentoss",
        )
        valid = bool(verdict.get("valid"))
        explanation = "" if valid else "; ".join(str(e) for e in verdict.get("error", []))
        return Score(1.0 if valid else 0.0, explanation, {"error_type": verdict.get("error_type")})


class BFCLTask:
    """The Berkeley Function Calling Leaderboard (v4 data from `bfcl-eval`)."""

    name = "bfcl"
    uses_python = False
    scorer: Scorer = BFCLScorer()
    default_categories: tuple[str, ...] = (*SINGLE_TURN_CATEGORIES, *MULTI_TURN_CATEGORIES)

    def categories(self) -> list[str]:
        return list(self.default_categories)

    def fingerprint(self) -> dict[str, Any]:
        return {"instructions": BFCL_INSTRUCTIONS, "ack": ACKNOWLEDGEMENT, "data": "BFCL_v4"}

    def samples(self, categories: Sequence[str] | None = None, limit: int | None = None) -> list[Sample]:
        chosen = list(categories) if categories else self.categories()
        out: list[Sample] = []
        for category in chosen:
            stem = SINGLE_TURN_CATEGORIES.get(category) or MULTI_TURN_CATEGORIES.get(category)
            if stem is None:
                raise EvalError(
                    f"unknown BFCL category {category!r}; choose from: {', '.join(self.categories())}"
                )
            entries = load_entries(stem)
            for entry, truth in entries[:limit] if limit else entries:
                metadata: dict[str, Any] = {"stem": stem, "first_user": _first_user(entry)}
                if category in MULTI_TURN_CATEGORIES:
                    from agentoss.evals.bfcl_multi import user_turns

                    metadata["user_turns"] = user_turns(entry)
                if "parallel" in category:
                    metadata["label"] = PARALLEL_LABEL
                out.append(
                    Sample(id=entry["id"], category=category, input=entry, target=truth, metadata=metadata)
                )
        return out

    async def solve(self, sample: Sample, env: SampleEnv) -> Attempt:
        if sample.category in MULTI_TURN_CATEGORIES:
            from agentoss.evals.bfcl_multi import solve_multi_turn

            return await solve_multi_turn(sample, env)
        entry = sample.input
        calls: list[dict[str, Any]] = []
        tools = []
        language = CATEGORY_LANGUAGES.get(sample.category, "python")
        for function in (declare(f, language) for f in entry["function"]):
            original = function["name"]

            def record(arguments: dict[str, Any], original: str = original) -> str:
                calls.append({original: arguments})
                return ACKNOWLEDGEMENT

            tools.append(
                callback_tool(
                    _model_name(original),
                    function.get("description", ""),
                    to_json_schema(function.get("parameters") or {"type": "dict", "properties": {}}),
                    record,
                )
            )
        system = [m["content"] for m in entry["question"][0] if m["role"] == "system"]
        instructions = "\n\n".join([BFCL_INSTRUCTIONS, *system])
        agent = env.agent(RunSpec(tools=tools, instructions=instructions))
        result = await agent.run(_first_user(entry))
        return attempt_from_results([result], prediction=calls)

    async def score(self, sample: Sample, attempt: Attempt, env: SampleEnv) -> Score:
        return await self.scorer(sample, attempt, env)

    def unscorable(self, sample: Sample) -> bool:
        """Java / JS ground truth no call can match: malformed, or values BFCL reads back only as text."""
        language = CATEGORY_LANGUAGES.get(sample.category)
        if language is None:
            return False
        docs = {f["name"]: f["parameters"]["properties"] for f in sample.input["function"]}
        for entry in sample.target or []:
            for name, params in entry.items():
                for param, options in params.items():
                    doc = docs.get(name, {}).get(param, {})
                    kind, element = doc.get("type", "any"), doc.get("items", {}).get("type")
                    values = [o for o in options if o != ""] if isinstance(options, list) else None
                    if values is None or any(_malformed(v) for v in values):
                        return True
                    if values and not any(representable(v, kind, element, language) for v in values):
                        return True
        return False

    def plan(self, sample: Sample, mode: Literal["oracle", "wrong"]) -> Plan:
        """Scripted right / wrong answers (see `agentoss.evals.oracle`)."""
        if sample.category in MULTI_TURN_CATEGORIES:
            from agentoss.evals.bfcl_multi import plan_multi_turn

            return plan_multi_turn(sample, mode)
        functions = sample.input["function"]
        first = _model_name(functions[0]["name"]) if functions else "unavailable"
        first_call = Call(f"functions.{first}", "{}")
        refusal = Final("None of the available functions can answer this request.")
        if sample.category in _NO_CALL:
            return [[refusal]] if mode == "oracle" else [[first_call, Final("Done.")]]
        if mode == "wrong":
            return [[refusal]]
        if sample.category == "live_relevance":
            return [[first_call, Final("Done.")]]
        steps: list[Call | Final] = [
            Call(f"functions.{_model_name(name)}", json.dumps(_written(sample, name, arguments)))
            for name, arguments in ground_truth_calls(sample.target or [])
        ]
        return [[*steps, Final("Done.")]]


def _malformed(value: Any) -> bool:
    """A nested dict answer whose entries are not lists of options (BFCL would compare characters)."""
    return isinstance(value, dict) and any(not isinstance(v, list) for v in value.values())


def _written(sample: Sample, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Ground-truth arguments as the model must write them: Java / JS values as source text."""
    language = CATEGORY_LANGUAGES.get(sample.category)
    if language is None:
        return arguments
    function = next(f for f in sample.input["function"] if f["name"] == name)
    properties = function["parameters"]["properties"]
    out = {}
    for param, value in arguments.items():
        doc = properties.get(param, {})
        element = doc.get("items", {}).get("type")
        out[param] = literal(value, doc.get("type", "any"), element, language)
    return out


def _first_user(entry: dict[str, Any]) -> str:
    turn = entry["question"][0] if entry.get("question") else []
    return "\n\n".join(m["content"] for m in turn if m["role"] == "user")
