"""Stage 3: call judges. The only module (with local_provider) that imports litellm and instructor.

Each call shows the generic and the personalized answer as "Response A/B" in an order drawn from
a seeded RNG (per item and sample, so every judge sees the same order), asks for a validated
:class:`Verdict` through instructor, maps the rating back to the generic/personalized scale, and
stores the validated result in the cache the moment it arrives. Failures are recorded as rows
with a reason, never cached and never silently dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

from pydantic import BaseModel, Field, field_validator

from .cache import ResultCache, cache_key
from .config import JudgeSpec
from .errors import JudgeUnavailable
from .load import Item
from .prompts import render_messages

VALIDATION_RETRIES = 2  # instructor re-asks after an invalid answer (so up to 3 attempts)
GENERIC_FIRST, PERSONALIZED_FIRST = "generic_first", "personalized_first"


class Verdict(BaseModel):
    """What a judge must return: a 1-5 rating of Response A vs B and a short rationale."""

    rating: int = Field(ge=1, le=5, description="1 = Response A much better, 3 = no difference, 5 = Response B much better")
    rationale: str = Field(description="one or two sentences", json_schema_extra={"maxLength": 300})

    @field_validator("rationale")
    @classmethod
    def _trim(cls, v: str) -> str:
        return v.strip()[:2000]


@dataclass
class Judgment:
    """One row of judgments.csv: one judge call (or one imported rating)."""

    item_id: str
    judge: str
    model: str
    order: str | None  # generic_first (A = generic) | personalized_first | None (imported)
    sample: int
    rating: float | None  # on the generic(1) .. personalized(5) scale
    raw_rating: int | None  # as the judge gave it, on the A(1) .. B(5) scale
    rationale: str | None
    status: str  # ok | failed | imported
    cached: bool = False
    latency_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    error: str | None = None

    def to_row(self) -> dict:
        return asdict(self)


def presentation_order(item_id: str, sample: int, seed: int) -> str:
    """Which answer is Response A, drawn from an RNG seeded by (seed, item, sample)."""
    digest = hashlib.sha256(f"{seed}:{item_id}:{sample}".encode()).digest()
    return GENERIC_FIRST if random.Random(digest).random() < 0.5 else PERSONALIZED_FIRST


def to_preference_scale(raw: int, order: str) -> int:
    """Map a rating of A (1) vs B (5) back to generic (1) vs personalized (5)."""
    return raw if order == GENERIC_FIRST else 6 - raw


def judge_messages(item: Item, order: str) -> list[dict[str, str]]:
    a, b = (item.generic, item.personalized) if order == GENERIC_FIRST else (item.personalized, item.generic)
    return render_messages("judge_preference", attributes=item.attributes, prompt=item.prompt, response_a=a, response_b=b)


# --- litellm, imported lazily --------------------------------------------------------------

_LITELLM = None


def _litellm():
    """Import litellm once, offline: no price-map download, no telemetry, no own retries."""
    global _LITELLM
    if _LITELLM is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_TELEMETRY", "False")
        import logging

        import litellm

        # instructor logs every failed attempt at ERROR; we record failures in judgments.csv instead
        for name in ("instructor", "LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        litellm.telemetry = False
        litellm.suppress_debug_info = True
        litellm.drop_params = True  # a judge that rejects e.g. temperature still works
        from .local_provider import register

        register(litellm)
        _LITELLM = litellm
    return _LITELLM


def missing_keys(model: str) -> list[str]:
    env = _litellm().validate_environment(model=model)
    return list(env.get("missing_keys") or [])


def _instructor_client(mode: str):
    import instructor

    lm = _litellm()
    modes = {"json_schema": instructor.Mode.JSON_SCHEMA, "json": instructor.Mode.JSON, "tools": instructor.Mode.TOOLS}
    return instructor.from_litellm(lm.acompletion, mode=modes[mode])


# --- one call, with retries ------------------------------------------------------------------


class _Pacer:
    """At most ``rpm`` call starts per minute (evenly spaced)."""

    def __init__(self, rpm: float | None):
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


def _retry_after(exc: BaseException) -> float | None:
    resp = getattr(exc, "response", None)
    headers = getattr(resp, "headers", None) or {}
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _backoff(attempt: int, rng: random.Random, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**attempt))."""
    return rng.uniform(0, min(cap, base * 2**attempt))


def _classify(exc: BaseException) -> str:
    """'fatal' (judge unavailable), 'retry' (transient) or 'invalid' (bad output)."""
    lm = _litellm()
    name = type(exc).__name__
    fatal = (lm.AuthenticationError, lm.PermissionDeniedError, lm.NotFoundError)
    if isinstance(exc, fatal):
        return "fatal"
    transient = (lm.RateLimitError, lm.InternalServerError, lm.ServiceUnavailableError, lm.APIConnectionError,
                 lm.Timeout, lm.BadGatewayError)
    if isinstance(exc, transient) or name in ("TimeoutError", "ReadTimeout", "ConnectTimeout"):
        return "retry"
    return "invalid"


