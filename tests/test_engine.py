"""Unit tests of the engine's pieces: Retry-After parsing, classification, backoff, plan, cache
keys, progress display, cost summaries. No provider is called here (see test_engine_server.py)."""

from __future__ import annotations

import email.utils
import io
import random
import time

import httpx
import pytest

from audit.engine import judge
from audit.engine import provider
from audit.engine.cache import ResultCache
from audit.engine.config import JudgeSpec
from audit.render.terminal import cost_line, format_plan
from audit.stats.cost import cost_summary
from audit.audits.judging import JudgePlan
from audit.data.judgments import GENERIC_FIRST, PERSONALIZED_FIRST, Judgment
from audit.engine.judge import CallResult, Engine, backoff
from audit.engine.schemas import Verdict
from audit.audits.judging import plan_calls
from audit.engine.config import with_temperature
from audit.engine.provider import Attempt, classify, retry_after
from audit.data.items import load_items
from audit.render.progress import Progress
from audit.audits.preference import bundled_example


@pytest.fixture(scope="module")
def lm():
    return provider.litellm_module()


def _resp(status: int, headers: dict) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("POST", "http://127.0.0.1/v1/chat/completions"))


# --- Retry-After --------------------------------------------------------------------------------


def test_retry_after_seconds_ms_and_http_date():
    assert provider._parse_retry_after({"retry-after": "7"}) == 7.0
    assert provider._parse_retry_after({"retry-after": "2.5"}) == 2.5
    assert provider._parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5  # ms is more precise
    when = email.utils.format_datetime(email.utils.localtime().fromtimestamp(time.time() + 30), usegmt=False)
    got = provider._parse_retry_after({"retry-after": when})
    assert 25 <= got <= 31
    assert provider._parse_retry_after({"retry-after": "soon"}) is None
    assert provider._parse_retry_after({}) is None and provider._parse_retry_after(None) is None
    assert provider._parse_retry_after({"retry-after": "-3"}) == 0.0


def test_retry_after_found_where_litellm_keeps_it(lm):
    """litellm 1.106: the headers are in litellm_response_headers; exc.response is synthetic and empty."""
    exc = lm.RateLimitError("slow down", llm_provider="openai", model="openai/x", response=_resp(429, {}))
    assert retry_after(exc) is None
    exc.litellm_response_headers = httpx.Headers({"retry-after": "4"})
    assert retry_after(exc) == 4.0
    # further down the chain (the openai SDK error / httpx error), inside instructor's wrapper
    inner = lm.RateLimitError("slow down", llm_provider="openai", model="openai/x", response=_resp(429, {}))
    try:
        try:
            raise httpx.HTTPStatusError("429", request=httpx.Request("POST", "http://x"), response=_resp(429, {"Retry-After": "6"}))
        except httpx.HTTPStatusError as low:
            raise inner from low
    except Exception as e:  # noqa: BLE001
        chained = e
    assert retry_after(RuntimeError("wrapper").with_traceback(None)) is None
    wrapper = RuntimeError("instructor gave up")
    wrapper.__cause__ = chained
    assert retry_after(wrapper) == 6.0


# --- classification --------------------------------------------------------------------------


@pytest.mark.parametrize("name,status,kind", [
    ("RateLimitError", 429, "retry"), ("InternalServerError", 500, "retry"), ("ServiceUnavailableError", 503, "retry"),
    ("BadGatewayError", 502, "retry"), ("AuthenticationError", 401, "fatal"), ("PermissionDeniedError", 403, "fatal"),
    ("NotFoundError", 404, "fatal"), ("BadRequestError", 400, "rejected"), ("ContextWindowExceededError", 400, "rejected"),
])
def test_classify_provider_errors(lm, name, status, kind):
    cls = getattr(lm, name)
    exc = cls(message="x", llm_provider="openai", model="openai/x", response=_resp(status, {}))
    assert classify(exc) == kind
    wrapper = RuntimeError("instructor gave up")  # instructor wraps the provider error
    wrapper.__cause__ = exc
    assert classify(wrapper) == kind


