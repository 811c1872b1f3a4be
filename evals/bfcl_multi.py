"""BFCL multi-turn categories: a session per sample against BFCL's own executable backends and checker.

Each sample gets fresh instances of its backend classes (file system, trading bot, ...), loaded with
the sample's initial state. The model's calls run against them as they are made; the calls of each
user turn are kept as BFCL call strings and the whole list goes to BFCL's `multi_turn_checker`, which
replays them and the ground truth on its own instances and compares states and results. In
`miss_func`, the held-out functions are added at their turn with BFCL's own prompt.
"""

from __future__ import annotations

import ast
import asyncio
import copy
import importlib
import inspect
import json
import keyword
import math
import threading
import uuid
from collections.abc import Collection
from typing import Any, Literal

from agentoss.evals.bfcl_data import load_checkers, multi_turn_docs, to_json_schema
from agentoss.evals.core import Attempt, RunSpec, Sample, SampleEnv, Score
from agentoss.evals.oracle import Call, Final, Plan, PlanStep
from agentoss.evals.tools import callback_tool
from agentoss.evals.transcript import attempt_from_results

from agentoss.errors import EvalError

__all__ = [
    "MULTI_TURN_INSTRUCTIONS",
    "REJECTED_CALL",
    "call_string",
    "is_safe_call",
    "plan_multi_turn",
    "score_multi_turn",
    "solve_multi_turn",
]

MULTI_TURN_INSTRUCTIONS = (
    "You operate the systems described by your functions on the user's behalf. In each turn, make the "
    "calls needed to complete the user's request, one call per message, reading each result before the "
    "next call; when the request is done (or cannot be done), answer briefly. If a required detail is "
    "missing, ask for it instead of guessing."
)
ADDITIONAL_FUNCTIONS_PROMPT = "I have updated some more functions you can choose from. What about now?"
# BFCL's checker keeps backend instances in a module-global table: scoring is serialised.
_CHECKER_LOCK = threading.Lock()


def _instances(entry: dict[str, Any]) -> dict[str, Any]:
    checkers = load_checkers()
    long_context = "long_context" in entry["id"]
    out: dict[str, Any] = {}
    for class_name in entry["involved_classes"]:
        module = importlib.import_module(checkers.class_paths[class_name])
        instance = getattr(module, class_name)()
        if class_name not in checkers.stateless:
            config = copy.deepcopy(entry.get("initial_config", {}).get(class_name, {}))
            instance._load_scenario(config, long_context=long_context)
        out[class_name] = instance
    return out


