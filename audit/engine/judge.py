"""Stage 3: call judges. The provider request itself is :mod:`audit.engine.provider` (the only module
that imports litellm and instructor, lazily); this module is the policy around it and the
preference judging stage.

Each call shows the generic and the personalized answer as "Response A/B" in an order drawn from
a seeded RNG (per item and sample, so every judge sees the same order), asks for a validated
:class:`Verdict` through instructor, maps the rating back to the generic/personalized scale, and
stores the validated result in the cache the moment it arrives. Failures are recorded as rows
with a reason, never cached and never silently dropped.

How a call is made (docs/ENGINE.md):

* :func:`audit.engine.provider.attempt` is one attempt: one provider request (instructor re-asks an
  answer that fails validation up to ``VALIDATION_RETRIES`` times) classified as ok / retry /
  invalid / rejected / fatal. It runs in this process or in a worker process of
  :class:`audit.engine.pool.WorkerPool`.
* :class:`Engine` owns the policy, in this process: batched cache lookups, per-judge concurrency
  and requests/min, retries with exponential backoff and full jitter on 429/5xx/timeouts
  honouring Retry-After (which also pauses the judge's other calls), no second call for a key
  already being fetched, and a judge whose credentials fail is not called again.
* Exactly one retry layer: litellm/openai's own retries are off (``num_retries=0``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import time
from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel

from audit.engine.cache import ResultCache, cache_key_of_json, canonical_json
from audit.engine.config import JudgeSpec
from audit.engine.provider import RETRY_AFTER_CAP_S, Attempt, attempt, record_for
from audit.engine.schemas import schema_of
from audit.errors import JudgeUnavailable

BACKOFF_BASE_S, BACKOFF_CAP_S = 0.5, 30.0
POOL_MIN_CALLS = 100  # below this many uncached remote calls, worker processes are not worth starting
PREFETCH = 1  # with worker processes: calls queued at the workers, per call in flight
MAX_WORKERS, CALLS_PER_WORKER = 4, 8


def _held_json(memo: dict, obj, make):
    """``make()`` once per object ``obj`` in ``memo`` (which holds ``obj``, so its id stays unique)."""
    held = memo.get(id(obj))
    if held is None or held[0] is not obj:
        held = memo[id(obj)] = (obj, make())
    return held[1]


@functools.lru_cache(maxsize=None)
def _schema_json(response_model: type[BaseModel] | None) -> str:
    """canonical_json(schema_of(response_model)), made once per output model class."""
    return canonical_json(schema_of(response_model))


# --- the policy: limits, retries, cache ------------------------------------------------------

_sleep = asyncio.sleep  # every wait of the policy (backoff, Retry-After, pacing) goes through here


class _Pacer:
    """At most ``rpm`` call starts per minute (evenly spaced), and a judge-wide pause after a 429
    with Retry-After."""

    def __init__(self, rpm: float | None):
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._hold_until = 0.0
        self._lock = asyncio.Lock()

    def hold(self, seconds: float) -> None:
        self._hold_until = max(self._hold_until, time.monotonic() + seconds)

    async def wait(self) -> None:
        while True:
            now = time.monotonic()
            if self._hold_until > now:
                await _sleep(self._hold_until - now)
                continue
            if not self.interval:
                return
            async with self._lock:
                now = time.monotonic()
                delay = self._next - now
                self._next = max(now, self._next) + self.interval
            if delay > 0:
                await _sleep(delay)
            return


def backoff(attempt_no: int, rng: random.Random, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**attempt)) (AWS, 2015)."""
    return rng.uniform(0, min(cap, base * 2**attempt_no))


@dataclass
class CallResult:
    value: dict | None  # the validated object, as a dict
    cached: bool
    latency_s: float | None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    error: str | None = None
    attempts: int = 0  # provider attempts made for it in this run (0 when cached)


