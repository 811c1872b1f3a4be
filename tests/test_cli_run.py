"""`agentoss run` / `chat` / `replay` as subprocesses against the fake vLLM server over loopback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_fixtures import CliRun, agentoss, fake_vllm

from agentoss.harmony import decode, encode_special
from agentoss.runtime.transcript import read_transcript

CALL_JSON = "<|constrain|>json<|message|>"
OSLO = '{"city": "Oslo"}<|call|>'
THINK = "<|channel|>analysis<|message|>{}<|end|><|start|>assistant"


def think(text: str) -> str:
    return THINK.format(text)


def fn_call(name: str, arguments: str, analysis: str = "Calling a tool.") -> str:
    return think(analysis) + f"<|channel|>commentary to=functions.{name} {CALL_JSON}{arguments}<|call|>"


def answer(text: str, analysis: str = "I have the answer.") -> str:
    return think(analysis) + f"<|channel|>final<|message|>{text}<|return|>"


WEATHER = "to=functions.get_weather"
MALFORMED_CALLS = {
    "CM01-role": f"<|start|>assistant {WEATHER}<|channel|>commentary {CALL_JSON}{OSLO}",
    "CM02-jsonword": f"<|channel|>commentary {WEATHER} json<|message|>{OSLO}",
    "CM03-glued": f"<|channel|>commentary {WEATHER}json<|message|>{OSLO}",
    "CM04-leadingstart": f"<|start|>assistant<|channel|>commentary {WEATHER} {CALL_JSON}{OSLO}",
    "CM05-afterend": "<|channel|>analysis<|message|>x<|end|>commentary<|start|>assistant"
    f"<|channel|>commentary {WEATHER} {CALL_JSON}{OSLO}",
    "CM06-doubled": f"<|channel|><|channel|>commentary {WEATHER} {CALL_JSON}{OSLO}",
    "CM07-analysis": f"<|channel|>analysis {WEATHER} {CALL_JSON}{OSLO}",
    "CM08-builtin-as-function": "<|channel|>commentary to=functions.browser.search json<|message|>"
    '{"query": "moon"}<|call|>',
}
MALFORMED_FINALS = {
    "CM09-nomessage": ("<|channel|>final I cannot help with that.<|return|>", "I cannot help with that."),
    "CM10-later-nomessage": (think("x") + "<|channel|>final Fine.<|return|>", "Fine."),
    "CM11-junkchannel": (
        think("hmm").replace("analysis", "?") + "<|channel|>final<|message|>Ok.<|return|>",
        "Ok.",
    ),
    "CM12-constrained-final": (
        '<|channel|>final <|constrain|>json<|message|>{"ok": true}<|return|>',
        '{"ok": true}',
    ),
}
MALFORMED_CODES = {  # the diagnostic codes each malformed completion must be reported with, in order
    "CM01-role": ["duplicate_start"],
    "CM02-jsonword": ["json_without_constrain"],
    "CM03-glued": ["json_without_constrain", "glued_content_type"],
    "CM04-leadingstart": ["duplicate_start"],
    "CM05-afterend": ["stray_text"],
    "CM06-doubled": ["empty_channel", "doubled_channel"],
    "CM07-analysis": ["function_call_channel"],
    "CM08-builtin-as-function": ["json_without_constrain", "builtin_as_function", "builtin_on_commentary"],
    "CM09-nomessage": ["missing_message_token"],
    "CM10-later-nomessage": ["missing_message_token"],
    "CM11-junkchannel": ["unknown_channel"],
    "CM12-constrained-final": [],  # `<|constrain|>json` on a final message is valid harmony
}
MALFORMED = [
    [{"when": task, "step": 0, "reply": reply}, {"when": task, "step": 1, "reply": answer(f"{task} done")}]
    for task, reply in MALFORMED_CALLS.items()
] + [[{"when": task, "step": 0, "reply": reply}] for task, (reply, _) in MALFORMED_FINALS.items()]

CUT_HEADER = fn_call("get_weather", '{"city": "Oslo"}', analysis="Planning the call.")
CUT_CONTENT = answer("The forecast for Oslo is mild and dry all week.", analysis="Easy.")

SCRIPT = [
    # python episode
    {
        "when": "TASK-PY",
        "step": 0,
        "reply": think("Use python.") + "<|channel|>analysis to=python code<|message|>print(2**100)<|call|>",
    },
    {"when": "TASK-PY", "step": 1, "reply": answer("2**100 = 1267650600228229401496703205376")},
    # browser episode
    {
        "when": "TASK-BROWSE",
        "step": 0,
        "reply": think("Search the corpus.")
        + f'<|channel|>analysis to=browser.search {CALL_JSON}{{"query": "moon distance"}}<|call|>',
    },
    {
        "when": "TASK-BROWSE",
        "step": 1,
        "reply": think("Open the first result.")
        + f'<|channel|>analysis to=browser.open {CALL_JSON}{{"id": 0}}<|call|>',
    },
    {
        "when": "TASK-BROWSE",
        "step": 2,
        "reply": answer("About 384,400 km 【1†L4】 (results 【0†L4】, lost 【9†L1】)."),
    },
    # function tool episode (the tool comes from --function-tools)
    {"when": "TASK-FN", "step": 0, "reply": fn_call("get_weather", '{"city": "Tokyo"}')},
    {"when": "TASK-FN", "step": 1, "reply": fn_call("get_weather", '{"city": "Oslo", "unit": "fahrenheit"}')},
    {"when": "TASK-FN", "step": 2, "reply": answer("Tokyo is warm, Oslo is cold.")},
    # unknown tool, broken JSON, arguments failing the schema, then recovery
    {"when": "TASK-BAD", "step": 0, "reply": fn_call("teleport", "{}")},
    {"when": "TASK-BAD", "step": 1, "reply": fn_call("get_weather", '{"city": ')},
    {"when": "TASK-BAD", "step": 2, "reply": fn_call("get_weather", '{"town": "Oslo"}')},
    {"when": "TASK-BAD", "step": 3, "reply": answer("Recovered after three errors.")},
    # never answers
    {"when": "TASK-LOOP", "reply": fn_call("get_weather", '{"city": "Rome"}')},
    # structured output: the retry prompt first, then the invalid first answer
    {"when": "does not match the response format Verdict", "reply": answer('{"city": "Oslo", "score": 7}')},
    {"when": "TASK-STRUCT", "reply": answer('{"city": "Oslo", "score": "high"}')},
    # approvals: two calls, then an answer
    {"when": "TASK-APPROVE", "step": 0, "reply": fn_call("get_weather", '{"city": "Lima"}')},
    {"when": "TASK-APPROVE", "step": 1, "reply": fn_call("get_weather", '{"city": "Quito"}')},
    {"when": "TASK-APPROVE", "step": 2, "reply": answer("Done with approvals.")},
    # make run: python is declared by default
    {"when": "(?s)## python.*TASK-MAKE", "reply": answer("python is available")},
    {"when": "TASK-MAKE", "reply": answer("python is missing")},
    # chat: the second turn must not see the first turn's reasoning
    {
        "when": r"^(?![\s\S]*SECRET-REASONING)[\s\S]*TASK-CHAT-TWO",
        "reply": answer("Second answer, history ok."),
    },
    {"when": "TASK-CHAT-TWO", "reply": answer("Second answer, reasoning leaked.")},
    {"when": "TASK-CHAT-ONE", "step": 0, "reply": answer("First answer.", analysis="SECRET-REASONING")},
    # pattern 10: cut by the length limit (`--max-tokens`), inside a header and inside content
    {"when": "TASK-CUT-HEADER", "reply": CUT_HEADER},
    {"when": "TASK-CUT-CONTENT", "reply": CUT_CONTENT},
    # pattern 11: the answer on commentary, no function tools declared
    {
        "when": "TASK-COMMENTARY",
        "reply": think("Simple sum.") + "<|channel|>commentary<|message|>It is 4.<|return|>",
    },
    # pattern 12: a research loop (a search, a function call), then reasoning that never answers
    {
        "when": "TASK-RESEARCH",
        "step": 0,
        "reply": think("Search first.")
        + f'<|channel|>analysis to=browser.search {CALL_JSON}{{"query": "moon"}}<|call|>',
    },
    {"when": "TASK-RESEARCH", "step": 1, "reply": fn_call("get_weather", '{"city": "Oslo"}')},
    {
        "when": "TASK-RESEARCH",
        "reply": think("Enough research.") + "<|channel|>analysis<|message|>Still mulling.<|return|>",
    },
    # malformed outputs, one chat turn each (later turns first: a prompt holds every earlier task)
    *reversed([rule for turn in MALFORMED for rule in turn]),
]

WEATHER_MODULE = '''
from typing import Literal
from pydantic import BaseModel
from agentoss import function_tool

@function_tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Current weather for a city.

    Args:
        city: The city.
        unit: Temperature unit.
    """
    return f"{city}: 20 {unit}"

