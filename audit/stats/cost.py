"""What a run cost, per judge: calls, cache hits, failures, tokens, latency percentiles and USD, summed
from its judgment rows (no model call; prices were recorded when each call was paid)."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from audit.data.judgments import NO_CALL_STATUSES, Judgment


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
    calls = [r for r in rows if r.status not in NO_CALL_STATUSES]
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