@dataclass
class Call:
    """One structured call to make: who, what, and the order/sample that are part of its key."""

    spec: JudgeSpec
    messages: list[dict]
    response_model: type[BaseModel] | None
    order: str | None = None
    sample: int = 0


def _from_record(rec: dict) -> CallResult:
    return CallResult(rec["value"], True, rec.get("latency_s"), rec.get("tokens_in"), rec.get("tokens_out"), rec.get("cost_usd"))


class Engine:
    """Runs structured calls for several judges concurrently, each with its own limits.

    ``workers`` > 0 runs the provider requests of remote judges in that many worker processes
    (:class:`audit.engine.pool.WorkerPool`), which keeps litellm's ~10 ms of CPU per call off this
    process's event loop; the policy (limits, retries, cache lookups) stays here.
    """

    def __init__(self, cache: ResultCache, *, seed: int = 0, on_result: Callable[[str, CallResult], None] | None = None,
                 workers: int | None = 0):
        self.cache = cache
        self.seed = seed
        self.on_result = on_result
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._pacers: dict[str, _Pacer] = {}
        self._rng = random.Random(seed)
        self._inflight: dict[str, asyncio.Future] = {}
        self.unavailable: dict[str, str] = {}
        self.pool = None
        self._workers = workers  # None: decided from the cache misses; started only if a call is needed

    def _start_pool(self, workers: int) -> None:
        from audit.engine.pool import WorkerPool

        self.pool = WorkerPool(workers, self.cache.directory, self.cache.enabled)

    def _pooled(self, spec: JudgeSpec) -> bool:
        return self.pool is not None and not spec.is_local

    def _limits(self, spec: JudgeSpec):
        """(semaphore, pacer) of a judge. The semaphore bounds the calls this process has handed
        out: ``concurrency`` in flight, or -- with worker processes, which enforce ``concurrency``
        themselves (each a share) -- as many again queued at the workers, so a worker starts the
        next request the moment one returns instead of waiting for a round trip through this
        process. With a requests/min limit nothing is queued ahead: every start is paced here."""
        if spec.name not in self._sems:
            ahead = PREFETCH if self._pooled(spec) and not spec.rpm else 0
            self._sems[spec.name] = asyncio.Semaphore(spec.concurrency * (1 + ahead))
            self._pacers[spec.name] = _Pacer(spec.rpm)
        return self._sems[spec.name], self._pacers[spec.name]

    def key_for(self, spec: JudgeSpec, messages: list[dict], response_model: type[BaseModel] | None, *, order: str | None,
                sample: int, memo: dict | None = None) -> str:
        """The cache key of one call: :func:`audit.engine.cache.cache_key` of model, api_base, params, mode,
        messages, schema, order and sample. ``memo`` (a dict kept for one batch of keys) makes the
        JSON of a message list once per list object: a run's lists are shared by every judge."""
        memo = {} if memo is None else memo
        parts = {**_held_json(memo, spec, lambda: {"model": canonical_json(spec.model), "api_base": canonical_json(spec.api_base),
                                                   "params": canonical_json(spec.params), "mode": canonical_json(spec.mode)}),
                 "messages": _held_json(memo, messages, lambda: canonical_json(messages)),
                 "schema": _schema_json(response_model), "order": canonical_json(order), "sample": canonical_json(sample)}
        return cache_key_of_json(parts)

    async def call(self, spec: JudgeSpec, messages: list[dict], response_model: type[BaseModel] | None,
                   *, order: str | None = None, sample: int = 0) -> CallResult:
        """One validated call (cached). ``response_model=None`` asks for free text."""
        return (await self.call_many([Call(spec, messages, response_model, order, sample)]))[0]

    async def call_many(self, calls: list[Call]) -> list[CallResult]:
        """Many calls: one batched cache lookup, then the misses concurrently (results in order)."""
        memo: dict = {}
        keys = [self.key_for(c.spec, c.messages, c.response_model, order=c.order, sample=c.sample, memo=memo) for c in calls]
        del memo
        hits = self.cache.get_many(keys)
        results: list[CallResult | None] = [None] * len(calls)
        todo = []
        for i, (c, key) in enumerate(zip(calls, keys)):
            if key in hits:
                results[i] = _from_record(hits[key])
                self._report(c.spec, results[i])
            else:
                todo.append(i)
        remote = [calls[i].spec for i in todo if not calls[i].spec.is_local]
        if remote and self.pool is None and self._workers != 0:
            concurrency = sum({s.name: s.concurrency for s in remote}.values())
            n = default_workers(len(remote), concurrency) if self._workers is None else self._workers
            self._workers = n  # decided once per engine
            if n:
                self._start_pool(n)

        async def one(i: int) -> None:
            results[i] = await self._fetch(calls[i], keys[i])

        await asyncio.gather(*(one(i) for i in todo))
        return results  # type: ignore[return-value]

    async def _fetch(self, c: Call, key: str) -> CallResult:
        """The result for ``key``, calling the provider at most once however many ask at once."""
        shared = self._inflight.get(key)
        if shared is not None:  # the same call is already being paid for: share its result
            res = await asyncio.shield(shared)
            res = CallResult(res.value, True, res.latency_s, res.tokens_in, res.tokens_out, res.cost_usd, res.error)
            self._report(c.spec, res)
            return res
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            res = await self._call_uncached(c, key)
            fut.set_result(res)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: no "never retrieved" warning when nobody shares it
            raise
        finally:
            self._inflight.pop(key, None)
        self._report(c.spec, res)
        return res

    async def _attempt(self, c: Call, key: str) -> Attempt:
        api_key = os.environ.get(c.spec.api_key_env) if c.spec.api_key_env else None
        if self._pooled(c.spec):  # the pool enforces the concurrency, and falls back to in-process itself
            return await self.pool.run(key, c.spec, c.messages, c.response_model, api_key)
        a = await attempt(c.spec, c.messages, c.response_model, api_key)
        if a.kind == "ok":
            self.cache.set(key, record_for(c.spec, a))  # paid for: kept before anything else can go wrong
        return a

    async def _call_uncached(self, c: Call, key: str) -> CallResult:
        spec = c.spec
        sem, pacer = self._limits(spec)
        last_error = "no attempt made"
        async with sem:
            for n in range(spec.max_retries + 1):
                if spec.name in self.unavailable:
                    return CallResult(None, False, None, error=f"judge unavailable: {self.unavailable[spec.name]}", attempts=n)
                await pacer.wait()
                if spec.name in self.unavailable:
                    return CallResult(None, False, None, error=f"judge unavailable: {self.unavailable[spec.name]}", attempts=n)
                a = await self._attempt(c, key)
                if a.kind == "ok":
                    return CallResult(a.value, False, a.latency_s, a.tokens_in, a.tokens_out, a.cost_usd, attempts=n + 1)
                last_error = a.error or a.kind
                if a.kind == "fatal":
                    self.unavailable.setdefault(spec.name, last_error)
                    return CallResult(None, False, None, error=last_error, attempts=n + 1)
                if a.kind in ("invalid", "rejected"):
                    return CallResult(None, False, None, error=last_error, attempts=n + 1)
                if n < spec.max_retries:
                    if a.retry_after is not None:
                        wait = min(a.retry_after, RETRY_AFTER_CAP_S)
                        pacer.hold(wait)  # the provider asked the whole judge to slow down
                        wait += self._rng.uniform(0, min(1.0, 0.25 * wait))  # do not all come back at once
                    else:
                        wait = backoff(n, self._rng)
                    await _sleep(wait)
        return CallResult(None, False, None, error=f"gave up after {spec.max_retries + 1} attempts: {last_error}",
                          attempts=spec.max_retries + 1)

    def _report(self, spec: JudgeSpec, result: CallResult) -> None:
        if self.on_result:
            self.on_result(spec.name, result)

    async def aclose(self) -> None:
        if self.pool is not None:
            self.pool.close()  # quick: closing the pipes ends the workers
            self.pool = None


