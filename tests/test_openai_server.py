"""Tests for the local OpenAI-compatible test server, driven by real clients.

(a) plain urllib, (b) litellm.acompletion, (c) instructor over litellm.
litellm/instructor are imported lazily so collecting this module stays fast.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import socket
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
    # each asyncio.run() is a new loop; litellm's logging worker warns about that
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)
    return litellm


async def _acomplete(litellm, srv, messages=MESSAGES, **kw):
    return await litellm.acompletion(model="openai/test-judge", api_base=srv.base_url,
                                     api_key="sk-test", messages=messages, **kw)


def _verdict_model():
    from pydantic import BaseModel, Field

    class Verdict(BaseModel):
        rating: int = Field(ge=1, le=5)
        rationale: str

    return Verdict


# --------------------------------------------------------------------------- (a) urllib


def test_lifecycle_base_url_and_models():
    srv = OpenAIServer().start()
    keepalive = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    body = json.dumps({"model": "m", "messages": MESSAGES})
    try:
        assert srv.base_url.startswith("http://127.0.0.1:") and srv.base_url.endswith("/v1")
        keepalive.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        assert keepalive.getresponse().read() and srv.count == 1
        srv.reset_counts()
        with urllib.request.urlopen(srv.base_url + "/models", timeout=5) as resp:
            models = json.loads(resp.read())
        assert models["object"] == "list" and models["data"][0]["id"]
        assert srv.count == 0  # probes are not counted
    finally:
        srv.stop()
    srv.stop()  # idempotent
    # kept-alive connections are dropped by stop(): a stopped server answers nothing
    with pytest.raises((OSError, http.client.HTTPException)):
        keepalive.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        keepalive.getresponse()
    assert srv.count == 0
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
        with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):  # the client's 0.5 s timeout
            _post(srv.base_url + "/chat/completions",
                  {"model": "m", "messages": MESSAGES}, timeout=0.5)
        assert srv.outcomes == ["hang"] and srv.ok_count == 0
        # the next request is served normally, even while the hung one sleeps
        assert _chat(srv)[0] == 200
        thread = srv._thread
    # stop() woke the sleeping handler and joined the server thread (no 30 s wait; no clock asserted)
    assert srv._stop_event.is_set() and not thread.is_alive()


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
        with ThreadPoolExecutor(n) as pool:
            statuses = [r[0] for r in pool.map(lambda _: _chat(srv), range(n))]
        assert statuses == [200] * n
        assert srv.count == n and srv.ok_count == n
        assert srv.max_in_flight > n // 2  # counted at the server: requests really overlapped


# --------------------------------------------------------------------------- (b) litellm


def test_litellm_acompletion_content_and_concurrency():
    litellm = _litellm()
    rule = lambda text: 5 if "As a" in text else 1  # noqa: E731

    async def main(srv):
        resp = await litellm.acompletion(model="openai/test-judge", api_base=srv.base_url,
                                         api_key="sk-test", messages=MESSAGES)
        assert json.loads(resp.choices[0].message.content) == {"rating": 5, "rationale": "planted judge"}
        assert resp.usage.total_tokens > 0

        return await asyncio.gather(*[
            litellm.acompletion(model="openai/test-judge", api_base=srv.base_url, api_key="sk-test",
                                messages=[{"role": "user", "content": f"item {i}"}])
            for i in range(40)
        ])

    with OpenAIServer(judge_responder(rule), require_api_key="sk-test") as srv:
        resps = asyncio.run(main(srv))
        assert srv.requests[0]["model"] == "test-judge"  # litellm strips the "openai/" prefix
        assert srv.request_headers[0]["authorization"] == "Bearer sk-test"
        assert all(json.loads(r.choices[0].message.content)["rating"] == 1 for r in resps)

    with OpenAIServer(judge_responder(rule), latency=0.5) as srv:
        resps = asyncio.run(main(srv))
        assert len(resps) == 40 and srv.count == 41 and srv.ok_count == 41
        assert srv.max_in_flight >= 20  # counted at the server: not serialised


def test_litellm_retries_500_twice_by_default_and_max_retries_0_disables():
    litellm = _litellm()
    # default: the openai SDK inside litellm retries 5xx/429/timeouts 2 times -> 3 requests
    with OpenAIServer(faults_script=["500"] * 10, retry_after=0) as srv:
        with pytest.raises(litellm.InternalServerError):
            asyncio.run(_acomplete(litellm, srv))
        assert srv.count == 3 and srv.outcomes == ["500"] * 3
        assert [h["x-stainless-retry-count"] for h in srv.request_headers] == ["0", "1", "2"]
    for kw in ({"max_retries": 0}, {"num_retries": 0}):
        with OpenAIServer(faults_script=["500"] * 10) as srv:
            with pytest.raises(litellm.InternalServerError):
                asyncio.run(_acomplete(litellm, srv, **kw))
            assert srv.count == 1, kw
        with OpenAIServer(faults_script=["429"] * 10) as srv:
            with pytest.raises(litellm.RateLimitError):
                asyncio.run(_acomplete(litellm, srv, **kw))
            assert srv.count == 1, kw


def test_litellm_429_retry_honours_retry_after_then_succeeds(monkeypatch):
    import anyio

    litellm = _litellm()
    waits = []
    real = anyio.sleep

    async def recording_sleep(seconds, *a, **k):  # the openai SDK's retry sleeps through anyio.sleep
        waits.append(seconds)
        return await real(seconds, *a, **k)

    monkeypatch.setattr(anyio, "sleep", recording_sleep)
    with OpenAIServer(faults_script=["429", None], retry_after=1) as srv:
        resp = asyncio.run(_acomplete(litellm, srv))
        assert json.loads(resp.choices[0].message.content)["rating"] == 3
        assert srv.outcomes == ["429", "ok"]
    assert waits == [1.0]  # it asked to wait exactly Retry-After: 1


def test_litellm_hang_times_out():
    litellm = _litellm()
    with OpenAIServer(faults_script=["hang"], hang_seconds=30) as srv:
        with pytest.raises(litellm.Timeout):  # raised at the client's timeout, not after the 30 s hang
            asyncio.run(_acomplete(litellm, srv, timeout=0.5, num_retries=0))
        assert srv.count == 1 and srv.outcomes == ["hang"]


def test_litellm_malformed_and_out_of_range_pass_through_raw():
    litellm = _litellm()
    with OpenAIServer(faults_script=["malformed", "out_of_range"]) as srv:
        r1 = asyncio.run(_acomplete(litellm, srv))
        r2 = asyncio.run(_acomplete(litellm, srv))
        assert r1.choices[0].message.content == '{"rating": 4, "rationale": "unterminated'
        assert json.loads(r2.choices[0].message.content)["rating"] == 9


# --------------------------------------------------------------------------- (c) instructor


def _instructor_create(srv, mode, **kw):
    litellm = _litellm()
    instructor = pytest.importorskip("instructor")
    client = instructor.from_litellm(litellm.acompletion, mode=getattr(instructor.Mode, mode))
    if mode == "TOOLS":
        kw.setdefault("_skip_mcp_handler", True)  # else litellm: "No module named 'mcp'"
    return client.chat.completions.create(
        model="openai/test-judge", api_base=srv.base_url, api_key="sk-test",
        messages=kw.pop("messages", MESSAGES), response_model=_verdict_model(), **kw,
    )


@pytest.mark.parametrize("mode", ["JSON", "TOOLS", "JSON_SCHEMA"])
def test_instructor_modes_parse_verdict(mode):
    rule = lambda text: 5 if "As a teacher" in text else 1  # noqa: E731
    with OpenAIServer(judge_responder(rule, "because")) as srv:
        v = asyncio.run(_instructor_create(srv, mode))
        assert (v.rating, v.rationale) == (5, "because")
        req = srv.requests[0]
        assert srv.count == 1 and srv.outcomes == ["ok"]
    if mode == "TOOLS":
        assert req["tools"][0]["function"]["name"] == "Verdict"
        assert req["tool_choice"] == {"type": "function", "function": {"name": "Verdict"}}
    elif mode == "JSON":
        assert req["response_format"] == {"type": "json_object"}
    else:
        assert req["response_format"]["type"] == "json_schema"


def test_instructor_json_mode_system_prompt_contains_as_a():
    """Gotcha for planted judges: instructor's JSON-mode system prompt says 'As a genius expert'."""
    rule = lambda text: 5 if "As a" in text else 1  # noqa: E731
    plain = [{"role": "user", "content": "The answer is fine."}]
    with OpenAIServer(judge_responder(rule)) as srv:
        assert asyncio.run(_instructor_create(srv, "JSON", messages=plain)).rating == 5  # fooled
    with OpenAIServer(judge_responder(rule, roles=("user",))) as srv:
        assert asyncio.run(_instructor_create(srv, "JSON", messages=plain)).rating == 1


