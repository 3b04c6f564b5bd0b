"""The engine against the real loopback server (tests/openai_server.py): concurrency limits,
requests/min, one retry layer, Retry-After, timeouts, re-asks, deduplication, isolation between
judges -- in-process and with worker processes. Everything is proved by counting at the server.

The items are SYNTHETIC TEST DATA (generated here), not from people or any model.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import pytest

from audit.data.judgments import GENERIC_FIRST, PERSONALIZED_FIRST
from audit.engine import judge
from audit.engine import provider
from audit.engine.cache import ResultCache
from audit.engine.config import JudgeSpec
from audit.errors import JudgeUnavailable
from audit.engine.judge import Call, Engine
from audit.engine.schemas import Verdict
from audit.audits.judging import judge_messages, run_judges
from audit.data.items import Item
from openai_server import MODES, OpenAIServer, judge_responder, prompt_text

#: in-process, and with worker processes (slow: each test starts a pool)
WORKERS = [0, pytest.param(2, marks=pytest.mark.slow, id="2")]
#: every structured-output mode; the fast selection (-m "not slow") keeps json_schema, CI runs all three
MODE_PARAMS = [m if m == "json_schema" else pytest.param(m, marks=pytest.mark.slow, id=m) for m in MODES]
ITEM_RE = re.compile(r"\[item (syn-\d+)\]")


def make_items(n: int, start: int = 0) -> list[Item]:
    """Synthetic items; each answer carries its id as ``[item syn-NNN]`` so the server can tell them apart."""
    out = []
    for i in range(start, start + n):
        out.append(Item(id=f"syn-{i:03d}", prompt=f"Question {i}: how do I plan a week of meals?",
                        attributes=["vegetarian", "runner"], generator="style-test",
                        generic=f"[item syn-{i:03d}] A generic plan with varied meals.",
                        personalized=f"[item syn-{i:03d}] A vegetarian plan with enough protein for running."))
    return out


def item_of(request: dict) -> tuple[str, str] | None:
    """(item id, presentation order) of a judge request: which answer the prompt shows first."""
    text = prompt_text(request, ("user",))
    m = ITEM_RE.search(text)
    if not m:
        return None
    first_generic = text.find("A generic plan") < text.find("A vegetarian plan")
    return m.group(1), GENERIC_FIRST if first_generic else PERSONALIZED_FIRST


class Recorder:
    """A responder that rates 4 and records the (item, order) each normal (valid, paid) answer was for."""

    def __init__(self, rating: int = 4):
        self.answered: list[str | None] = []
        self.rating = rating

    def __call__(self, request: dict) -> str:
        self.answered.append(item_of(request))
        return judge_responder(lambda text: self.rating, "recorded")(request)


def spec_for(srv: OpenAIServer, name: str = "fake", **kw) -> JudgeSpec:
    """A judge calling ``srv``, in the structured-output mode the server checks requests for."""
    kw.setdefault("mode", srv.mode or "json_schema")
    return JudgeSpec(name=name, model=f"openai/{name}-model", api_base=srv.base_url, api_key_env="FAKE_JUDGE_KEY", **kw)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("FAKE_JUDGE_KEY", "sk-test")


@pytest.fixture
def waits(monkeypatch):
    """Every wait the engine's policy asks for (backoff, Retry-After, pacing), really slept."""
    asked: list[float] = []
    real = asyncio.sleep

    async def recording_sleep(seconds):
        asked.append(seconds)
        await real(seconds)

    monkeypatch.setattr(judge, "_sleep", recording_sleep)
    return asked


@pytest.mark.parametrize("workers", WORKERS)
def test_every_item_judged_once_and_rerun_pays_nothing(tmp_path, workers):
    items = make_items(30)
    rec = Recorder(rating=4)
    with OpenAIServer(rec, latency=0.02) as srv:
        cache = ResultCache(tmp_path / "cache")
        rows = run_judges(items, [spec_for(srv, concurrency=8)], cache, both_orders=True, workers=workers)
        assert srv.count == 60 and srv.outcomes.count("ok") == 60
        assert Counter(rec.answered) == {(it.id, o): 1 for it in items for o in (GENERIC_FIRST, PERSONALIZED_FIRST)}
        assert all(r.status == "ok" and not r.cached for r in rows)
        for r in rows:  # a raw 4 ("B better") maps back to the preference scale by order
            assert r.raw_rating == 4 and r.rating == (4.0 if r.order == GENERIC_FIRST else 2.0)
        assert all(r.tokens_in and r.tokens_out and r.latency_s is not None and r.cost_usd is None for r in rows)
        again = run_judges(items, [spec_for(srv, concurrency=8)], cache, both_orders=True, workers=workers)
        assert srv.count == 60  # nothing paid twice
        assert all(r.cached and r.status == "ok" for r in again)
        assert [r.to_row() | {"cached": None} for r in again] == [r.to_row() | {"cached": None} for r in rows]


