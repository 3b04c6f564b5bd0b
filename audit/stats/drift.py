"""Did the judge change? The statistics of ``judge-audit drift``. Pure: arrays in, Estimates and
JSON-ready dicts out.

Between two runs A and B of one judge, on the items of both (joined by id):

* **judge shift** = mean over *anchor* items of (rating_B − rating_A). An anchor is an item whose
  request, attributes and both answers are byte-identical in the two runs, so only the judge (its
  model snapshot, prompt or parameters) can have moved its rating.
* **total change** = mean over all common items of (rating_B − rating_A): what a team sees when its
  evaluation scores move.
* **system change** = total change − judge shift: the part left for the answers themselves, under
  the assumption that the judge moved every item as it moved the anchors.
* **judge share** = judge shift / total change; undefined (None, with a reason) when
  |total change| < :data:`MIN_TOTAL` rating points.

CIs: one cluster bootstrap over users (else items), the same resamples for all three, so the
system change's interval is the percentile interval of (total − shift) over the joint resamples.

Series (three or more runs): the judge shift of each run against the first on their anchors is
monitored with an EWMA chart (Roberts 1959; Montgomery, *Introduction to Statistical Quality
Control*, 8th ed., §9.2): z_k = λ x_k + (1 − λ) z_{k−1}, z_0 = 0 (no shift), control limits
± L σ √(λ / (2 − λ) · (1 − (1 − λ)^{2k})) with λ = :data:`EWMA_LAMBDA` = 0.2 and L = :data:`EWMA_L`
= 3; σ = the root mean square of the per-run shifts' bootstrap standard errors (each run's own
sampling noise). The first run whose z_k leaves the limits is the signal.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from audit.stats.bootstrap import ClusterBootstrap, percentile_ci, ratio
from audit.stats.calibration import direction
from audit.stats.estimate import Estimate, bootstrap_estimate, finite

MIN_TOTAL = 0.05  # |total change| below this (rating points): the judge's share is not computed
EWMA_LAMBDA = 0.2
EWMA_L = 3.0


def decompose(diff: Sequence[float], anchor: Sequence[bool], clusters: Sequence, *, seed: int = 0,
              n_reps: int = 2000) -> dict:
    """``{judge_shift, total_change, system_change, judge_share}`` from the per-item differences
    rating_B − rating_A of the common items and which of them are anchors (see the module docstring)."""
    d = np.asarray(diff, float)
    a = np.asarray(anchor, bool)
    labels = [str(c) for c in clusters]
    boot = ClusterBootstrap(labels, n_reps=n_reps, seed=seed)
    sums = boot.sums(np.column_stack([d * a, a.astype(float), d, np.ones_like(d)]), labels) if len(d) else None
    shift_reps = ratio(sums[:, 0], sums[:, 1]) if sums is not None else None
    total_reps = ratio(sums[:, 2], sums[:, 3]) if sums is not None else None
    anchors = [lab for lab, keep in zip(labels, a) if keep]
    shift = bootstrap_estimate(float(d[a].mean()) if a.any() else None, shift_reps, boot=boot, labels=anchors or labels,
                               n=int(a.sum()), what="judge shift: mean over anchor items of rating_B - rating_A",
                               reason=None if a.any() else "no anchor items (no item is identical in both runs)")
    total = bootstrap_estimate(float(d.mean()) if len(d) else None, total_reps, boot=boot, labels=labels, n=len(d),
                               what="total change: mean over common items of rating_B - rating_A",
                               reason=None if len(d) else "no items in both runs")
    se = float(np.nanstd(shift_reps)) if shift_reps is not None and np.isfinite(shift_reps).any() else None
    out = {"judge_shift": {**shift.to_dict(), "n_anchors": int(a.sum()), "se": se}, "total_change": total.to_dict()}
    if shift.estimate is not None and total.estimate is not None:
        reps = total_reps - shift_reps
        lo, hi, n_valid = percentile_ci(reps)
        out["system_change"] = {"estimate": total.estimate - shift.estimate, "ci": None if lo is None else [lo, hi],
                                "n": len(d), "method": "total change - judge shift; 95% CI: percentile interval of the "
                                                      "difference over the same cluster-bootstrap resamples",
                                "n_boot_valid": int(n_valid)}
        if abs(total.estimate) < MIN_TOTAL:
            out["judge_share"] = None
            out["judge_share_reason"] = (f"the total change ({total.estimate:+.3f}) is within ±{MIN_TOTAL} rating points "
                                         "of 0: no share of it to attribute")
        else:
            out["judge_share"] = shift.estimate / total.estimate
    else:
        out["system_change"] = {"estimate": None, "ci": None, "n": len(d), "reason": "needs the judge shift and the total change"}
        out["judge_share"] = None
        out["judge_share_reason"] = "needs the judge shift and the total change"
    return out


def paired_change(after: Sequence[float], before: Sequence[float], clusters: Sequence, *, what: str, seed: int = 0,
                  n_reps: int = 2000) -> Estimate:
    """Mean of (after − before) with a cluster-bootstrap CI (e.g. the change of a judge's inflation
    between two runs on the items people rated: (J_B − H) − (J_A − H))."""
    d = np.asarray(after, float) - np.asarray(before, float)
    labels = [str(c) for c in clusters]
    if not len(d):
        return Estimate(None, n=0, method=what, reason="no items")
    boot = ClusterBootstrap(labels, n_reps=n_reps, seed=seed)
    r = boot.sums(np.column_stack([d, np.ones_like(d)]), labels)
    return bootstrap_estimate(float(d.mean()), ratio(r[:, 0], r[:, 1]), boot=boot, labels=labels, n=len(d), what=what)


def flips(item_ids: Sequence[str], before: Sequence[float], after: Sequence[float], anchor: Sequence[bool]) -> dict:
    """Items whose verdict direction (personalized / generic / same, from the item's mean rating)
    changed between the runs: counts and rates over all common items and over anchors, and the list."""
    rows = [{"item_id": str(i), "before": direction(b), "after": direction(a), "anchor": bool(k)}
            for i, b, a, k in zip(item_ids, before, after, anchor) if direction(b) != direction(a)]
    n, n_anchor = len(list(item_ids)), int(np.sum(anchor))
    k_anchor = sum(1 for r in rows if r["anchor"])
    return {"n_flipped": len(rows), "n_items": n, "rate": len(rows) / n if n else None,
            "n_flipped_anchors": k_anchor, "n_anchors": n_anchor, "anchor_rate": k_anchor / n_anchor if n_anchor else None,
            "items": rows}


def ewma_chart(shifts: Sequence[float | None], standard_errors: Sequence[float | None], *, lam: float = EWMA_LAMBDA,
               L: float = EWMA_L) -> dict:
    """The EWMA control chart of a series of per-run judge shifts (the first run is the reference,
    shift 0). Returns ``{lambda, L, sigma, points: [{run, shift, ewma, lower, upper, outside}],
    first_outside}`` (``first_outside``: the index of the first run outside the limits, or None)."""
    ses = [s for s in standard_errors if s is not None and np.isfinite(s) and s > 0]
    sigma = float(np.sqrt(np.mean(np.square(ses)))) if ses else None
    z, points, first = 0.0, [], None
    for k, x in enumerate(shifts):
        if x is None or sigma is None:
            points.append({"run": k, "shift": x, "ewma": None, "lower": None, "upper": None, "outside": None})
            continue
        z = lam * float(x) + (1 - lam) * z
        width = L * sigma * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * max(k, 1))))
        outside = bool(abs(z) > width) and k > 0
        if outside and first is None:
            first = k
        points.append({"run": k, "shift": float(x), "ewma": z, "lower": -float(width), "upper": float(width),
                       "outside": outside})
    return {"lambda": lam, "L": L, "sigma": finite(sigma) if sigma is not None else None, "points": points,
            "first_outside": first,
            "method": (f"EWMA z_k = {lam:g} x_k + {1 - lam:g} z_(k-1), z_0 = 0; limits ±{L:g} sigma sqrt(lambda/(2-lambda)"
                       "(1-(1-lambda)^(2k))), sigma = RMS of the per-run bootstrap SEs (Montgomery 2019, 9.2)")}
