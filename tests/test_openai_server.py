"""Tests for the local OpenAI-compatible test server, driven by real clients.

(a) plain urllib, (b) litellm.acompletion, (c) instructor over litellm.
litellm/instructor are imported lazily so collecting this module stays fast.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from openai_server import OpenAIServer, judge_responder, prompt_text

MESSAGES = [
    {"role": "system", "content": "You are a strict judge. Rate 1-5."},
    {"role": "user", "content": "As a teacher, I think the answer is fine."},
]


# --------------------------------------------------------------------------- helpers


def _post(url, body, headers=None, timeout=10):
    """POST JSON; returns (status, headers, parsed_json_body)."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def _chat(srv, **extra):
    return _post(srv.base_url + "/chat/completions", {"model": "test-judge", "messages": MESSAGES, **extra})


def _litellm():
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    litellm = pytest.importorskip("litellm")
    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


def _verdict_model():
    from pydantic import BaseModel, Field

    class Verdict(BaseModel):
        rating: int = Field(ge=1, le=5)
        rationale: str

    return Verdict


# --------------------------------------------------------------------------- (a) urllib


def test_lifecycle_base_url_and_models():
    srv = OpenAIServer().start()
    try:
        assert srv.base_url.startswith("http://127.0.0.1:") and srv.base_url.endswith("/v1")
        with urllib.request.urlopen(srv.base_url + "/models", timeout=5) as resp:
            models = json.loads(resp.read())
        assert models["object"] == "list" and models["data"][0]["id"]
        assert srv.count == 0  # probes are not counted
    finally:
        srv.stop()
    srv.stop()  # idempotent
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()


def test_default_response_shape_and_counts():
    with OpenAIServer() as srv:
        status, headers, body = _chat(srv)
        assert status == 200
        assert body["object"] == "chat.completion"
        assert body["model"] == "test-judge"
        assert body["id"] and isinstance(body["created"], int)
        choice = body["choices"][0]
        assert choice["finish_reason"] == "stop"
        assert json.loads(choice["message"]["content"]) == {"rating": 3, "rationale": "default"}
        u = body["usage"]
        assert u["prompt_tokens"] == len(prompt_text({"messages": MESSAGES})) // 4 + 1
        assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
        # path without /v1 also works
        status, _, _ = _post(f"http://127.0.0.1:{srv.port}/chat/completions",
                             {"model": "m", "messages": MESSAGES})
        assert status == 200
        assert srv.count == 2 and srv.ok_count == 2 and srv.outcomes == ["ok", "ok"]
        assert srv.requests[0]["messages"] == MESSAGES
        srv.reset_counts()
        assert (srv.count, srv.ok_count, srv.outcomes, srv.requests) == (0, 0, [], [])


def test_fault_script_429_500_malformed_out_of_range():
    script = ["429", "500", None, "malformed", "out_of_range"]
    with OpenAIServer(faults_script=script, retry_after=7) as srv:
        results = [_chat(srv) for _ in range(len(script) + 1)]

        status, headers, body = results[0]
        assert status == 429
        assert headers["Retry-After"] == "7"
        assert body["error"]["code"] == "rate_limit_exceeded" and body["error"]["message"]

        status, _, body = results[1]
        assert status == 500 and body["error"]["type"] == "server_error"

        status, _, body = results[2]
        assert status == 200
        assert json.loads(body["choices"][0]["message"]["content"])["rating"] == 3

        status, _, body = results[3]
        assert status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(body["choices"][0]["message"]["content"])

        status, _, body = results[4]
        assert status == 200
        assert json.loads(body["choices"][0]["message"]["content"])["rating"] == 9

        assert results[5][0] == 200  # script exhausted, no rates -> normal

        assert srv.count == 6
        assert len(srv.requests) == 6
        assert srv.outcomes == ["429", "500", "ok", "malformed", "out_of_range", "ok"]
        assert srv.ok_count == 2


def test_fault_rates_are_seeded_and_deterministic():
    faults = {"429": 0.2, "500": 0.2, "malformed": 0.2, "out_of_range": 0.2}

    def run(seed):
        with OpenAIServer(faults=faults, seed=seed) as srv:
            for _ in range(40):
                _chat(srv)
            return srv.outcomes

    a, b = run(1), run(1)
    assert a == b
    assert {"429", "500", "malformed", "out_of_range", "ok"} <= set(a)
    assert run(2) != a
    with pytest.raises(ValueError):
        OpenAIServer(faults={"nope": 1.0})


def test_hang_makes_client_time_out_and_stop_releases_it():
    with OpenAIServer(faults_script=["hang"], hang_seconds=30) as srv:
        t0 = time.monotonic()
        with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
            _post(srv.base_url + "/chat/completions",
                  {"model": "m", "messages": MESSAGES}, timeout=0.5)
        assert time.monotonic() - t0 < 5
        assert srv.outcomes == ["hang"] and srv.ok_count == 0
        # the next request is served normally, even while the hung one sleeps
        assert _chat(srv)[0] == 200
    # stop() returned promptly despite the 30 s hang
    assert time.monotonic() - t0 < 10