@pytest.mark.parametrize("workers", WORKERS)
def test_per_judge_concurrency_limit_is_respected_and_used(tmp_path, workers):
    with OpenAIServer(Recorder(), latency=0.3) as srv:
        run_judges(make_items(24), [spec_for(srv, concurrency=6)], ResultCache(tmp_path / "c"), workers=workers)
        assert srv.count == 24 and srv.max_in_flight == 6


def test_requests_per_minute_paces_call_starts(tmp_path, waits):
    with OpenAIServer(Recorder()) as srv:
        run_judges(make_items(8), [spec_for(srv, concurrency=8, rpm=1200)], ResultCache(tmp_path / "c"), workers=0)
        assert srv.count == 8
    interval = 60 / 1200
    # 8 starts evenly spaced: the pacer asked for waits totalling ~ (1 + 2 + ... + 7) intervals
    assert sum(waits) == pytest.approx(interval * sum(range(8)), rel=0.25)


@pytest.mark.parametrize("mode", MODE_PARAMS)
@pytest.mark.parametrize("workers", WORKERS)
def test_exactly_one_retry_layer_ours(tmp_path, workers, mode):
    """litellm/openai's own retries are off: the server sees exactly max_retries + 1 requests."""
    item = make_items(1)
    with OpenAIServer(Recorder(), faults_script=["500"] * 10, mode=mode) as srv:
        spec = spec_for(srv, concurrency=1, max_retries=2)
        call = Call(spec, judge_messages(item[0], GENERIC_FIRST), Verdict, GENERIC_FIRST, 0)
        engine = Engine(ResultCache(tmp_path / "c"), workers=workers)

        async def go():
            try:
                return await engine.call_many([call])
            finally:
                await engine.aclose()

        (res,) = asyncio.run(go())
        # 1 + max_retries attempts, each one request; the SDK's own 2 retries would show 9 x 500
        assert res.value is None and res.error.startswith("gave up after 3 attempts: InternalServerError")
        assert srv.outcomes == ["500"] * 3
    with OpenAIServer(Recorder(), faults_script=["500", "500", "429", None], retry_after=0, mode=mode) as srv:
        rows = run_judges(item, [spec_for(srv, concurrency=1, max_retries=4)], ResultCache(tmp_path / "c2"),
                          workers=workers)
        assert rows[0].status == "ok" and srv.outcomes == ["500", "500", "429", "ok"]


@pytest.mark.parametrize("mode", MODE_PARAMS)
@pytest.mark.parametrize("workers", WORKERS)
def test_retry_after_is_honoured_and_pauses_the_judge(tmp_path, waits, workers, mode):
    with OpenAIServer(Recorder(), faults_script=["429"], retry_after=0.4, mode=mode) as srv:
        rows = run_judges(make_items(3), [spec_for(srv, concurrency=1, max_retries=3)], ResultCache(tmp_path / "c"),
                          workers=workers)
        assert [r.status for r in rows] == ["ok"] * 3 and srv.outcomes == ["429", "ok", "ok", "ok"]
    assert any(0.4 <= w <= 0.4 * 1.25 + 1e-9 for w in waits), waits  # Retry-After plus at most 25% jitter


@pytest.mark.parametrize("mode", MODE_PARAMS)
@pytest.mark.parametrize("workers", WORKERS)
def test_hang_times_out_and_is_retried(tmp_path, workers, mode):
    with OpenAIServer(Recorder(), faults_script=["hang"], hang_seconds=30, mode=mode) as srv:
        rows = run_judges(make_items(1), [spec_for(srv, concurrency=1, timeout=0.5, max_retries=2)],
                          ResultCache(tmp_path / "c"), workers=workers)
        assert rows[0].status == "ok" and srv.outcomes == ["hang", "ok"]


@pytest.mark.parametrize("mode", MODE_PARAMS)
@pytest.mark.parametrize("workers", WORKERS)
def test_invalid_output_is_reasked_then_recorded_as_failed(tmp_path, workers, mode):
    bounded = provider.VALIDATION_RETRIES + 1
    with OpenAIServer(Recorder(), faults_script=["malformed", None] + ["out_of_range"] * bounded, mode=mode) as srv:
        rows = run_judges(make_items(2), [spec_for(srv, concurrency=1, max_retries=5)], ResultCache(tmp_path / "c"),
                          workers=workers)
        assert rows[0].status == "ok" and rows[0].raw_rating == 4  # re-asked once, then valid
        assert rows[1].status == "failed" and rows[1].error.startswith(f"invalid output after {bounded} requests")
        assert srv.count == 2 + bounded  # invalid output is re-asked a bounded number of times, not retried
        # resume (same server, script used up): only the failed item is asked again
        again = run_judges(make_items(2), [spec_for(srv, concurrency=1)], ResultCache(tmp_path / "c"), workers=workers)
        assert srv.count == 2 + bounded + 1
    assert [r.cached for r in again] == [True, False] and all(r.status == "ok" for r in again)