def test_classify_timeouts_connection_and_invalid_output(lm):
    assert classify(lm.Timeout(message="t", model="openai/x", llm_provider="openai")) == "retry"
    assert classify(lm.APIConnectionError(message="c", llm_provider="openai", model="openai/x")) == "retry"
    assert classify(ConnectionResetError()) == "retry"
    from pydantic import ValidationError

    try:
        Verdict(rating=9, rationale="x")
    except ValidationError as exc:
        wrapper = RuntimeError("instructor gave up")
        wrapper.__cause__ = exc
        assert classify(wrapper) == "invalid"


def test_backoff_is_exponential_with_full_jitter_and_capped():
    rng = random.Random(1)
    for attempt in range(12):
        cap = min(judge.BACKOFF_CAP_S, judge.BACKOFF_BASE_S * 2**attempt)
        waits = [backoff(attempt, rng) for _ in range(200)]
        assert all(0 <= w <= cap for w in waits)
        assert max(waits) > 0.8 * cap  # full jitter spans the range
    assert backoff(30, rng) <= judge.BACKOFF_CAP_S


# --- plan and cache keys ----------------------------------------------------------------------


def test_plan_calls_orders_and_samples():
    items = list(load_items(bundled_example()).items)[:10]
    one = plan_calls(items, samples=1, both_orders=False, seed=0)
    assert len(one) == 10
    assert {o for _, o, _ in one} == {GENERIC_FIRST, PERSONALIZED_FIRST}  # random order, seeded
    assert plan_calls(items, samples=1, both_orders=False, seed=0) == one
    both = plan_calls(items, samples=3, both_orders=True, seed=0)
    assert len(both) == 10 * 3 * 2
    for item in items:
        mine = [(o, s) for it, o, s in both if it.id == item.id]
        assert sorted(mine) == sorted((o, s) for o in (GENERIC_FIRST, PERSONALIZED_FIRST) for s in range(3))


def test_cache_key_changes_with_what_changes_the_answer_only(tmp_path):
    spec = JudgeSpec(name="j", model="openai/x", api_base="http://h/v1", params={"temperature": 0.0})
    msgs = [{"role": "user", "content": "hi"}]
    eng = Engine(ResultCache(tmp_path / "c"))
    k = eng.key_for(spec, msgs, Verdict, order=GENERIC_FIRST, sample=0)
    same = JudgeSpec(name="other-name", model="openai/x", api_base="http://h/v1", params={"temperature": 0.0},
                     concurrency=99, max_retries=0, timeout=1, rpm=5)
    assert eng.key_for(same, msgs, Verdict, order=GENERIC_FIRST, sample=0) == k
    assert eng.key_for(with_temperature(spec, 0.7), msgs, Verdict, order=GENERIC_FIRST, sample=0) != k
    assert eng.key_for(spec, msgs, Verdict, order=PERSONALIZED_FIRST, sample=0) != k
    assert eng.key_for(spec, msgs, Verdict, order=GENERIC_FIRST, sample=1) != k
    assert eng.key_for(spec, msgs, None, order=GENERIC_FIRST, sample=0) != k
    assert with_temperature(spec, None) is spec


# A key computed before the keys were assembled from pre-serialised parts (audit.engine.cache.cache_key_of_json):
# if this changes, every result users have paid for is silently orphaned in their caches.
PINNED_KEY = "0883b6df438371b7fb1a91c562ac991d066943b81d312e4655b4f28af3c4a803"
PINNED_MESSAGES = [{"role": "system", "content": "Jüdge « this » \u2028 ok"},
                   {"role": "user", "content": "A\nB \"q\" </script>"}]