@pytest.mark.parametrize("mode", ["JSON", "TOOLS"])
def test_instructor_reasks_on_invalid_output(mode):
    InstructorRetryException = pytest.importorskip("instructor.core.exceptions").InstructorRetryException
    # instructor max_retries=N -> up to N+1 requests (validation re-asks; default N=3)
    with OpenAIServer(faults_script=["out_of_range", "malformed", None]) as srv:
        v = asyncio.run(_instructor_create(srv, mode, max_retries=2))
        assert v.rating == 3 and srv.outcomes == ["out_of_range", "malformed", "ok"]
    with OpenAIServer(faults_script=["out_of_range"] * 10) as srv:
        with pytest.raises(InstructorRetryException):
            asyncio.run(_instructor_create(srv, mode, max_retries=0))
        assert srv.count == 1


def test_instructor_http_retries_need_num_retries_not_max_retries():
    """instructor consumes max_retries itself; litellm's HTTP retries are controlled by num_retries."""
    InstructorRetryException = pytest.importorskip("instructor.core.exceptions").InstructorRetryException
    with OpenAIServer(faults_script=["500"] * 10, retry_after=0) as srv:
        with pytest.raises(InstructorRetryException):
            asyncio.run(_instructor_create(srv, "JSON", max_retries=0))
        assert srv.count == 3  # SDK still retried twice
    with OpenAIServer(faults_script=["500"] * 10) as srv:
        with pytest.raises(InstructorRetryException):
            asyncio.run(_instructor_create(srv, "JSON", max_retries=0, num_retries=0))
        assert srv.count == 1