def _docs(entry: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """(functions declared from the start, functions added at turn N)."""
    docs = [doc for class_name in entry["involved_classes"] for doc in multi_turn_docs(class_name)]
    held: dict[int, list[dict[str, Any]]] = {}
    for turn, names in (entry.get("missed_function") or {}).items():
        held[int(turn)] = [doc for doc in docs if doc["name"] in names]
    held_names = {doc["name"] for group in held.values() for doc in group}
    return [doc for doc in docs if doc["name"] not in held_names], held


def user_turns(entry: dict[str, Any]) -> list[str]:
    """The user message sent at each turn (BFCL's own prompt at the turns that add held-out functions)."""
    held = {int(turn) for turn in entry.get("missed_function") or {}}
    return [
        ADDITIONAL_FUNCTIONS_PROMPT
        if index in held
        else "\n\n".join(m["content"] for m in messages if m["role"] == "user")
        for index, messages in enumerate(entry["question"])
    ]


REJECTED_CALL = "__agentoss_rejected_call__()"
"""Recorded instead of a call that cannot be written safely: BFCL's checker evals call strings on the
host, so nothing the model chose may reach them except JSON values written with `repr`. This fixed
string names nothing in the checker's namespace, so it fails there (an execution error, no state
change), as a call with a bad parameter name fails in BFCL's own pipeline."""
_MAX_DEPTH = 64


def _is_plain_json(value: Any, depth: int = 0) -> bool:
    """JSON-decoded data only (exact types), whose `repr` is a Python literal that evaluates to itself."""
    if depth > _MAX_DEPTH:
        return False
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return True
    if kind is float:
        return math.isfinite(value)  # repr(inf) is `inf`, a name, not a literal
    if kind is list:
        return all(_is_plain_json(item, depth + 1) for item in value)
    if kind is dict:
        return all(type(k) is str and _is_plain_json(v, depth + 1) for k, v in value.items())
    return False


def call_string(name: str, arguments: dict[str, Any], parameters: Collection[str] | None = None) -> str:
    """A call as BFCL writes decoded calls, `name(k=repr(v),...)`, or `REJECTED_CALL` when unsafe.

    The name must be an identifier; every key an identifier, not a keyword, and (when `parameters`
    is given) a declared parameter of the function; every value plain JSON data. Anything else is
    recorded as `REJECTED_CALL`, so no text the model wrote is ever evaluated by the checker.
    """
    if not name.isidentifier() or keyword.iskeyword(name) or type(arguments) is not dict:
        return REJECTED_CALL
    for key, value in arguments.items():
        if type(key) is not str or not key.isidentifier() or keyword.iskeyword(key):
            return REJECTED_CALL
        if parameters is not None and key not in parameters:
            return REJECTED_CALL
        if not _is_plain_json(value):
            return REJECTED_CALL
    return f"{name}({','.join(f'{key}={value!r}' for key, value in arguments.items())})"


def _declared_parameters(doc: dict[str, Any]) -> frozenset[str]:
    properties = (doc.get("parameters") or {}).get("properties") or {}
    return frozenset(properties) if isinstance(properties, dict) else frozenset()


def _execute(instances: dict[str, Any], name: str, arguments: dict[str, Any]) -> str:
    """Run one call the way BFCL's executor does, with its result formatting."""
    for instance in instances.values():
        method = getattr(instance, name, None)
        if method is not None and callable(method) and not name.startswith("_"):
            break
    else:
        return f"Error during execution: unknown function {name!r}"
    try:
        result = method(**arguments)
    except Exception as exc:
        return f"Error during execution: {exc}"
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        try:
            return json.dumps(result)
        except (TypeError, ValueError):
            return str(result)
    return str(result)


async def solve_multi_turn(sample: Sample, env: SampleEnv) -> Attempt:
    entry = sample.input
    instances = await asyncio.to_thread(_instances, entry)
    declared, held = _docs(entry)
    decoded: list[list[list[str]]] = []

    def make_tool(doc: dict[str, Any]) -> Any:
        name = doc["name"]
        parameters = _declared_parameters(doc)

        def handler(arguments: dict[str, Any]) -> str:
            decoded[-1].append([call_string(name, arguments, parameters)])
            return _execute(instances, name, arguments)

        return callback_tool(name, doc.get("description", ""), to_json_schema(doc["parameters"]), handler)

    tools = [make_tool(doc) for doc in declared]
    agent = env.agent(RunSpec(tools=tools, instructions=MULTI_TURN_INSTRUCTIONS))
    session = agent.session()
    results: list[Any] = []
    for turn, text in enumerate(user_turns(entry)):
        if turn in held:
            # Tools are fixed per agent: continue the conversation on an agent that also has the new ones.
            tools.extend(make_tool(doc) for doc in held[turn])
            agent = env.agent(RunSpec(tools=tools, instructions=MULTI_TURN_INSTRUCTIONS))
            session = agent.session(session.messages)
        decoded.append([])
        result = await session.send(text)
        results.append(result)
        if getattr(result, "stop_reason", "final") != "final":
            break  # BFCL force-quits the whole entry when a turn does not finish
    return attempt_from_results(results, prediction=decoded)


def _check(sample: Sample, decoded: list[list[list[str]]]) -> dict[str, Any]:
    # Whatever produced the calls, only literal-argument calls reach BFCL's eval on the host.
    decoded = [
        [[text if is_safe_call(text) else REJECTED_CALL for text in step] for step in turn]
        for turn in decoded
    ]
    checkers = load_checkers()
    model_name = f"agentoss_{uuid.uuid4().hex[:12]}"
    category = sample.input["id"].rsplit("_", 1)[0]
    with _CHECKER_LOCK:
        try:
            return dict(
                checkers.multi_turn_checker(decoded, sample.target, sample.input, category, model_name)
            )
        finally:
            table = vars(checkers.multi_turn_utils)
            for name in [n for n in table if n.startswith(model_name)]:
                del table[name]


def is_safe_call(text: Any) -> bool:
    """True for `name(key=<literal>, ...)` only: what `call_string` writes and BFCL may eval on the host."""
    if type(text) is not str:
        return False
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.args:
        return False
    for kw in node.keywords:
        if kw.arg is None:
            return False
        try:
            ast.literal_eval(kw.value)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            return False
    return True


async def score_multi_turn(sample: Sample, attempt: Attempt) -> Score:
    decoded = [[step for step in turn if step] for turn in attempt.prediction or []]
    if len(decoded) != len(sample.target or []):
        return Score(
            0.0,
            f"stopped after {len(decoded)} of {len(sample.target or [])} turns",
            {"error_type": "multi_turn:force_terminated"},
        )
    verdict = await asyncio.to_thread(_check, sample, decoded)
    valid = bool(verdict.get("valid"))
    return Score(
        1.0 if valid else 0.0,
        "" if valid else str(verdict.get("error_message", "")),
        {"error_type": verdict.get("error_type")},
    )


def parse_call(text: str, instances: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A ground-truth call string (`f(1, b='x')`) as (name, keyword arguments)."""
    node = ast.parse(text, mode="eval").body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise EvalError(f"cannot parse ground-truth call {text!r}")
    name = node.func.id
    arguments = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
    if node.args:
        method = next(getattr(i, name) for i in instances.values() if hasattr(i, name))
        params = [p for p in inspect.signature(method).parameters if p not in arguments]
        for param, value in zip(params, node.args, strict=False):
            arguments[param] = ast.literal_eval(value)
    return name, arguments


def plan_multi_turn(sample: Sample, mode: Literal["oracle", "wrong"]) -> Plan:
    if mode == "wrong":
        return [[Final("I cannot do that.")] for _ in sample.input["question"]]
    instances = _instances(sample.input)
    plan: Plan = []
    for turn in sample.target or []:
        steps: list[PlanStep] = []
        for text in turn:
            name, arguments = parse_call(text, instances)
            steps.append(Call(f"functions.{name}", json.dumps(arguments)))
        steps.append(Final("Done."))
        plan.append(steps)
    return plan