def test_cache_key_is_pinned_and_the_same_on_every_path(tmp_path):
    import hashlib
    import json

    from audit.engine.cache import cache_key
    from audit.engine.schemas import schema_of

    parts = dict(model="openai/gpt-x", api_base=None, params={"temperature": 0.0, "max_tokens": 300}, mode="json",
                 messages=PINNED_MESSAGES, schema=schema_of(Verdict), order="personalized_first", sample=0)
    assert cache_key(**parts) == PINNED_KEY
    # the definition: SHA-256 of the canonical JSON of everything, in one json.dumps
    blob = json.dumps({"v": 1, **parts}, sort_keys=True, separators=(",", ":"), default=str)
    assert hashlib.sha256(blob.encode()).hexdigest() == PINNED_KEY
    spec = JudgeSpec(name="j", model="openai/gpt-x", params={"temperature": 0.0, "max_tokens": 300}, mode="json")
    eng = Engine(ResultCache(tmp_path / "c"))
    memo: dict = {}
    for _ in range(2):  # second pass served from the memo
        assert eng.key_for(spec, PINNED_MESSAGES, Verdict, order="personalized_first", sample=0, memo=memo) == PINNED_KEY
    assert eng.key_for(spec, PINNED_MESSAGES, Verdict, order="personalized_first", sample=0) == PINNED_KEY
    # the memo is by list object: an equal-looking new list with other content gets its own JSON
    other = [dict(PINNED_MESSAGES[0]), {"role": "user", "content": "different"}]
    assert eng.key_for(spec, other, Verdict, order="personalized_first", sample=0, memo=memo) != PINNED_KEY


@pytest.mark.parametrize("value", ["a", "Jüdge « \u2028 \n\"", "", None, 0, -5, 10**30, True, False, 1.5, [1, "x"],
                                   {"b": 1, "a": [None]}, ("t",), b"x", float("inf")])
def test_canonical_json_fast_paths_equal_json_dumps(value):
    import json

    from audit.engine.cache import canonical_json

    assert canonical_json(value) == json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def test_verdict_schema_is_cached_but_not_shared():
    a = Verdict.model_json_schema()
    a["properties"]["rating"]["maximum"] = 99
    b = Verdict.model_json_schema()
    assert b["properties"]["rating"]["maximum"] == 5


def test_memo_by_model_calls_once_per_model():
    calls = []

    def prep(model):
        calls.append(model)
        return (model, len(calls))

    fast = provider._memo_by_model(prep)
    assert fast(int) == fast(int) == (int, 1)
    assert fast(str) == (str, 2)
    assert fast([1]) == ([1], 3) and fast([1]) == ([1], 4)  # unhashable: computed each time


def test_cache_get_many_set_stats_select_delete(tmp_path):
    cache = ResultCache(tmp_path / "c")
    now = time.time()
    cache.set("a", {"value": {"rating": 1}, "model": "m1", "tokens_in": 10, "tokens_out": 2, "cost_usd": 0.5, "at": now})
    cache.set("b", {"value": {"rating": 2}, "model": "m1", "tokens_in": 5, "tokens_out": 1, "cost_usd": None, "at": now - 86400 * 10})
    cache.set("c", {"value": {"rating": 3}, "model": "m2", "tokens_in": 1, "tokens_out": 1, "cost_usd": 0.25, "at": now})
    assert set(cache.get_many(["a", "b", "zz"])) == {"a", "b"}
    st = cache.stats()
    assert st.entries == 3 and st.models["m1"].entries == 2 and st.models["m1"].tokens_in == 15
    assert st.models["m1"].cost_usd is None and st.models["m1"].unpriced == 1  # unknown is not 0
    assert st.models["m2"].cost_usd == 0.25
    assert sorted(cache.select(model="m1")) == ["a", "b"]
    assert cache.select(older_than_s=86400 * 5) == ["b"]
    assert cache.delete(["b", "nope"]) == 1
    assert set(cache.get_many(["a", "b", "c"])) == {"a", "c"}
    disabled = ResultCache(tmp_path / "c", enabled=False)
    assert disabled.get_many(["a"]) == {} and disabled.get("a") is None


# --- progress ---------------------------------------------------------------------------------


class _Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_progress_plain_lines_when_not_a_terminal():
    out, clock = io.StringIO(), _Clock()
    p = Progress(out, tty=False, clock=clock)
    p.expect("gpt", 100)
    for i in range(100):
        clock.t += 0.5
        p("gpt", CallResult({"rating": 1} if i % 10 else None, False, 1.0))
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert 5 <= len(lines) <= 11  # one per 10% step (at most one per 2 s) plus the final line
    assert lines[-1].startswith("gpt: 100/100 (100%)") and "10 failed" in lines[-1] and "done in" in lines[-1]
    assert "/s" in lines[0] and "ETA" in lines[0]


