"""Stage 4: the statistics. Pure functions: arrays or DataFrames in, an :class:`Estimate` out.

No I/O and no rounding here (round once, when presenting). Every function names its method,
and each is computed with pingouin / scipy rather than hand-rolled formulas.

Scale: 1 = generic much better ... 3 = no difference ... 5 = personalized much better.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% confidence interval, p-value, sample size and method."""

    estimate: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    n: int = 0
    method: str = ""
    extra: dict = field(default_factory=dict)
    reason: str | None = None  # why the estimate (or its CI) is missing

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ci"] = None if self.ci_low is None else [self.ci_low, self.ci_high]
        del d["ci_low"], d["ci_high"]
        d.update(d.pop("extra"))
        if d["reason"] is None:
            del d["reason"]
        return d


def _f(x) -> float | None:
    """A float, or None for NaN/inf (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def paired_difference(a: Sequence[float], b: Sequence[float], *, method_label: str = "") -> Estimate:
    """Mean of ``a - b`` over paired observations, with a paired t-test (pingouin.ttest, paired=True).

    The CI is the t-interval of the mean difference: mean(d) +/- t(0.975, n-1) * sd(d)/sqrt(n).
    """
    import pingouin as pg

    a, b = np.asarray(a, float), np.asarray(b, float)
    n = len(a)
    method = method_label or "paired t-test (pingouin.ttest, paired=True); CI = t-interval of the mean difference"
    if n == 0:
        return Estimate(None, n=0, method=method, reason="no items with both ratings")
    diff = a - b
    est = float(diff.mean())
    if n < 2:
        return Estimate(est, n=n, method=method, reason="fewer than 2 items: no interval")
    if np.allclose(diff, diff[0]):
        # Zero variance: the t statistic is undefined; every item differs by the same amount.
        return Estimate(est, est, est, None, n, method, reason="all differences are identical: no test")
    res = pg.ttest(a, b, paired=True, confidence=CONFIDENCE)
    lo, hi = _ci(res)
    return Estimate(est, lo, hi, _f(_col(res, "p_val", "p-val")), n, method)


def group_difference(values: Sequence[float], in_group: Sequence[bool]) -> Estimate:
    """Mean of ``values`` where ``in_group`` minus mean where not, Welch's t-test (pingouin.ttest, correction=True)."""
    import pingouin as pg

    values = np.asarray(values, float)
    mask = np.asarray(in_group, bool)
    x, y = values[mask], values[~mask]
    method = "Welch two-sample t-test (pingouin.ttest, correction=True); CI of the difference in means"
    extra = {"n_mention": int(len(x)), "n_no_mention": int(len(y))}
    if len(x) == 0 or len(y) == 0:
        return Estimate(None, n=len(values), method=method, extra=extra, reason="needs items both with and without a mention")
    est = float(x.mean() - y.mean())
    if len(x) < 2 or len(y) < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        return Estimate(est, n=len(values), method=method, extra=extra, reason="too few items or no variance: no interval")
    res = pg.ttest(x, y, paired=False, correction=True, confidence=CONFIDENCE)
    lo, hi = _ci(res)
    return Estimate(est, lo, hi, _f(_col(res, "p_val", "p-val")), len(values), method, extra)


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> Estimate:
    """Spearman's rho with a Fisher-z 95% CI and its p-value (pingouin.corr, method='spearman')."""
    import pingouin as pg

    x, y = np.asarray(x, float), np.asarray(y, float)
    method = "Spearman rank correlation (pingouin.corr); CI by Fisher z-transform"
    n = len(x)
    if n < 3:
        return Estimate(None, n=n, method=method, reason="fewer than 3 items")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        which = "the judge's ratings are" if np.ptp(x) == 0 else "the human ratings are"
        return Estimate(None, n=n, method=method, reason=f"{which} constant: no correlation")
    res = pg.corr(x, y, method="spearman")
    lo, hi = _ci(res)
    return Estimate(_f(res["r"].iloc[0]), lo, hi, _f(_col(res, "p_val", "p-val")), n, method)


def proportion(k: int, n: int) -> Estimate:
    """k/n with a Wilson score 95% interval (scipy.stats.binomtest(...).proportion_ci)."""
    from scipy.stats import binomtest

    method = "proportion with Wilson score interval (scipy.stats.binomtest)"
    if n == 0:
        return Estimate(None, n=0, method=method, extra={"k": 0}, reason="no items")
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return Estimate(k / n, float(ci.low), float(ci.high), None, n, method, {"k": int(k)})


def _col(res, *names):
    for name in names:
        if name in res:
            return res[name].iloc[0]
    raise KeyError(names)


def _ci(res) -> tuple[float | None, float | None]:
    lo, hi = _col(res, "CI95", "CI95%")
    return _f(lo), _f(hi)


# --- the audit's named measures -------------------------------------------------------------


def inflation(judge: Sequence[float], human_mean: Sequence[float]) -> Estimate:
    """Judge rating minus the item's mean human rating, averaged over items (paired t-test).

    Positive: the judge likes personalized answers more than people do.
    """
    return paired_difference(judge, human_mean)


def mention_delta(ratings: Sequence[float], mention: Sequence[bool]) -> Estimate:
    """Mean rating of items whose personalized answer explicitly names an attribute minus the rest."""
    return group_difference(ratings, mention)


def no_better_rate(human_mean: Sequence[float]) -> Estimate:
    """Share of items whose mean human rating is <= 3 (personalized answer judged no better)."""
    h = np.asarray(human_mean, float)
    return proportion(int((h <= 3).sum()), len(h))


def habit_bias(habits: dict[str, float], deltas: dict[str, float]) -> dict:
    """Spearman correlation across models of generator habit (mention rate) vs judge mention delta.

    Null with a ``reason`` when fewer than 3 models have both numbers.
    """
    from scipy.stats import spearmanr

    models = sorted(m for m in habits if m in deltas and habits[m] is not None and deltas[m] is not None)
    out = {"spearman_r": None, "p_value": None, "n_models": len(models), "models": models,
           "method": "Spearman rank correlation across models (scipy.stats.spearmanr)"}
    if len(models) < 3:
        out["reason"] = f"needs at least 3 models with both a generator habit and a judge mention delta (have {len(models)})"
        return out
    h = [habits[m] for m in models]
    d = [deltas[m] for m in models]
    if np.ptp(h) == 0 or np.ptp(d) == 0:
        out["reason"] = "habits or mention deltas are all equal: no correlation"
        return out
    res = spearmanr(h, d)
    out["spearman_r"], out["p_value"] = _f(res.statistic), _f(res.pvalue)
    return out


def rating_distribution(ratings: Sequence[float]) -> dict:
    """Counts of each rounded rating 1..5, the modal share and the standard deviation."""
    r = np.rint(np.asarray(ratings, float)).astype(int)
    counts = {str(k): int((r == k).sum()) for k in range(1, 6)}
    n = len(r)
    modal = max(counts.values()) / n if n else None
    return {"counts": counts, "modal_share": modal, "sd": _f(np.std(ratings, ddof=1)) if n > 1 else None, "n": n}
