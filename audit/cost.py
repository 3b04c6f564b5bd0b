"""What judging costs: per-judge totals of a run (results.json ``judges.J.cost``) and the
``--dry-run`` plan (calls and estimated cost per judge before anything is spent).

Prices come from litellm's bundled price map (``litellm.cost_per_token``); a model it does not
price has an unknown cost -- ``null`` in results.json, "unknown" on the terminal -- never 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .judge import Judgment

OUT_TOKENS_EST = 60  # a 1-5 rating and a one-or-two-sentence rationale, as JSON
SAMPLE_FOR_TOKENS = 200  # calls per judge whose prompt tokens are counted exactly (the rest scaled)


def _sum(values: Iterable) -> float | None:
    vals = list(values)
    if any(v is None for v in vals):
        return None
    return float(sum(vals))


def cost_summary(rows: list[Judgment]) -> dict | None:
    """Calls, cached hits, failures, tokens, latency p50/p95 and cost of one judge's call rows.

    ``tokens_*`` and ``cost_usd`` cover every successful judgment of the audit as recorded when it
    was paid (cached ones included); ``cost_usd_this_run`` only the calls paid in this run. A cost
    is None when any judgment in it has no known price. Latencies are per successful judgment,
    as measured when it was paid (seconds). Tokens of failed attempts are not known and not counted.
    """
    calls = [r for r in rows if r.status != "imported"]
    if not calls:
        return None
    ok = [r for r in calls if r.status == "ok"]
    paid = [r for r in ok if not r.cached]
    lat = np.asarray([r.latency_s for r in ok if r.latency_s is not None], float)
    tin = _sum(r.tokens_in for r in ok)
    tout = _sum(r.tokens_out for r in ok)
    cost = _sum(r.cost_usd for r in ok) if ok else None
    cost_now = _sum(r.cost_usd for r in paid) if paid else 0.0
    out = {
        "calls": len(calls), "cached": sum(1 for r in calls if r.cached), "failures": sum(1 for r in calls if r.status == "failed"),
        "paid_this_run": len(paid),
        "tokens_in": None if tin is None else int(tin), "tokens_out": None if tout is None else int(tout),
        "latency_p50": float(np.percentile(lat, 50)) if len(lat) else None,
        "latency_p95": float(np.percentile(lat, 95)) if len(lat) else None,
        "cost_usd": cost, "cost_usd_this_run": cost_now,
    }
    if ok and cost is None:
        out["cost_note"] = "unknown: the model has no price in litellm's price map"
    return out


def _usd(x: float | None) -> str:
    if x is None:
        return "unknown"
    return f"${x:.4f}" if x < 1 else f"${x:,.2f}"


def _tokens(x: int | float | None) -> str:
    if x is None:
        return "?"
    return f"{x / 1000:.1f}k" if x >= 1000 else f"{int(x)}"


def cost_line(c: dict) -> str:
    lat = ""
    if c.get("latency_p50") is not None:
        lat = f", latency p50 {c['latency_p50']:.2f}s p95 {c['latency_p95']:.2f}s"
    return (f"cost: {c['calls']} calls ({c['cached']} cached, {c['failures']} failed), tokens {_tokens(c['tokens_in'])} in / "
            f"{_tokens(c['tokens_out'])} out{lat}, {_usd(c['cost_usd'])}"
            + (f" ({_usd(c['cost_usd_this_run'])} this run)" if c.get("paid_this_run") and c["cost_usd"] is not None else ""))


# --- --dry-run ------------------------------------------------------------------------------


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

    def to_dict(self) -> dict:
        return dict(vars(self))


def estimate_prompt_tokens(model: str, messages: list[dict], schema: dict | None) -> int:
    """Prompt tokens of one call (litellm.token_counter), plus the output schema instructor sends."""
    from .provider import _litellm

    lm = _litellm()
    n = lm.token_counter(model=model, messages=messages)
    if schema is not None:
        n += lm.token_counter(model=model, text=json.dumps(schema))
    return int(n)


def estimate_cost(model: str, tokens_in: float, tokens_out: float) -> float | None:
    from .provider import _litellm

    try:
        cin, cout = _litellm().cost_per_token(model=model, prompt_tokens=int(round(tokens_in)),
                                              completion_tokens=int(round(tokens_out)))
    except Exception:  # noqa: BLE001 - not in the price map
        return None
    return float(cin) + float(cout)


def _ready(spec) -> str:
    from .errors import AuditError
    from .config import check_credentials

    try:
        check_credentials(spec)
    except AuditError as exc:
        return str(exc)
    return "ok"


def plan_judging(items, specs, cache, *, samples: int, both_orders: bool, seed: int) -> list[JudgePlan]:
    """The dry-run plan of the preference calls (nothing is called; the cache is only read)."""
    from .judge import Engine, planned_calls, schema_of

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


def format_plan(plans: list[JudgePlan]) -> str:
    head = ("judge", "model", "calls", "cached", "to call", "tokens in (est.)", "tokens out (est.)", "cost (est.)")
    rows = [(p.judge, p.model, str(p.calls), str(p.cached), str(p.to_call), _tokens(p.tokens_in), _tokens(p.tokens_out),
             _usd(p.cost_usd)) for p in plans]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in [head, *rows]]
    known = [p.cost_usd for p in plans]
    total = "unknown (a judge has no price in litellm's price map)" if any(c is None for c in known) else _usd(sum(known))
    lines.append(f"total estimated cost: {total}")
    lines.append(f"estimates: prompt tokens counted with litellm.token_counter (up to {SAMPLE_FOR_TOKENS} calls per "
                 f"judge, scaled), {OUT_TOKENS_EST} output tokens per call, prices from litellm's price map")
    for p in plans:
        if p.ready != "ok":
            lines.append(f"not ready: {p.ready}")
    return "\n".join(lines)