def default_workers(n_uncached_remote: int, concurrency: int = 32) -> int:
    """Worker processes for a run: ``$JUDGE_AUDIT_WORKERS`` when set; else 0 (in-process) below
    POOL_MIN_CALLS uncached calls to remote judges; else one per CALLS_PER_WORKER of the judges'
    combined concurrency, at most MAX_WORKERS (measured: 4 workers for 32 calls in flight beat 2
    on a 2-core machine -- a worker's burst of answers queues on its own loop)."""
    env = os.environ.get("JUDGE_AUDIT_WORKERS")
    if env not in (None, ""):
        try:
            return max(0, int(env))
        except ValueError:
            pass
    if n_uncached_remote < POOL_MIN_CALLS:
        return 0
    return max(1, min(MAX_WORKERS, -(-concurrency // CALLS_PER_WORKER)))


# --- running a batch of calls ----------------------------------------------------------------


async def _run_many(cache: ResultCache, calls: list[Call], seed: int, workers: int | None,
                    on_result=None) -> tuple[list[CallResult], dict[str, str]]:
    engine = Engine(cache, seed=seed, on_result=on_result, workers=workers)
    try:
        return await engine.call_many(calls), engine.unavailable
    finally:
        await engine.aclose()


def run_calls(calls: list[Call], cache: ResultCache, *, seed: int = 0, on_result=None,
              workers: int | None = None) -> tuple[list[CallResult], dict[str, str]]:
    """Make ``calls`` (cached, limited, retried) and return their results in order, with the judges
    found unavailable (name -> reason). ``on_result(judge, CallResult)`` sees every result."""
    return asyncio.run(_run_many(cache, calls, seed, workers, on_result))


def run_judge_calls(calls: list[Call], specs: list[JudgeSpec], cache: ResultCache, *, seed: int = 0, on_result=None,
                    workers: int | None = None) -> tuple[list[CallResult], dict[str, str]]:
    """:func:`run_calls` for a batch that every judge of ``specs`` shares equally, with the progress
    protocol: ``on_result.expect(judge, total)`` before (when it has it) and ``on_result.finish()`` after
    (e.g. :class:`audit.render.progress.Progress`)."""
    if on_result is not None and hasattr(on_result, "expect") and specs:
        for spec in specs:
            on_result.expect(spec.name, len(calls) // len(specs))
    out = run_calls(calls, cache, seed=seed, on_result=on_result, workers=workers)
    if on_result is not None and hasattr(on_result, "finish"):
        on_result.finish()
    return out


def raise_if_unavailable(specs: list[JudgeSpec], rows: list, unavailable: dict[str, str]) -> None:
    """JudgeUnavailable for the first judge none of whose rows (``status == "ok"``) succeeded."""
    for spec in specs:
        mine = [r for r in rows if r.judge == spec.name]
        if mine and not any(r.status == "ok" for r in mine):
            reason = unavailable.get(spec.name) or mine[0].error or "every call failed"
            raise JudgeUnavailable(f"judge {spec.name!r} ({spec.describe()}) is unavailable: {reason}") from None


def run_structured(spec: JudgeSpec, message_lists: list[list[dict]], response_model: type[BaseModel] | None,
                   cache: ResultCache, *, seed: int = 0, workers: int | None = None) -> list[CallResult]:
    """Run one task (flagging, generation) for many inputs with one model; cached like every call."""
    calls = [Call(spec, msgs, response_model) for msgs in message_lists]
    results, _ = run_calls(calls, cache, seed=seed, workers=workers)
    if results and all(r.value is None for r in results):
        raise JudgeUnavailable(f"model {spec.name!r} ({spec.describe()}) is unavailable: {results[0].error}")
    return results