@pytest.mark.parametrize("server_mode", ["json_schema", "json", "tools"])
@pytest.mark.parametrize("sent", ["JSON_SCHEMA", "JSON", "TOOLS"])
def test_server_accepts_only_the_request_shape_of_its_mode(server_mode, sent):
    """Instructor's three modes really send three shapes; a server checking one mode takes exactly
    that one and answers 400 "bad_shape" to the other two (so a broken mode mapping cannot pass)."""
    matches = {"json_schema": "JSON_SCHEMA", "json": "JSON", "tools": "TOOLS"}[server_mode] == sent
    with OpenAIServer(judge_responder(lambda text: 2), mode=server_mode) as srv:
        if matches:
            assert asyncio.run(_instructor_create(srv, sent, max_retries=0, num_retries=0)).rating == 2
            assert srv.outcomes == ["ok"] and srv.shape_errors == []
        else:
            with pytest.raises(Exception, match="request shape"):
                asyncio.run(_instructor_create(srv, sent, max_retries=0, num_retries=0))
            assert srv.outcomes == ["bad_shape"] and len(srv.shape_errors) == 1


SCHEMA = {"type": "object", "properties": {"rating": {"type": "integer"}}, "required": ["rating"]}


@pytest.mark.parametrize("request_body, mode, reason", [
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "V", "schema": {"type": "object"}}}},
     "json_schema", "not an object schema"),
    ({"response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}}}, "json_schema", "with a name"),
    ({"response_format": {"type": "json_object"}, "messages": [{"role": "user", "content": "rate it"}]},
     "json", "spell the output schema out"),
    ({"tools": [{"type": "function", "function": {"name": "V", "parameters": SCHEMA}}]}, "tools", "tool_choice"),
    ({"tools": [{"type": "function", "function": {"name": "V", "parameters": SCHEMA}}] * 2,
      "tool_choice": {"type": "function", "function": {"name": "V"}}}, "tools", "exactly one tool"),
    ({"messages": [{"role": "user", "content": "write an answer"}]}, "json_schema", "response_format.type"),
])
def test_shape_error_names_what_is_wrong(request_body, mode, reason):
    from openai_server import shape_error

    assert reason in shape_error(request_body, mode)


def test_free_text_requests_pass_only_with_allow_text():
    from openai_server import shape_error

    plain = {"messages": [{"role": "user", "content": "write an answer"}]}
    assert shape_error(plain, "tools", allow_text=True) is None
    assert shape_error(plain, "tools") is not None
