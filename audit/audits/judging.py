"""The preference judging stage: which calls a run makes (items x judges x orders x samples), the
messages each shows, and the judgment rows their answers become. The calls themselves go through
:class:`audit.engine.judge.Engine` (cache, limits, retries)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from audit.data.items import Item
from audit.data.judgments import GENERIC_FIRST, Judgment, presentation_orders, to_preference_scale
from audit.engine.cache import ResultCache
from audit.engine.config import JudgeSpec
from audit.engine.provider import check_credentials
from audit.engine.cost import OUT_TOKENS_EST, SAMPLE_FOR_TOKENS, estimate_cost, estimate_prompt_tokens
from audit.engine.judge import Call, CallResult, Engine, raise_if_unavailable, run_judge_calls
from audit.engine.prompts import judge_prompt
from audit.engine.schemas import schema_of
from audit.errors import AuditError


def judge_messages(item: Item, order: str, prompt: str | None = None) -> list[dict[str, str]]:
    """The messages a judge with prompt ``prompt`` (:attr:`JudgeSpec.prompt`; None: the shipped
    neutral default) sees for ``item`` shown in ``order``."""
    a, b = (item.generic, item.personalized) if order == GENERIC_FIRST else (item.personalized, item.generic)
    return judge_prompt(prompt).render(attributes=item.attributes, prompt=item.prompt, response_a=a, response_b=b)


def plan_calls(items: Iterable[Item], *, samples: int, both_orders: bool, seed: int) -> list[tuple[Item, str, int]]:
    """(item, order, sample) for every judgment one judge will make."""
    calls = []
    for item in items:
        for sample in range(samples):
            calls.extend((item, order, sample) for order in presentation_orders(item.id, sample, seed, both_orders))
    return calls


def planned_calls(items: Iterable[Item], specs: list[JudgeSpec], *, samples: int, both_orders: bool,
                  seed: int) -> list[tuple[Item, Call]]:
    """Every preference call of a run, each with its rendered messages (rendered once per order)."""
    plan = plan_calls(items, samples=samples, both_orders=both_orders, seed=seed)
    rendered: dict[tuple[str, str], list[dict]] = {}
    out = []
    for spec in specs:
        for item, order, sample in plan:
            msgs = rendered.get((item.id, order, spec.prompt))
            if msgs is None:
                msgs = rendered[(item.id, order, spec.prompt)] = judge_messages(item, order, spec.prompt)
            out.append((item, Call(spec, msgs, judge_prompt(spec.prompt).response_model, order, sample)))
    return out


def confidence_of(value: dict) -> float | None:
    """The judge's confidence in an answer: the one it stated, else the probability it gave its answer
    (``answer_probability``, from logprobs), else None."""
    for key in ("confidence", "answer_probability"):
        if value.get(key) is not None:
            return float(value[key])
    return None


def judgment_row(item: Item, c: Call, res: CallResult) -> Judgment:
    row = Judgment(item.id, c.spec.name, c.spec.model, c.order, c.sample, None, None, None, "failed", res.cached,
                   res.latency_s, res.tokens_in, res.tokens_out, res.cost_usd, res.error, judge_prompt(c.spec.prompt).label)
    if res.value is not None:
        raw = int(res.value["rating"])
        row.raw_rating, row.rating, row.rationale, row.status = raw, float(to_preference_scale(raw, c.order)), res.value["rationale"], "ok"
        row.confidence = confidence_of(res.value)
        served = res.value.get("_response") or {}
        row.served_model, row.system_fingerprint = served.get("model"), served.get("system_fingerprint")
    return row


def run_planned(planned: list[tuple[Item, Call]], specs: list[JudgeSpec], cache: ResultCache, *, seed: int = 0,
                on_result=None, workers: int | None = None) -> list[Judgment]:
    """Make already-planned calls (every judge, same count each); one row per call.

    ``on_result(judge, CallResult)`` is called for every result; if it has ``expect(judge, total)``
    (e.g. :class:`audit.render.progress.Progress`) that is called first with each judge's planned calls.
    Raises JudgeUnavailable when a judge could not be used at all.
    """
    if not specs:
        return []
    results, unavailable = run_judge_calls([c for _, c in planned], specs, cache, seed=seed, on_result=on_result,
                                           workers=workers)
    rows = [judgment_row(item, c, res) for (item, c), res in zip(planned, results)]
    raise_if_unavailable(specs, rows, unavailable)
    return rows


def run_judges(items: list[Item], specs: list[JudgeSpec], cache: ResultCache, *, seed: int = 0, samples: int = 1,
               both_orders: bool = False, on_result=None, workers: int | None = None, batch: bool = False,
               wait: bool = True, log=lambda s: None) -> list[Judgment]:
    """Judge every item with every judge (see :func:`run_planned`).

    ``workers``: worker processes for remote judges (None: :func:`default_workers`). ``batch``: submit
    the uncached calls of every judge through its provider's batch API first (judges with ``batch = true``
    in the config always are); ``wait``: wait for the batches (else raise BatchesPending once submitted).
    """
    if not specs:
        return []
    planned = planned_calls(items, specs, samples=samples, both_orders=both_orders, seed=seed)
    if batch or any(s.batch for s in specs):
        batch_stage(planned, specs, cache, every=batch, wait=wait, log=log, seed=seed)
    return run_planned(planned, specs, cache, seed=seed, on_result=on_result, workers=workers)


def batch_stage(planned: list[tuple[Item, Call]], specs: list[JudgeSpec], cache: ResultCache, *, every: bool, wait: bool,
                log, seed: int = 0) -> dict:
    """Submit the uncached calls of the batched judges (``every``: all, else those with ``batch = true``)
    through the provider's batch API and, with ``wait``, collect them into the cache; the interactive
    run that follows then finds them (and makes the calls that failed inside a batch)."""
    from audit.engine.batch import request_body, run_batches, unsupported
    from audit.engine.judge import Engine

    engine = Engine(cache, seed=seed)
    memo: dict = {}
    spec_calls, models = {}, {}
    for spec in specs:
        if not (every or spec.batch):
            continue
        why = unsupported(spec)
        if why:
            log(f"batch: {spec.name} is judged interactively ({why})")
            continue
        calls = [c for _, c in planned if c.spec.name == spec.name]
        keys = [engine.key_for(c.spec, c.messages, c.response_model, order=c.order, sample=c.sample, memo=memo)
                for c in calls]
        hits = cache.get_many(keys)
        seen: set[str] = set()
        todo = []
        for c, k in zip(calls, keys):
            if k not in hits and k not in seen:
                seen.add(k)
                todo.append((k, request_body(c.spec, c.messages, c.response_model)))
        spec_calls[spec.name] = (spec, todo)
        models[spec.name] = calls[0].response_model if calls else None
    if not spec_calls:
        return {}
    return run_batches(spec_calls, cache, cache.directory, response_models=models, wait=wait, log=log)


@dataclass
class JudgePlan:
    """What one judge would cost: calls planned, already cached, to make, estimated tokens and USD."""

    judge: str
    model: str
    calls: int
    cached: int
    to_call: int
    tokens_in: float | None  # estimated, for the calls to make
    tokens_out: float | None
    cost_usd: float | None  # None: unknown price
    ready: str  # credentials: "ok", or what is missing
    batch: str | None = None  # --batch: "batch" (submitted as a batch) or why the judge stays interactive
    batch_cost_usd: float | None = None  # estimated: cost_usd x audit.engine.batch.BATCH_DISCOUNT

    def to_dict(self) -> dict:
        return dict(vars(self))


def _ready(spec) -> str:
    try:
        check_credentials(spec)
    except AuditError as exc:
        return str(exc)
    return "ok"


def plan_judging(items, specs, cache, *, samples: int, both_orders: bool, seed: int) -> list[JudgePlan]:
    """The dry-run plan of the preference calls (nothing is called; the cache is only read)."""
    planned = planned_calls(items, specs, samples=samples, both_orders=both_orders, seed=seed)
    probe = Engine(cache, seed=seed)
    plans = []
    for spec in specs:
        calls = [c for _, c in planned if c.spec.name == spec.name]
        keys = [probe.key_for(c.spec, c.messages, c.response_model, order=c.order, sample=c.sample) for c in calls]
        hits = cache.get_many(keys)
        todo = [c for c, k in zip(calls, keys) if k not in hits]
        tin = tout = cost = None
        if todo:
            step = max(1, len(todo) // SAMPLE_FOR_TOKENS)
            sample = todo[::step][:SAMPLE_FOR_TOKENS]
            per_call = np.mean([estimate_prompt_tokens(spec.model, c.messages, schema_of(c.response_model)) for c in sample])
            tin = float(per_call * len(todo))
            tout = float(OUT_TOKENS_EST * len(todo))
            cost = estimate_cost(spec.model, tin, tout)
        else:
            tin = tout = 0.0
            cost = 0.0
        plans.append(JudgePlan(spec.name, spec.model, len(calls), len(calls) - len(todo), len(todo), tin, tout, cost, _ready(spec)))
    return plans
