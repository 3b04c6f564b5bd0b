"""How much worse a new judge is than a baseline judge on the same items, with a paired cluster
bootstrap: the statistic behind ``judge-audit check --baseline``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from audit.stats.bootstrap import ClusterBootstrap, interval, percentile_p_value
from audit.stats.estimate import Estimate

METRICS = ("inflation", "mention_gap", "spearman", "position_flip_rate")


def group_delta(x: np.ndarray, m: np.ndarray) -> float:
    """mean(x | m) - mean(x | not m); NaN when a group is empty."""
    if m.all() or not m.any():
        return math.nan
    return float(x[m].mean() - x[~m].mean())


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho = Pearson's r of the average ranks (what scipy.stats.spearmanr computes, without its
    per-call overhead, which dominates inside a bootstrap loop); NaN below 3 rows or for constant input."""
    from scipy.stats import rankdata

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def badness(metric: str, cols: dict[str, np.ndarray], which: str) -> float:
    """How bad one judge is on one metric; larger = worse (Spearman enters with a minus sign)."""
    h, m = cols["human_mean"], cols["mention"]
    if metric == "inflation":
        return abs(float(np.mean(cols[which] - h)))
    if metric == "mention_gap":
        return abs(group_delta(cols[which] - h, m))
    if metric == "spearman":
        return -spearman_rho(cols[which], h)
    if metric == "position_flip_rate":
        return float(np.mean(cols[f"flip_{which}"]))
    raise ValueError(f"unknown metric {metric!r}")


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def paired_judge_difference(frame: pd.DataFrame, metric: str, *, n_resamples: int = 2000, seed: int = 0) -> Estimate:
    """How much worse the new judge is than the baseline on the same items, with a cluster bootstrap CI.

    ``frame`` has one row per item rated by both judges: ``new``, ``base`` (their ratings),
    ``human_mean``, ``mention`` (bool), ``cluster`` (the user, else the item) and, for
    ``position_flip_rate``, ``flip_new`` / ``flip_base`` (0/1 per item).

    The estimate is badness(new) - badness(base), positive = the new judge is worse:

    - ``inflation``: |mean(new - human)| - |mean(base - human)|
    - ``mention_gap``: |delta(new - human)| - |delta(base - human)|, delta = mean over items with
      a mention minus mean over the rest (= |judge mention delta - human mention delta|)
    - ``spearman``: rho(base, human) - rho(new, human)
    - ``position_flip_rate``: flip rate(new) - flip rate(base)

    Method: the nonparametric cluster bootstrap of every judge-audit interval
    (:class:`audit.stats.bootstrap.ClusterBootstrap`; Davison & Hinkley 1997, sec. 3.8; Field & Welsh
    2007): users are resampled with replacement, each resample keeping all of a user's items for both
    judges, so the judges stay paired and within-user correlation is respected. Percentile 95% CI and
    the one validity rule (:func:`audit.stats.bootstrap.percentile_ci`: resamples on which the
    statistic is undefined are dropped; below 90% defined, no CI). The two-sided p-value of "no
    difference" is the bootstrap percentile p (:func:`audit.stats.bootstrap.percentile_p_value`), so
    p < 0.05 agrees with 0 lying outside the CI.
    """
    method = (f"paired cluster bootstrap (users resampled, B={n_resamples}, seed={seed}; percentile CI) of "
              "badness(new) - badness(baseline); two-sided bootstrap p-value")
    need = ["new", "base", "human_mean", "mention", "cluster"] + (["flip_new", "flip_base"] if metric == "position_flip_rate" else [])
    missing = [c for c in need if c not in frame]
    if missing:
        return Estimate(None, n=0, method=method, reason=f"not measured for both judges ({', '.join(missing)} missing)")
    data = frame.dropna(subset=need)
    n = len(data)
    if n == 0:
        return Estimate(None, n=0, method=method, reason="no items rated by both judges and by humans")
    cols = {c: data[c].to_numpy(bool if c == "mention" else float) for c in need if c != "cluster"}
    clusters = data["cluster"].astype(str).to_numpy()
    n_clusters = len(set(clusters))
    new_bad, base_bad = badness(metric, cols, "new"), badness(metric, cols, "base")
    est = new_bad - base_bad
    sign = -1.0 if metric == "spearman" else 1.0  # report rho itself, not its badness
    extra = {"new": _finite(sign * new_bad), "baseline": _finite(sign * base_bad),
             "n_clusters": int(n_clusters), "direction": "positive = new judge worse"}
    if not math.isfinite(est):
        return Estimate(None, n=n, method=method, extra=extra,
                        reason="undefined on these items (constant ratings or no items with/without a mention)")
    if n_clusters < 3:
        return Estimate(est, n=n, method=method, extra=extra, reason=f"only {n_clusters} clusters: no interval")
    boot = ClusterBootstrap(clusters, n_reps=n_resamples, seed=seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = np.array([badness(metric, sub, "new") - badness(metric, sub, "base")
                         for sub in ({c: v[idx] for c, v in cols.items()}
                                     for idx in boot.index_resamples(boot.codes(clusters)))])
    lo, hi, n_valid, reason = interval(reps)
    extra["n_resamples_valid"] = int(n_valid)
    if lo is None:
        return Estimate(est, n=n, method=method, extra=extra, reason=reason)
    return Estimate(est, lo, hi, percentile_p_value(reps), n, method, extra)