def _unwrap(exc: BaseException) -> BaseException:
    """instructor wraps provider errors in InstructorRetryException; find the provider's own."""
    seen = exc
    for _ in range(5):
        inner = getattr(seen, "__cause__", None) or getattr(seen, "__context__", None)
        if inner is None:
            break
        seen = inner
        if type(seen).__module__.startswith(("litellm", "openai", "httpx")):
            return seen
    return exc


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:240]}"


@dataclass
class CallResult:
    value: dict | None  # the validated object, as a dict
    cached: bool
    latency_s: float | None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    error: str | None = None


class Engine:
    """Runs structured calls for several judges concurrently, each with its own limits."""

    def __init__(self, cache: ResultCache, *, seed: int = 0, on_result: Callable[[str, CallResult], None] | None = None):
        self.cache = cache
        self.seed = seed
        self.on_result = on_result
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._pacers: dict[str, _Pacer] = {}
        self._clients: dict[str, Any] = {}
        self._rng = random.Random(seed)
        self.unavailable: dict[str, str] = {}

    def _limits(self, spec: JudgeSpec):
        if spec.name not in self._sems:
            self._sems[spec.name] = asyncio.Semaphore(spec.concurrency)
            self._pacers[spec.name] = _Pacer(spec.rpm)
        return self._sems[spec.name], self._pacers[spec.name]

    def key_for(self, spec: JudgeSpec, messages: list[dict], response_model: type[BaseModel] | None, *, order: str | None, sample: int) -> str:
        return cache_key(
            model=spec.model, api_base=spec.api_base, params=spec.params, mode=spec.mode,
            messages=messages, schema=response_model.model_json_schema() if response_model else None,
            order=order, sample=sample,
        )

    async def call(self, spec: JudgeSpec, messages: list[dict], response_model: type[BaseModel] | None,
                   *, order: str | None = None, sample: int = 0) -> CallResult:
        """One validated call (cached). ``response_model=None`` asks for free text."""
        key = self.key_for(spec, messages, response_model, order=order, sample=sample)
        hit = self.cache.get(key)
        if hit is not None:
            result = CallResult(hit["value"], True, hit.get("latency_s"), hit.get("tokens_in"), hit.get("tokens_out"), hit.get("cost_usd"))
            self._report(spec, result)
            return result
        if spec.name in self.unavailable:
            return self._fail(spec, f"judge unavailable: {self.unavailable[spec.name]}")
        sem, pacer = self._limits(spec)
        async with sem:
            return await self._call_uncached(spec, messages, response_model, key, pacer)

    async def _call_uncached(self, spec, messages, response_model, key, pacer) -> CallResult:
        lm = _litellm()
        kwargs: dict[str, Any] = dict(spec.params)
        if spec.api_base:
            kwargs["api_base"] = spec.api_base
        if spec.api_key_env and os.environ.get(spec.api_key_env):
            kwargs["api_key"] = os.environ[spec.api_key_env]
        kwargs.update(timeout=spec.timeout, num_retries=0)  # our retry loop below is the only one
        if spec.mode == "tools":
            kwargs["_skip_mcp_handler"] = True
        last_error = "no attempt made"
        for attempt in range(spec.max_retries + 1):
            if spec.name in self.unavailable:
                return self._fail(spec, f"judge unavailable: {self.unavailable[spec.name]}")
            await pacer.wait()
            started = time.perf_counter()
            try:
                if response_model is None:
                    completion = await lm.acompletion(model=spec.model, messages=messages, **kwargs)
                    value = {"text": completion.choices[0].message.content or ""}
                else:
                    client = self._clients.get(spec.mode) or self._clients.setdefault(spec.mode, _instructor_client(spec.mode))
                    obj, completion = await client.chat.completions.create_with_completion(
                        model=spec.model, messages=messages, response_model=response_model,
                        max_retries=VALIDATION_RETRIES, **kwargs)
                    value = obj.model_dump()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified below, never swallowed silently
                inner = _unwrap(exc)
                kind = _classify(inner)
                last_error = _short(inner)
                if kind == "fatal":
                    self.unavailable[spec.name] = last_error
                    return self._fail(spec, last_error)
                if kind == "invalid":
                    return self._fail(spec, f"invalid output after {VALIDATION_RETRIES + 1} attempts: {last_error}")
                if attempt < spec.max_retries:
                    wait = _retry_after(inner)
                    await asyncio.sleep(wait if wait is not None else _backoff(attempt, self._rng))
                continue
            latency = time.perf_counter() - started
            usage = getattr(completion, "usage", None)
            record = {
                "value": value, "latency_s": latency,
                "tokens_in": getattr(usage, "prompt_tokens", None), "tokens_out": getattr(usage, "completion_tokens", None),
                "cost_usd": _cost(lm, completion), "model": spec.model, "at": time.time(),
            }
            self.cache.set(key, record)  # paid for: kept before anything else can go wrong
            result = CallResult(value, False, latency, record["tokens_in"], record["tokens_out"], record["cost_usd"])
            self._report(spec, result)
            return result
        return self._fail(spec, f"gave up after {spec.max_retries + 1} attempts: {last_error}")

    def _fail(self, spec: JudgeSpec, error: str) -> CallResult:
        result = CallResult(None, False, None, error=error)
        self._report(spec, result)
        return result

    def _report(self, spec: JudgeSpec, result: CallResult) -> None:
        if self.on_result:
            self.on_result(spec.name, result)