class Verdict(BaseModel):
    city: str
    score: int
'''


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli")
    (directory / "weather_tools.py").write_text(WEATHER_MODULE, encoding="utf-8")
    corpus = directory / "corpus"
    corpus.mkdir()
    (corpus / "moon.md").write_text(
        "# The Moon\n\nThe Moon orbits Earth at about 384,400 km.\n", encoding="utf-8"
    )
    (corpus / "mars.md").write_text("# Mars\n\nMars is the fourth planet from the Sun.\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def url(workdir: Path) -> Iterator[str]:
    with fake_vllm(SCRIPT, workdir) as base_url:
        yield base_url


def run(url: str, workdir: Path, *args: str, stdin: str | None = None) -> CliRun:
    return agentoss(
        "run", "--base-url", url, *args, env={"PYTHONPATH": str(workdir)}, stdin=stdin, cwd=workdir
    )


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="--sandbox local needs bubblewrap")
def test_python_episode_with_the_live_display(url: str, workdir: Path) -> None:
    done = run(url, workdir, "--tools", "python", "--sandbox", "local", "TASK-PY: what is 2**100?")
    assert done.code == 0, done.stderr
    assert "Use python." in done.stdout  # reasoning shown
    assert "tool call: python" in done.stdout and "print(2**100)" in done.stdout
    assert "output of python" in done.stdout
    assert done.stdout.count("1267650600228229401496703205376") == 2  # tool output and answer
    assert "answer" in done.stdout and done.stderr == ""


def test_hide_reasoning(url: str, workdir: Path) -> None:
    done = run(url, workdir, "--function-tools", "weather_tools", "--hide-reasoning", "TASK-FN")
    assert done.code == 0, done.stderr
    assert "Calling a tool." not in done.stdout
    assert "Tokyo is warm, Oslo is cold." in done.stdout


BROWSE_ANSWER = "About 384,400 km 【1†L4】 (results 【0†L4】, lost 【9†L1】)."


def test_browser_episode_resolves_citations_in_json(url: str, workdir: Path) -> None:
    corpus = str(workdir / "corpus")
    done = run(url, workdir, "--tools", "browser", "--browser-corpus", corpus, "--json", "TASK-BROWSE")
    assert done.code == 0, done.stderr
    result = done.json()
    search, opened = result["tool_calls"]
    assert search["recipient"] == "browser.search" and search["channel"] == "analysis"
    assert "The Moon" in search["output"]
    assert opened["output"].startswith("[1] The Moon (corpus://local/moon.md)")
    assert result["final"] == BROWSE_ANSWER  # the answer itself stays as the model wrote it
    (citation,) = result["citations"]
    start, end = citation["span"]
    assert result["final"][start:end] == "【1†L4】" == citation["marker"]
    assert citation["cursor"] == 1 and citation["url"] == "corpus://local/moon.md"
    assert citation["title"] == "The Moon" and citation["lines"] == [4, 4]
    assert citation["quote"] == "The Moon orbits Earth at about 384,400 km."
    assert result["diagnostics"] == [
        f"citation_unresolved: 【0†L4】 at {BROWSE_ANSWER.index('【0')}: cursor 0 shows a page without an "
        "address (search results)",
        f"citation_unresolved: 【9†L1】 at {BROWSE_ANSWER.index('【9')}: cursor 9 does not exist "
        "(pages shown: 2)",
    ]


def test_browser_episode_shows_citations_as_footnotes(url: str, workdir: Path) -> None:
    done = run(url, workdir, "--tools", "browser", "--browser-corpus", str(workdir / "corpus"), "TASK-BROWSE")
    assert done.code == 0, done.stderr
    answer_panel = done.stdout[done.stdout.index("answer") :]
    assert "About 384,400 km [1] (results 【0†L4】, lost 【9†L1】)." in answer_panel
    assert "[1] The Moon: corpus://local/moon.md L4" in answer_panel
    assert "citation 【9†L1】 not resolved: cursor 9 does not exist" in done.stdout


def test_chat_resolves_citations_like_run(url: str, workdir: Path) -> None:
    done = agentoss(
        "chat",
        "--base-url",
        url,
        "--tools",
        "browser",
        "--browser-corpus",
        str(workdir / "corpus"),
        stdin="TASK-BROWSE\n/exit\n",
    )
    assert done.code == 0, done.stderr
    answer_panel = done.stdout[done.stdout.index("answer") :]
    assert "About 384,400 km [1] (results 【0†L4】, lost 【9†L1】)." in answer_panel
    assert "[1] The Moon: corpus://local/moon.md L4" in answer_panel


def test_function_tool_episode_and_the_json_shape(url: str, workdir: Path) -> None:
    done = run(url, workdir, "--function-tools", "weather_tools", "--json", "TASK-FN")
    assert done.code == 0, done.stderr
    assert done.stderr == ""
    result = done.json()
    assert set(result) == {"final", "stop_reason", "turns", "tool_calls", "usage", "diagnostics", "citations"}
    assert result["final"] == "Tokyo is warm, Oslo is cold."
    assert result["stop_reason"] == "final" and result["turns"] == 3
    assert result["tool_calls"] == [
        {
            "recipient": "functions.get_weather",
            "channel": "commentary",
            "arguments": '{"city": "Tokyo"}',
            "output": "Tokyo: 20 celsius",
        },
        {
            "recipient": "functions.get_weather",
            "channel": "commentary",
            "arguments": '{"city": "Oslo", "unit": "fahrenheit"}',
            "output": "Oslo: 20 fahrenheit",
        },
    ]
    assert set(result["usage"]) == {"prompt_tokens", "completion_tokens"}
    assert result["usage"]["prompt_tokens"] > 0 and result["usage"]["completion_tokens"] > 0
    assert result["diagnostics"] == [] and result["citations"] == []  # no browser, nothing resolved


def test_unknown_tool_and_bad_arguments_are_recoverable(url: str, workdir: Path) -> None:
    done = run(url, workdir, "--function-tools", "weather_tools", "--json", "TASK-BAD")
    assert done.code == 0, done.stderr
    outputs = [call["output"] for call in done.json()["tool_calls"]]
    assert outputs[0].startswith("Unknown tool 'functions.teleport'. Available tools: functions.get_weather")
    assert outputs[1].startswith("Invalid JSON arguments")
    assert outputs[2].startswith("Invalid arguments for get_weather") and "city" in outputs[2]
    assert done.json()["final"] == "Recovered after three errors."


def test_every_malformed_output_pattern_through_a_chat_session(
    url: str, workdir: Path, tmp_path: Path
) -> None:
    transcript = tmp_path / "chat.jsonl"
    tasks = [*MALFORMED_CALLS, *MALFORMED_FINALS]
    done = agentoss(
        "chat", "--base-url", url, "--function-tools", "weather_tools", "--tools", "browser",
        "--browser-corpus", str(workdir / "corpus"), "--transcript", str(transcript),
        stdin="\n".join([*tasks, "/exit", ""]), env={"PYTHONPATH": str(workdir)},
    )  # fmt: skip
    assert done.code == 0, done.stderr
    records = list(read_transcript(transcript))
    finished = [r for r in records if r["event"] == "run_finished"]
    assert [r["stop_reason"] for r in finished] == ["final"] * len(tasks)
    expected = [f"{task} done" for task in MALFORMED_CALLS] + [text for _, text in MALFORMED_FINALS.values()]
    assert [r["final"] for r in finished] == expected
    calls = [(r["recipient"], r["is_error"]) for r in records if r["event"] == "tool_call"]
    assert calls == [("functions.get_weather", False)] * 7 + [("browser.search", False)]
    outputs = [r["output"] for r in records if r["event"] == "tool_call"]
    assert outputs[:7] == ["Oslo: 20 celsius"] * 7 and "The Moon" in outputs[7]
    task_of_run = {r["run"]: r["task"] for r in records if r["event"] == "run_started"}
    codes: dict[str, list[str]] = {task: [] for task in tasks}
    for record in records:
        if record["event"] == "completion":
            codes[task_of_run[record["run"]]] += [d.split(":", 1)[0] for d in record["diagnostics"]]
    assert codes == MALFORMED_CODES  # every repair is reported, with its own code, never silently


def _tokens_to(text: str) -> int:
    """How many tokens the model samples to write `text` (control tokens included)."""
    return len(encode_special(text))


def test_output_cut_inside_a_header_stops_with_max_tokens(url: str, workdir: Path) -> None:
    cut = _tokens_to(think("Planning the call.") + "<|channel|>commentary to=functions")  # pattern 10
    assert cut < _tokens_to(CUT_HEADER)
    done = run(
        url,
        workdir,
        "--function-tools",
        "weather_tools",
        "--max-tokens",
        str(cut),
        "--json",
        "TASK-CUT-HEADER",
    )
    assert done.code == 1
    result = done.json()
    assert result["stop_reason"] == "max_tokens" and result["final"] is None
    assert result["tool_calls"] == [] and result["turns"] == 1  # the half-written call is not dispatched
    assert result["diagnostics"] == [
        "truncated: output cut off inside a message header",
        f"max_tokens: the completion was cut after {cut} tokens",
    ]
    assert done.stderr.strip().splitlines() == [
        f"agentoss: no final answer: max_tokens (the completion was cut after {cut} tokens)"
    ]


def test_output_cut_inside_the_answer_keeps_the_partial_answer(url: str, workdir: Path) -> None:
    opened = _tokens_to(think("Easy.") + "<|channel|>final<|message|>")  # pattern 10
    cut = opened + 3
    partial = decode(encode_special(CUT_CONTENT)[opened:cut])
    assert partial and "The forecast for Oslo".startswith(partial)
    done = run(url, workdir, "--max-tokens", str(cut), "--json", "TASK-CUT-CONTENT")
    assert done.code == 1
    result = done.json()
    assert result["stop_reason"] == "max_tokens" and result["final"] == partial
    assert result["diagnostics"] == [
        "truncated: output cut off inside message content",
        f"max_tokens: the completion was cut after {cut} tokens",
    ]


def test_commentary_answer_without_function_tools_is_the_final_answer(url: str, workdir: Path) -> None:
    done = run(url, workdir, "--json", "TASK-COMMENTARY")  # pattern 11: no function tools declared
    assert done.code == 0, done.stderr
    result = done.json()
    assert result["stop_reason"] == "final" and result["final"] == "It is 4." and result["turns"] == 1
    assert result["diagnostics"] == [
        "no_final_answer: no final answer and no tool call",
        "final_on_commentary: an answer ended on commentary; taken as final",
    ]


def test_no_final_answer_after_a_research_loop(url: str, workdir: Path) -> None:
    corpus = str(workdir / "corpus")
    done = run(
        url, workdir, "--function-tools", "weather_tools", "--tools", "browser", "--browser-corpus", corpus,
        "--max-turns", "4", "--json", "TASK-RESEARCH",
    )  # fmt: skip
    assert done.code == 1  # pattern 12: searched, called a tool, then only reasoned
    result = done.json()
    assert result["stop_reason"] == "max_turns" and result["final"] is None and result["turns"] == 4
    assert [call["recipient"] for call in result["tool_calls"]] == ["browser.search", "functions.get_weather"]
    no_final = "no_final: the completion held no final answer or tool call; sampling again"
    assert result["diagnostics"] == [
        "no_final_answer: no final answer and no tool call",
        no_final,
        "no_final_answer: no final answer and no tool call",
        no_final,
        "max_turns: no final answer after 4 model calls",
    ]
    assert done.stderr.strip().splitlines() == [
        "agentoss: no final answer: max_turns (no final answer after 4 model calls)"
    ]


def test_no_final_answer_within_max_turns(url: str, workdir: Path) -> None:
    done = run(url, workdir, "--function-tools", "weather_tools", "--max-turns", "2", "--json", "TASK-LOOP")
    assert done.code == 1
    result = done.json()
    assert result["stop_reason"] == "max_turns" and result["final"] is None and result["turns"] == 2
    assert done.stderr.strip().splitlines() == [
        "agentoss: no final answer: max_turns (no final answer after 2 model calls)"
    ]


def test_structured_output_is_retried_with_the_validation_error(url: str, workdir: Path) -> None:
    done = run(url, workdir, "--output-type", "weather_tools:Verdict", "--json", "TASK-STRUCT")
    assert done.code == 0, done.stderr
    result = done.json()
    assert result["final"] == '{"city": "Oslo", "score": 7}' and result["turns"] == 2
    assert any(d.startswith("output_invalid: score") for d in result["diagnostics"])


def test_approvals_ask_on_the_terminal(url: str, workdir: Path) -> None:
    done = run(
        url,
        workdir,
        "--function-tools",
        "weather_tools",
        "--approve",
        "--json",
        "TASK-APPROVE",
        stdin="y\nn\n",
    )
    assert done.code == 0, done.stderr
    assert done.stderr.count("Allow tool call to functions.get_weather? [y/N]") == 2
    calls = done.json()["tool_calls"]
    assert calls[0]["output"] == "Lima: 20 celsius"
    assert calls[1]["output"] == "Tool call denied: The user denied this tool call."


def test_task_from_stdin(url: str, workdir: Path) -> None:
    done = run(url, workdir, "--function-tools", "weather_tools", "--json", "-", stdin="TASK-FN please\n")
    assert done.code == 0 and done.json()["final"] == "Tokyo is warm, Oslo is cold."


def test_no_backend_prints_how_to_get_one(workdir: Path) -> None:
    for args in (("run", "hello"), ("run", "--from-make", "--", "hello")):
        done = agentoss(*args, cwd=workdir)
        assert done.code == 2
        assert done.stdout == ""
        for hint in (
            "AGENTOSS_BASE_URL",
            "serve-model",
            "ollama",
            "llama-server",
            "engine synth",
            "agentoss doctor",
        ):
            assert hint in done.stderr
        assert len(done.stderr.splitlines()) <= 24  # one screen


def test_from_make_uses_the_environment_and_python_by_default(url: str, workdir: Path) -> None:
    env = {"AGENTOSS_BASE_URL": url, "PYTHONPATH": str(workdir)}
    done = agentoss("run", "--from-make", "--json", "--", "TASK-MAKE", env=env, cwd=workdir)
    assert done.code == 0, done.stderr
    assert done.json()["final"] == "python is available"
    empty = agentoss("run", "--from-make", "--", "", env=env, cwd=workdir)
    assert empty.code == 2 and "task is empty" in empty.stderr


def test_transcript_and_replay(url: str, workdir: Path, tmp_path: Path) -> None:
    transcript = tmp_path / "run.jsonl"
    done = run(
        url,
        workdir,
        "--function-tools",
        "weather_tools",
        "--transcript",
        str(transcript),
        "--json",
        "TASK-FN",
    )
    assert done.code == 0
    shown = agentoss("replay", str(transcript), env={"COLUMNS": "120"})
    assert shown.code == 0, shown.stderr
    for text in (
        "TASK-FN",
        "tool call: functions.get_weather",
        "Tokyo: 20 celsius",
        "Tokyo is warm",
        "stop: final, 3 model calls",
    ):
        assert text in shown.stdout
    assert "Calling a tool." in shown.stdout
    assert "Calling a tool." not in agentoss("replay", "--hide-reasoning", str(transcript)).stdout


def test_chat_applies_the_history_policy_between_turns(url: str, workdir: Path) -> None:
    done = agentoss(
        "chat",
        "--base-url",
        url,
        stdin="TASK-CHAT-ONE\nTASK-CHAT-TWO\n/exit\n",
        env={"PYTHONPATH": str(workdir)},
    )
    assert done.code == 0, done.stderr
    assert "First answer." in done.stdout
    assert "Second answer, history ok." in done.stdout


def test_doctor_reports_each_check(url: str) -> None:
    done = agentoss("doctor", "--base-url", url, "--json")
    checks = {check["name"]: check for check in json.loads(done.stdout)}
    assert {"vocabulary", "harmony", "docker", "backend", "torch", "bubblewrap"} <= set(checks)
    assert checks["vocabulary"]["status"] == "ok" and checks["harmony"]["status"] == "ok"
    assert checks["backend"]["status"] == "ok" and "max_model_len 131072" in checks["backend"]["detail"]
    assert done.code == 0
    for check in checks.values():
        assert check["status"] == "ok" or check["fix"], check


async def test_doctor_names_the_fix_for_an_unreachable_backend() -> None:
    from agentoss.cli.doctor import _backend

    check = await _backend("http://127.0.0.1:9", None)
    assert check.status == "warn" and "does not answer" in check.detail and check.fix


def test_unreachable_backend_fails_with_one_line(workdir: Path) -> None:
    done = agentoss("run", "--base-url", "http://127.0.0.1:9", "--json", "hi", cwd=workdir)
    assert done.code == 1
    assert done.json()["stop_reason"] == "error"
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("agentoss: no final answer: error (BackendUnavailableError")