def test_progress_instant_cached_pass_prints_one_line():
    out, clock = io.StringIO(), _Clock()
    p = Progress(out, tty=False, clock=clock)
    p.expect("gpt", 1000)
    for _ in range(1000):
        p("gpt", CallResult({"rating": 1}, True, 1.0))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("gpt: 1000/1000 (100%), 1000 cached, 0 failed, done in")


def test_progress_terminal_redraws_in_place():
    out, clock = io.StringIO(), _Clock()
    p = Progress(out, tty=True, clock=clock, min_interval=0.2)
    p.expect("a", 4)
    p.expect("b", 2)
    for judge_name in ("a", "b", "a", "a", "b", "a"):
        clock.t += 1.0
        p(judge_name, CallResult({"rating": 1}, False, 1.0))
    p.finish()
    text = out.getvalue()
    assert "\x1b[2F" in text  # back up over the two judge lines
    last = text.rsplit("\x1b[2F", 1)[1]
    assert "a: 4/4 (100%)" in last and "b: 2/2 (100%)" in last


# --- cost ----------------------------------------------------------------------------------


def _row(status="ok", cached=False, cost=0.01, lat=1.0, tin=100, tout=10):
    return Judgment("i", "j", "m", GENERIC_FIRST, 0, 3.0 if status == "ok" else None, 3 if status == "ok" else None,
                    None, status, cached, lat if status == "ok" else None, tin if status == "ok" else None,
                    tout if status == "ok" else None, cost if status == "ok" else None, None if status == "ok" else "x")


def test_cost_summary_counts_and_unknown_price_is_null():
    rows = [_row(lat=x) for x in (1.0, 2.0, 3.0, 4.0)] + [_row(cached=True, lat=5.0), _row("failed")]
    c = cost_summary(rows)
    assert (c["calls"], c["cached"], c["failures"], c["paid_this_run"]) == (6, 1, 1, 4)
    assert (c["tokens_in"], c["tokens_out"]) == (500, 50)
    assert c["latency_p50"] == 3.0  # numpy linear percentile of 1..5
    assert c["latency_p95"] == pytest.approx(4.8)
    assert c["cost_usd"] == pytest.approx(0.05) and c["cost_usd_this_run"] == pytest.approx(0.04)
    unknown = cost_summary([_row(), _row(cost=None)])
    assert unknown["cost_usd"] is None and "unknown" in unknown["cost_note"]
    assert "unknown" in cost_line(unknown)
    assert cost_summary([]) is None


def test_format_plan_unknown_price_is_unknown_not_zero():
    plans = [JudgePlan("a", "openai/gpt-4o", 10, 4, 6, 6000.0, 360.0, 0.0123, "ok"),
             JudgePlan("b", "openai/nope", 10, 0, 10, 9000.0, 600.0, None, "judge 'b' needs an API key: set X")]
    text = format_plan(plans)
    assert "$0.0123" in text and "unknown" in text and "total estimated cost: unknown" in text
    assert "not ready: judge 'b' needs an API key" in text


def test_attempt_and_call_result_are_picklable():
    import pickle

    a = Attempt("retry", retry_after=2.0, error="RateLimitError: x")
    assert pickle.loads(pickle.dumps(a)) == a
    spec = JudgeSpec(name="j", model="openai/x", params={"temperature": 0.0})
    assert pickle.loads(pickle.dumps((spec, Verdict))) == (spec, Verdict)



def test_default_workers(monkeypatch):
    monkeypatch.delenv("JUDGE_AUDIT_WORKERS", raising=False)
    assert judge.default_workers(judge.POOL_MIN_CALLS - 1, 32) == 0  # small runs stay in-process
    assert judge.default_workers(1000, 32) == 4 and judge.default_workers(1000, 8) == 1
    assert judge.default_workers(1000, 500) == judge.MAX_WORKERS
    monkeypatch.setenv("JUDGE_AUDIT_WORKERS", "0")
    assert judge.default_workers(10**6, 32) == 0
    monkeypatch.setenv("JUDGE_AUDIT_WORKERS", "3")
    assert judge.default_workers(1, 1) == 3