def test_hang_answers_normally_after_hang_seconds():
    with OpenAIServer(faults_script=["hang"], hang_seconds=0.2) as srv:
        status, _, body = _chat(srv)
        assert status == 200 and json.loads(body["choices"][0]["message"]["content"])["rating"] == 3
        assert srv.outcomes == ["hang"] and srv.ok_count == 0


def test_tools_request_returns_tool_call():
    tool = {"type": "function", "function": {"name": "Verdict", "parameters": {"type": "object"}}}
    other = {"type": "function", "function": {"name": "Other", "parameters": {"type": "object"}}}
    with OpenAIServer(judge_responder(lambda t: 5)) as srv:
        status, _, body = _chat(srv, tools=[tool])
        assert status == 200
        choice = body["choices"][0]
        assert choice["finish_reason"] == "tool_calls"
        msg = choice["message"]
        assert msg["content"] is None
        call = msg["tool_calls"][0]
        assert call["type"] == "function" and call["id"].startswith("call_")
        assert call["function"]["name"] == "Verdict"
        assert json.loads(call["function"]["arguments"])["rating"] == 5
        # tool_choice names the function
        _, _, body = _chat(srv, tools=[tool, other],
                           tool_choice={"type": "function", "function": {"name": "Other"}})
        assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "Other"


def test_judge_responder_sees_all_message_text_and_dict_responder():
    rule = lambda text: 4 if "As a" in text else 2  # noqa: E731
    with OpenAIServer(judge_responder(rule)) as srv:
        _, _, body = _chat(srv)
        assert json.loads(body["choices"][0]["message"]["content"])["rating"] == 4
        _, _, body = _post(srv.base_url + "/chat/completions",
                           {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "plain"}]}]})
        assert json.loads(body["choices"][0]["message"]["content"])["rating"] == 2
    with OpenAIServer(lambda req: {"rating": 1, "rationale": req["model"]}) as srv:
        _, _, body = _chat(srv)
        assert json.loads(body["choices"][0]["message"]["content"]) == {"rating": 1, "rationale": "test-judge"}


def test_api_key_stream_and_bad_json():
    with OpenAIServer(require_api_key="sk-secret") as srv:
        status, _, body = _chat(srv)
        assert status == 401 and body["error"]["code"] == "invalid_api_key"
        status, _, _ = _post(srv.url, {"model": "m", "messages": MESSAGES},
                             headers={"Authorization": "Bearer sk-secret"})
        assert status == 200
        status, _, body = _post(srv.url, {"model": "m", "messages": MESSAGES, "stream": True},
                                headers={"Authorization": "Bearer sk-secret"})
        assert status == 400 and "stream" in body["error"]["message"]
        req = urllib.request.Request(srv.url, data=b"{not json", method="POST")
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(req, timeout=5)
        assert ei.value.code == 400
        assert srv.outcomes == ["401", "ok", "400", "400"] and srv.ok_count == 1
        assert srv.count == 4 and len(srv.requests) == 3  # unparseable body not in requests


def test_callable_latency_and_concurrency_urllib():
    n, lat = 64, 0.5
    with OpenAIServer(latency=lambda req: lat) as srv:
        t0 = time.monotonic()
        with ThreadPoolExecutor(n) as pool:
            statuses = [r[0] for r in pool.map(lambda _: _chat(srv), range(n))]
        elapsed = time.monotonic() - t0
        assert statuses == [200] * n
        assert srv.count == n and srv.ok_count == n
        assert elapsed < 5, elapsed  # serialised would be 32 s
        assert srv.max_in_flight > n // 2


# --------------------------------------------------------------------------- (b) litellm


def test_litellm_acompletion_content_and_concurrency():
    litellm = _litellm()
    rule = lambda text: 5 if "As a" in text else 1  # noqa: E731

    async def main(srv):
        resp = await litellm.acompletion(model="openai/test-judge", api_base=srv.base_url,
                                         api_key="sk-test", messages=MESSAGES)
        assert json.loads(resp.choices[0].message.content) == {"rating": 5, "rationale": "planted judge"}
        assert resp.usage.total_tokens > 0

        t0 = time.monotonic()
        resps = await asyncio.gather(*[
            litellm.acompletion(model="openai/test-judge", api_base=srv.base_url, api_key="sk-test",
                                messages=[{"role": "user", "content": f"item {i}"}])
            for i in range(40)
        ])
        return resps, time.monotonic() - t0

    with OpenAIServer(judge_responder(rule), require_api_key="sk-test") as srv:
        resps, _ = asyncio.run(main(srv))
        assert srv.requests[0]["model"] == "test-judge"  # litellm strips the "openai/" prefix
        assert srv.request_headers[0]["authorization"] == "Bearer sk-test"
        assert all(json.loads(r.choices[0].message.content)["rating"] == 1 for r in resps)

    with OpenAIServer(judge_responder(rule), latency=0.5) as srv:
        resps, elapsed = asyncio.run(main(srv))
        assert len(resps) == 40 and srv.count == 41 and srv.ok_count == 41
        assert elapsed < 5, f"40 calls x 0.5 s took {elapsed:.1f}s -- serialised?"