def test_reask_tokens_are_counted(tmp_path):
    with OpenAIServer(Recorder(), faults_script=[None, "out_of_range", None]) as srv:
        rows = run_judges(make_items(2), [spec_for(srv, concurrency=1)], ResultCache(tmp_path / "c"), workers=0)
    assert srv.count == 3
    assert rows[1].tokens_in > rows[0].tokens_in  # the re-ask's tokens are part of the item's cost


def test_identical_calls_are_paid_once(tmp_path):
    """Two items with the same content shown in the same order make the same call: paid once."""
    item = make_items(1)[0]
    with OpenAIServer(Recorder()) as srv:
        spec = spec_for(srv, concurrency=4)
        call = Call(spec, judge_messages(item, GENERIC_FIRST), Verdict, GENERIC_FIRST, 0)
        results = asyncio.run(Engine(ResultCache(tmp_path / "c")).call_many([call, call, call]))
        assert srv.count == 1
    assert all(r.value == results[0].value for r in results) and [r.cached for r in results] == [False, True, True]


def test_failing_judge_stops_early_and_does_not_stall_the_other(tmp_path):
    """401 at one provider: that judge is marked unavailable after its first answers and makes no
    more requests; the other judge (its own limits) finishes everything."""
    items = make_items(20)
    with OpenAIServer(Recorder(), require_api_key="right-key") as bad, OpenAIServer(Recorder(), latency=0.05) as good:
        specs = [spec_for(bad, "bad", concurrency=2), spec_for(good, "good", concurrency=4)]
        order: list[str] = []
        engine = Engine(ResultCache(tmp_path / "c"), on_result=lambda name, res: order.append(name))
        calls = [Call(s, judge_messages(it, GENERIC_FIRST), Verdict, GENERIC_FIRST, 0)
                 for it in items for s in specs]
        results = asyncio.run(engine.call_many(calls))
        assert bad.count <= 2 and all(o == "401" for o in bad.outcomes)
        assert good.count == 20
    bad_res = [r for c, r in zip(calls, results) if c.spec.name == "bad"]
    good_res = [r for c, r in zip(calls, results) if c.spec.name == "good"]
    assert all(r.value is None and "AuthenticationError" in r.error for r in bad_res)
    assert all(r.value is not None for r in good_res)
    assert "bad" in engine.unavailable and order.count("good") == 20
    with OpenAIServer(Recorder(), require_api_key="right-key") as bad:
        with pytest.raises(JudgeUnavailable, match="judge 'bad'.*AuthenticationError"):
            run_judges(items[:3], [spec_for(bad, "bad")], ResultCache(tmp_path / "c2"), workers=0)


def test_slow_judge_does_not_hold_up_a_fast_one(tmp_path):
    items = make_items(8)
    with OpenAIServer(Recorder(), latency=1.0) as slow, OpenAIServer(Recorder(), latency=0.01) as fast:
        order: list[str] = []
        rows = run_judges(items, [spec_for(slow, "slow", concurrency=2), spec_for(fast, "fast", concurrency=2)],
                          ResultCache(tmp_path / "c"), workers=0, on_result=lambda name, res: order.append(name))
    assert all(r.status == "ok" for r in rows) and order.count("slow") == 8
    # the slow judge's calls were planned first, yet every fast result came before the first slow one
    assert order[: order.index("slow")].count("fast") == 8


@pytest.mark.slow  # worker processes / a big simulation
def test_worker_pool_writes_the_cache_before_replying(tmp_path):
    from audit.engine.judge import Engine as E

    with OpenAIServer(Recorder()) as srv:
        spec = spec_for(srv, concurrency=2)
        cache = ResultCache(tmp_path / "c")
        engine = E(cache, workers=1)
        msgs = judge_messages(make_items(1)[0], GENERIC_FIRST)

        async def go():
            res = await engine.call(spec, msgs, Verdict, order=GENERIC_FIRST)
            key = engine.key_for(spec, msgs, Verdict, order=GENERIC_FIRST, sample=0)
            stored = ResultCache(tmp_path / "c").get(key)  # a separate reader sees it already
            await engine.aclose()
            return res, stored

        res, stored = asyncio.run(go())
        assert res.value == stored["value"] and stored["model"] == spec.model and srv.count == 1
