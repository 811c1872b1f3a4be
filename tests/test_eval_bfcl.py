"""BFCL through the real agent loop: a ground-truth oracle scores 100%, a wrong one 0%, on every category."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agentoss.evals.bfcl import BFCLScorer, BFCLTask, ground_truth_calls
from agentoss.evals.bfcl_data import MULTI_TURN_CATEGORIES, SINGLE_TURN_CATEGORIES, to_json_schema
from agentoss.evals.bfcl_lang import literal
from agentoss.evals.bfcl_multi import call_string, parse_call
from agentoss.evals.core import Attempt, RunSpec
from agentoss.evals.oracle import Call, Final
from eval_fixtures import PlanAgent, run_oracle

SINGLE = list(SINGLE_TURN_CATEGORIES)
MULTI = list(MULTI_TURN_CATEGORIES)


@pytest.mark.parametrize("categories", [SINGLE, *([c] for c in MULTI)], ids=["single_turn", *MULTI])
async def test_oracle_scores_every_category_fully_and_wrong_oracle_scores_zero(
    tmp_path: Path, categories: list[str]
) -> None:
    task = BFCLTask()
    samples = task.samples(categories, limit=3)
    assert {s.category for s in samples} == set(categories)
    run, records, script = await run_oracle(task, samples, tmp_path / "right")
    assert run.lost == 0 and run.errors == 0
    scored = [r for r in records if r["sample_id"] not in script.ambiguous]
    assert len(scored) >= len(samples) - 2
    assert [r["sample_id"] for r in scored if not r["correct"]] == []
    run, records, _ = await run_oracle(task, samples, tmp_path / "wrong", "wrong")
    assert run.errors == 0
    assert [r["sample_id"] for r in records if r["correct"]] == []


@pytest.mark.parametrize("category", ["simple_java", "simple_javascript"])
async def test_oracle_scores_every_java_and_javascript_sample_and_wrong_oracle_none(
    tmp_path: Path, category: str
) -> None:
    task = BFCLTask()
    samples = task.samples([category])
    run, records, script = await run_oracle(task, samples, tmp_path / "right")
    assert run.lost == 0 and run.errors == 0 and len(records) == len(samples)
    scored = [r for r in records if r["sample_id"] not in script.ambiguous]
    assert len(scored) >= len(samples) - 3
    assert [r["sample_id"] for r in scored if not r["correct"]] == []
    # Excluded only where BFCL's own checker cannot accept the ground truth itself.
    assert [r["sample_id"] for r in records if r["sample_id"] in script.ambiguous and r["correct"]] == []
    # Arguments are written as source text in the language (BFCL's checker requires strings).
    values = [v for r in scored for call in r["prediction"] for args in call.values() for v in args.values()]
    assert values and all(isinstance(v, str) for v in values)
    run, records, _ = await run_oracle(task, samples, tmp_path / "wrong", "wrong")
    assert run.errors == 0
    assert [r["sample_id"] for r in records if r["correct"]] == []


async def test_java_arguments_are_checked_as_java_source_text() -> None:
    task = BFCLTask()
    sample = next(s for s in task.samples(["simple_java"]) if s.id == "simple_java_1")
    ((name, arguments),) = ground_truth_calls(sample.target)
    assert arguments["useShortName"] is True
    assert arguments["params"] == {"limit": 50, "schemaFilter": "public"}
    properties = sample.input["function"][0]["parameters"]["properties"]
    written = {k: literal(v, properties[k]["type"], None, "java") for k, v in arguments.items()}
    assert written["useShortName"] == "true"
    assert written["params"].startswith("new HashMap<")
    score = await BFCLScorer()(sample, Attempt(prediction=[{name: written}]), None)  # type: ignore[arg-type]
    assert score.correct, score.explanation
    as_json = await BFCLScorer()(sample, Attempt(prediction=[{name: arguments}]), None)  # type: ignore[arg-type]
    assert not as_json.correct and as_json.details["error_type"] == "type_error:java"


class _SpecEnv:
    seed = 0

    def __init__(self, task: BFCLTask, samples: list[Any]) -> None:
        from agentoss.evals.oracle import OracleScript

        self.script = OracleScript(task, samples)
        self.specs: list[RunSpec] = []

    def agent(self, spec: RunSpec) -> PlanAgent:
        self.specs.append(spec)
        return PlanAgent(self.script, spec)


async def test_java_and_javascript_functions_are_declared_with_string_parameters() -> None:
    task = BFCLTask()
    java = next(s for s in task.samples(["simple_java"]) if s.id == "simple_java_1")
    js = next(s for s in task.samples(["simple_javascript"]) if s.id == "simple_javascript_2")
    env = _SpecEnv(task, [java, js])
    await task.solve(java, env)  # type: ignore[arg-type]
    await task.solve(js, env)  # type: ignore[arg-type]
    (java_spec,), (js_spec,) = (spec.tools[0].spec.functions for spec in env.specs)
    assert java_spec.name == "SQLCompletionAnalyzer_makeProposalsFromObject"
    assert java_spec.description.endswith("Note that the provided function is in Java 8 SDK syntax.")
    java_params = java_spec.parameters["properties"]  # type: ignore[index]
    assert {p["type"] for p in java_params.values()} == {"string"}
    assert java_params["useShortName"]["description"].endswith(
        "This is Java boolean type parameter in string representation."
    )
    assert "any type of Java object in string representation" in java_params["object"]["description"]
    assert js_spec.description.endswith("Note that the provided function is in JavaScript syntax.")
    js_params = js_spec.parameters["properties"]  # type: ignore[index]
    assert {p["type"] for p in js_params.values()} == {"string"}
    assert "items" not in js_params["status"]
    assert js_params["status"]["description"].endswith(
        "The list elements are of type String; they are not in string representation."
    )
    # The sample itself is untouched: BFCL's checker reads the original Java / JS types.
    assert js.input["function"][0]["parameters"]["properties"]["status"]["type"] == "array"


async def test_parallel_calls_are_collected_across_messages_in_order(tmp_path: Path) -> None:
    task = BFCLTask()
    sample = task.samples(["parallel"], limit=1)[0]
    _, records, _ = await run_oracle(task, [sample], tmp_path)
    (record,) = records
    expected = [{name: args} for name, args in ground_truth_calls(sample.target)]
    assert len(expected) > 1
    assert record["prediction"] == expected
    assert sample.metadata["label"].startswith("calls of one turn collected sequentially")


def test_plans_one_call_per_message_then_a_final_answer() -> None:
    task = BFCLTask()
    sample = task.samples(["parallel_multiple"], limit=1)[0]
    (turn,) = task.plan(sample, "oracle")
    assert all(isinstance(step, Call) for step in turn[:-1]) and isinstance(turn[-1], Final)
    assert len(turn) - 1 == len(sample.target)


def test_bfcl_types_become_json_schema() -> None:
    schema = to_json_schema(
        {
            "type": "dict",
            "properties": {
                "x": {"type": "float", "description": "d"},
                "pair": {"type": "tuple", "items": {"type": "integer"}},
                "opts": {"type": "dict", "properties": {"on": {"type": "boolean", "default": True}}},
            },
            "required": ["x"],
        }
    )
    assert schema["type"] == "object" and schema["required"] == ["x"]
    assert schema["properties"]["x"] == {"type": "number", "description": "d"}
    assert schema["properties"]["pair"] == {"type": "array", "items": {"type": "integer"}}
    assert schema["properties"]["opts"]["properties"]["on"] == {"type": "boolean", "default": True}


def test_ground_truth_takes_first_value_and_omits_optional_parameters() -> None:
    calls = ground_truth_calls([{"f": {"a": [10, 11], "unit": ["", "cm"], "xs": [[3, 5]]}}])
    assert calls == [("f", {"a": 10, "xs": [3, 5]})]


def test_multi_turn_call_strings_round_trip_positional_arguments() -> None:
    from agentoss.evals.bfcl_multi import _instances

    sample = BFCLTask().samples(["multi_turn_base"], limit=1)[0]
    instances = _instances(sample.input)
    name, arguments = parse_call("sort('final_report.pdf')", instances)
    assert (name, arguments) == ("sort", {"file_name": "final_report.pdf"})
    assert (
        call_string("mv", {"source": "a.txt", "destination": "tmp"}) == "mv(source='a.txt',destination='tmp')"
    )


async def test_multi_turn_transcript_keeps_every_turns_reasoning_and_calls(tmp_path: Path) -> None:
    from agentoss.evals.store import ResultStore

    task = BFCLTask()
    sample = task.samples(["multi_turn_miss_func"], limit=1)[0]
    _, (record,), _ = await run_oracle(task, [sample], tmp_path)
    assert record["correct"]
    (messages,) = ResultStore(tmp_path).transcripts().values()
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert users == sample.metadata["user_turns"]
    assert "I have updated some more functions" in users[3]
    reasoning = [m for m in messages if m.get("channel") == "analysis" and m["role"] == "assistant"]
    calls = [m for m in messages if m.get("recipient", "").startswith("functions.")]
    steps = sum(len(turn) + 1 for turn in sample.target)
    assert len(reasoning) == steps  # one thought per step, earlier turns included
    assert len(calls) == sum(len(turn) for turn in sample.target)
    assert "functions.sort" in {m["recipient"] for m in calls}  # the held-out function, added at turn 3