def _cost(lm, completion) -> float | None:
    """USD from litellm's price map; None (unknown), never 0, when the model is not priced."""
    try:
        cost = lm.completion_cost(completion_response=completion)
    except Exception:  # noqa: BLE001 - unpriced model
        return None
    return float(cost) if cost else None


# --- the preference judging stage ----------------------------------------------------------


def plan_calls(items: Iterable[Item], *, samples: int, both_orders: bool, seed: int) -> list[tuple[Item, str, int]]:
    """(item, order, sample) for every judgment one judge will make."""
    calls = []
    for item in items:
        for sample in range(samples):
            first = presentation_order(item.id, sample, seed)
            orders = [first, PERSONALIZED_FIRST if first == GENERIC_FIRST else GENERIC_FIRST] if both_orders else [first]
            calls.extend((item, order, sample) for order in orders)
    return calls


async def _judge_all(engine: Engine, specs: list[JudgeSpec], items: list[Item], *, samples: int, both_orders: bool) -> list[Judgment]:
    calls = plan_calls(items, samples=samples, both_orders=both_orders, seed=engine.seed)

    async def one(spec: JudgeSpec, item: Item, order: str, sample: int) -> Judgment:
        res = await engine.call(spec, judge_messages(item, order), Verdict, order=order, sample=sample)
        row = Judgment(item.id, spec.name, spec.model, order, sample, None, None, None, "failed", res.cached,
                       res.latency_s, res.tokens_in, res.tokens_out, res.cost_usd, res.error)
        if res.value is not None:
            raw = int(res.value["rating"])
            row.raw_rating, row.rating, row.rationale, row.status = raw, float(to_preference_scale(raw, order)), res.value["rationale"], "ok"
        return row

    tasks = [one(spec, item, order, sample) for spec in specs for (item, order, sample) in calls]
    return list(await asyncio.gather(*tasks))


def run_judges(items: list[Item], specs: list[JudgeSpec], cache: ResultCache, *, seed: int = 0, samples: int = 1,
               both_orders: bool = False, on_result=None) -> list[Judgment]:
    """Judge every item with every judge. Raises JudgeUnavailable when a judge could not be used at all."""
    if not specs:
        return []
    engine = Engine(cache, seed=seed, on_result=on_result)
    rows = asyncio.run(_judge_all(engine, specs, items, samples=samples, both_orders=both_orders))
    for spec in specs:
        mine = [r for r in rows if r.judge == spec.name]
        if mine and not any(r.status == "ok" for r in mine):
            reason = engine.unavailable.get(spec.name) or mine[0].error or "every call failed"
            raise JudgeUnavailable(f"judge {spec.name!r} ({spec.describe()}) is unavailable: {reason}", ) from None
    return rows


def imported_judgments(items: Iterable[Item]) -> list[Judgment]:
    """Judge ratings already in the data, as judgment rows (no model call)."""
    rows = []
    for item in items:
        for jr in item.judge_ratings:
            rows.append(Judgment(item.id, jr.judge, jr.judge, None, 0, float(jr.rating), None, None, "imported"))
    return rows


# --- other structured tasks: the LLM flagger and habit generation ---------------------------


class MentionVerdict(BaseModel):
    mention: bool
    span: str | None = Field(default=None, json_schema_extra={"maxLength": 200})


async def _run_many(engine: Engine, jobs: list[tuple[JudgeSpec, list[dict], type[BaseModel] | None]]) -> list[CallResult]:
    return list(await asyncio.gather(*(engine.call(spec, msgs, model) for spec, msgs, model in jobs)))


def run_structured(spec: JudgeSpec, message_lists: list[list[dict]], response_model: type[BaseModel] | None,
                   cache: ResultCache, *, seed: int = 0) -> list[CallResult]:
    """Run one task (flagging, generation) for many inputs with one model; cached like every call."""
    engine = Engine(cache, seed=seed)
    results = asyncio.run(_run_many(engine, [(spec, msgs, response_model) for msgs in message_lists]))
    if results and all(r.value is None for r in results):
        raise JudgeUnavailable(f"model {spec.name!r} ({spec.describe()}) is unavailable: {results[0].error}")
    return results


def dumps_messages(messages: list[dict]) -> str:
    return json.dumps(messages, ensure_ascii=False)
