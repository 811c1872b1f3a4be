"""The fake vLLM server's wire protocol, checked with a plain HTTP client over loopback."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentoss.harmony.encoding import encode_special
from agentoss.testing import FakeVLLMServer

CALL = (
    "<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>commentary "
    'to=functions.f <|constrain|>json<|message|>{"a":1}<|call|>'
)
FINAL = "<|channel|>final<|message|>done<|return|>"
PROMPT = encode_special("<|start|>user<|message|>hello<|end|><|start|>assistant")


async def sse(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> list[Any]:
    events: list[Any] = []
    async with client.stream("POST", url, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = (await response.aread()).decode()
    assert raw.endswith("data: [DONE]\n\n")
    for block in raw.split("\n\n"):
        if block:
            assert block.startswith("data: ")
            payload = block[6:]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


async def test_non_streaming_shape_token_ids_and_stop_reason() -> None:
    async with FakeVLLMServer([CALL]) as server, httpx.AsyncClient() as client:
        body = {"prompt": PROMPT, "max_tokens": 100, "return_token_ids": True}
        reply = (await client.post(server.base_url + "/v1/completions", json=body)).json()
    assert reply["object"] == "text_completion" and reply["id"].startswith("cmpl-")
    choice = reply["choices"][0]
    assert choice["token_ids"] == encode_special(CALL)
    assert choice["prompt_token_ids"] == PROMPT
    assert choice["finish_reason"] == "stop" and choice["stop_reason"] == 200012
    # skip_special_tokens defaults to true: control tokens vanish from text.
    assert choice["text"] == 'analysisthinkassistantcommentary to=functions.f json{"a":1}'
    assert reply["usage"] == {
        "prompt_tokens": len(PROMPT),
        "total_tokens": len(PROMPT) + len(encode_special(CALL)),
        "completion_tokens": len(encode_special(CALL)),
        "prompt_tokens_details": None,
    }


async def test_eos_return_has_null_stop_reason_and_text_excludes_stop_unless_asked() -> None:
    async with FakeVLLMServer([FINAL, FINAL]) as server, httpx.AsyncClient() as client:
        url = server.base_url + "/v1/completions"
        base = {"prompt": PROMPT, "max_tokens": 50, "skip_special_tokens": False}
        first = (await client.post(url, json=base)).json()["choices"][0]
        second = (await client.post(url, json={**base, "include_stop_str_in_output": True})).json()[
            "choices"
        ][0]
    assert first["stop_reason"] is None and first["finish_reason"] == "stop"
    assert first["text"] == "<|channel|>final<|message|>done"
    assert second["text"] == "<|channel|>final<|message|>done<|return|>"
    assert "token_ids" not in first


async def test_max_tokens_defaults_to_16_and_length_has_null_stop_reason() -> None:
    long_reply = "<|channel|>final<|message|>" + " word" * 40 + "<|return|>"
    async with FakeVLLMServer([long_reply]) as server, httpx.AsyncClient() as client:
        body = {"prompt": PROMPT, "return_token_ids": True}
        choice = (await client.post(server.base_url + "/v1/completions", json=body)).json()["choices"][0]
    assert len(choice["token_ids"]) == 16
    assert choice["finish_reason"] == "length" and choice["stop_reason"] is None


async def test_streaming_multi_token_chunks_usage_chunk_and_done() -> None:
    async with FakeVLLMServer([CALL], chunk_tokens=(1, 3)) as server, httpx.AsyncClient() as client:
        body = {
            "prompt": PROMPT,
            "max_tokens": 100,
            "stream": True,
            "stream_options": {"include_usage": True},
            "return_token_ids": True,
            "skip_special_tokens": False,
        }
        events = await sse(client, server.base_url + "/v1/completions", body)
    assert events[-1] == "[DONE]"
    usage = events[-2]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == len(encode_special(CALL))
    chunks = [e["choices"][0] for e in events[:-2]]
    assert "prompt_token_ids" in chunks[0] and all("prompt_token_ids" not in c for c in chunks[1:])
    assert {len(c["token_ids"]) for c in chunks} == {1, 3}
    assert [t for c in chunks for t in c["token_ids"]] == encode_special(CALL)
    assert [c["finish_reason"] for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1]["finish_reason"] == "stop" and chunks[-1]["stop_reason"] == 200012
    assert "".join(c["text"] for c in chunks) == CALL.removesuffix("<|call|>")


async def test_profile_0_10_1_ignores_return_token_ids_but_gives_logprob_ids() -> None:
    async with FakeVLLMServer([CALL], profile="0.10.1") as server, httpx.AsyncClient() as client:
        body = {
            "prompt": PROMPT,
            "max_tokens": 100,
            "return_token_ids": True,
            "logprobs": 0,
            "return_tokens_as_token_ids": True,
        }
        choice = (await client.post(server.base_url + "/v1/completions", json=body)).json()["choices"][0]
        version = (await client.get(server.base_url + "/version")).json()
    assert "token_ids" not in choice and "prompt_token_ids" not in choice
    assert choice["logprobs"]["tokens"] == [f"token_id:{t}" for t in encode_special(CALL)]
    assert version == {"version": "0.10.1"}


@pytest.mark.parametrize(("profile", "status"), [("0.10.2", 400), ("0.33", 200)])
async def test_context_overflow_rejected_in_0_10_and_clamped_in_0_33(profile: str, status: int) -> None:
    async with FakeVLLMServer([FINAL], profile=profile, max_model_len=20) as server, httpx.AsyncClient() as c:
        body = {"prompt": PROMPT, "max_tokens": 100, "return_token_ids": True}
        response = await c.post(server.base_url + "/v1/completions", json=body)
    assert response.status_code == status
    if status == 400:
        assert "maximum context length is 20 tokens" in response.json()["message"]
    else:
        assert response.json()["usage"]["completion_tokens"] <= 20 - len(PROMPT)


async def test_errors_api_key_and_stream_options_without_stream() -> None:
    async with FakeVLLMServer([FINAL], api_key="sekret", profile="0.33") as server, httpx.AsyncClient() as c:
        url = server.base_url + "/v1/completions"
        assert (await c.post(url, json={"prompt": PROMPT})).status_code == 401
        auth = {"Authorization": "Bearer sekret"}
        bad = await c.post(url, json={"prompt": PROMPT, "stream_options": {}}, headers=auth)
        assert bad.status_code == 400 and "stream=True" in bad.json()["error"]["message"]
        assert (await c.post(url, json={"prompt": PROMPT}, headers=auth)).status_code == 200


async def test_models_health_tokenize_detokenize() -> None:
    async with FakeVLLMServer(max_model_len=4096) as server, httpx.AsyncClient() as client:
        base = server.base_url
        health = await client.get(base + "/health")
        models = (await client.get(base + "/v1/models")).json()
        tokens = (await client.post(base + "/tokenize", json={"prompt": "<|start|>user"})).json()
        text = (await client.post(base + "/detokenize", json={"tokens": tokens["tokens"]})).json()
    assert health.status_code == 200 and health.content == b""
    assert models["data"][0]["id"] == "openai/gpt-oss-20b" and models["data"][0]["max_model_len"] == 4096
    assert tokens["tokens"][0] == 200006 and tokens["count"] == 2 and tokens["max_model_len"] == 4096
    assert text == {"prompt": "<|start|>user"}


async def test_minimal_chat_completions_maps_reasoning_and_tool_calls() -> None:
    async with FakeVLLMServer([CALL, FINAL]) as server, httpx.AsyncClient() as client:
        url = server.base_url + "/v1/chat/completions"
        first = (await client.post(url, json={"messages": [{"role": "user", "content": "hi"}]})).json()
        message = first["choices"][0]["message"]
        assert message["reasoning_content"] == "think"
        assert message["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
        assert first["choices"][0]["finish_reason"] == "tool_calls"
        history = [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": message["tool_calls"]},
            {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "42"},
        ]
        second = (await client.post(url, json={"messages": history})).json()
    assert second["choices"][0]["message"]["content"] == "done"


async def test_python_dash_m_prints_ready_and_serves(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"reply": FINAL}]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agentoss.testing.fake_vllm",
        "--port",
        "0",
        "--script",
        str(script),
        "--profile",
        "0.33",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert line.startswith("READY http://127.0.0.1:")
        base = line.split()[1]
        async with httpx.AsyncClient() as client:
            body = {"prompt": PROMPT, "max_tokens": 50, "return_token_ids": True}
            reply = (await client.post(base + "/v1/completions", json=body)).json()
            version = (await client.get(base + "/version")).json()
        assert reply["choices"][0]["token_ids"] == encode_special(FINAL)
        assert version == {"version": "0.33.0"}
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 30) == 0
