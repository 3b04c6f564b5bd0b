"""Judge-study correlations the way published meta-evaluations report them (``judge-audit study
--form absolute``): Pearson beside the rank correlations, Cohen's kappa on integer scales, and the
same statistics computed within groups and averaged.

* **Pearson r** (pooled over items, "dataset level"): pingouin.corr(method="pearson"); CI by the run's
  cluster bootstrap from each resample's summed moments (n, Σx, Σy, Σx², Σy², Σxy).
* **Cohen's kappa** of the judge's rating vs the human rating, unweighted, linear and quadratic
  (Cohen 1960, 1968), on the scale's integer categories: only when every rating is an integer on the
  scale and each item has exactly one human rating (otherwise a ``reason``); CI by the cluster
  bootstrap of the (judge, human) contingency table (:func:`audit.stats.agreement.kappa_from_tables`).
* **Averaged over groups** ("summary level" when the group is the source document / dialogue context,
  ``--average-over cluster``; per system, ``--average-over system``): each statistic is computed within
  every group, groups where it is undefined (fewer than 2 items, or constant ratings on either side) are
  skipped and counted, and the defined values are averaged with equal weight per group. CI: groups
  resampled with replacement (percentile, the same bootstrap machinery over groups).
  G-Eval (Liu et al. 2023) and the SummEval meta-evaluation report summary-level Spearman/Kendall this
  way; Topical-Chat/USR-style studies report turn-level (pooled) correlations, i.e. the pooled numbers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from audit.stats.agreement import cohen_kappa, kappa_from_tables
from audit.stats.bootstrap import ClusterBootstrap, interval, one_hot
from audit.stats.estimate import Estimate

KAPPA_WEIGHTS = {"unweighted": None, "linear": "linear", "quadratic": "quadratic"}


def _pearson_from_moments(s: np.ndarray) -> np.ndarray:
    n, sx, sy, sxx, syy, sxy = (s[:, k] for k in range(6))
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sy / n
        return cov / np.sqrt((sxx - sx**2 / n) * (syy - sy**2 / n))


def pearson(x: Sequence[float], y: Sequence[float], *, clusters: Sequence, boot: ClusterBootstrap) -> Estimate:
    """Pearson r of x and y (pingouin.corr) with a cluster-bootstrap percentile CI."""
    import pingouin as pg

    x, y = np.asarray(x, float), np.asarray(y, float)
    what = (f"Pearson correlation (pingouin.corr); 95% CI: cluster bootstrap percentile interval "
            f"(B={boot.n_reps}, seed={boot.seed}); p: pingouin.corr test")
    n = len(x)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Estimate(None, n=n, method=what, reason="fewer than 3 items" if n < 3 else "constant ratings: no correlation")
    res = pg.corr(x, y, method="pearson")
    moments = np.column_stack([np.ones(n), x, y, x * x, y * y, x * y])
    reps = _pearson_from_moments(boot.resample(boot.cluster_sums(moments, clusters)))
    lo, hi, n_valid, why = interval(reps)
    p = float(res["p_val" if "p_val" in res else "p-val"].iloc[0])
    return Estimate(float(res["r"].iloc[0]), lo, hi, p, n, what, {"n_boot_valid": int(n_valid)}, why)


def kappas(x: Sequence[float], y: Sequence[float], scale: tuple[float, float], *, clusters: Sequence,
           boot: ClusterBootstrap, one_rating_per_item: bool = True) -> dict:
    """``{"unweighted", "linear", "quadratic"}`` Cohen's kappa Estimates of x (judge) vs y (human) on the
    integer categories low..high of ``scale``; ``{"reason": ...}`` when kappa does not apply."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    low, high = int(scale[0]), int(scale[1])
    if not one_rating_per_item:
        return {"reason": "items have several human ratings: kappa needs one human rating per item"}
    if scale[0] != low or scale[1] != high or not all(np.all((v == np.round(v)) & (v >= low) & (v <= high)) for v in (x, y)):
        return {"reason": "kappa needs integer ratings on the scale for the judge and the human"}
    if len(x) < 2:
        return {"reason": "fewer than 2 items"}
    labels = list(range(low, high + 1))
    k = len(labels)
    cells = one_hot((x - low).astype(int) * k + (y - low).astype(int), k * k)
    sums = boot.resample(boot.cluster_sums(cells, clusters)).reshape(-1, k, k)
    out = {}
    for name, w in KAPPA_WEIGHTS.items():
        point = cohen_kappa(x, y, weights=w, labels=labels)
        lo, hi, n_valid, why = interval(kappa_from_tables(sums, w))
        what = (f"Cohen's kappa ({name}{'' if w is None else ' weights'}; categories {low}..{high}); 95% CI: cluster "
                f"bootstrap percentile interval (B={boot.n_reps}, seed={boot.seed})")
        out[name] = Estimate(point if np.isfinite(point) else None, lo, hi, None, len(x), what,
                             {"n_boot_valid": int(n_valid)}, why if np.isfinite(point) else "undefined (no variation)").to_dict()
    return out


def averaged_over(x: Sequence[float], y: Sequence[float], groups: Sequence, statistic, *, n_resamples: int = 2000,
                  seed: int = 0, what: str = "") -> dict:
    """``statistic(x_g, y_g)`` within each group (None/NaN = undefined: the group is skipped and counted),
    averaged over the groups where it is defined; a percentile CI from resampling groups."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    g = np.asarray([str(v) for v in groups], dtype=object)
    values, skipped = {}, 0
    for name in sorted(set(g)):
        m = g == name
        v = None
        if m.sum() >= 2 and np.ptp(x[m]) > 0 and np.ptp(y[m]) > 0:
            v = statistic(x[m], y[m])
        if v is None or not np.isfinite(v):
            skipped += 1
        else:
            values[name] = float(v)
    method = (f"{what} within each group, averaged over the groups where it is defined (equal weight); "
              f"95% CI: groups resampled with replacement (B={n_resamples}, seed={seed}), percentile interval")
    if not values:
        return {"estimate": None, "ci": None, "n_groups": 0, "n_groups_skipped": skipped, "method": method,
                "reason": "defined in no group (each needs 2 or more items and varying ratings on both sides)"}
    names = list(values)
    v = np.array([values[n] for n in names])
    boot = ClusterBootstrap(names, n_reps=n_resamples, seed=seed)
    sums = boot.resample(boot.cluster_sums(np.column_stack([v, np.ones(len(v))]), names))
    with np.errstate(invalid="ignore", divide="ignore"):
        lo, hi, _, why = interval(sums[:, 0] / sums[:, 1])
    return {"estimate": float(v.mean()), "ci": None if lo is None else [lo, hi], "n_groups": len(v),
            "n_groups_skipped": skipped, "method": method, **({"reason": why} if why else {})}


def _rank_corr_reps(mx: np.ndarray, my: np.ndarray, method: str) -> np.ndarray:
    """Correlation across the last axis of each row of (B, S) arrays (NaN where a row has a NaN)."""
    from scipy.stats import rankdata

    bad = np.isnan(mx).any(axis=1) | np.isnan(my).any(axis=1)
    mx, my = np.nan_to_num(mx), np.nan_to_num(my)
    if method == "kendall":  # tau-b from the signs of all pairwise differences
        dx = np.sign(mx[:, :, None] - mx[:, None, :])
        dy = np.sign(my[:, :, None] - my[:, None, :])
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (dx * dy).sum(axis=(1, 2)) / np.sqrt((dx != 0).sum(axis=(1, 2)) * (dy != 0).sum(axis=(1, 2)))
    else:
        if method == "spearman":
            mx, my = rankdata(mx, axis=1), rankdata(my, axis=1)
        xc, yc = mx - mx.mean(axis=1, keepdims=True), my - my.mean(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (xc * yc).sum(axis=1) / np.sqrt((xc**2).sum(axis=1) * (yc**2).sum(axis=1))
    return np.where(bad, np.nan, r)


def system_level(x: Sequence[float], y: Sequence[float], systems: Sequence, *, clusters: Sequence,
                 boot: ClusterBootstrap) -> dict:
    """The "system level" of meta-evaluation papers: one correlation over the per-system means of the
    judge (x) and of the human ratings (y). ``{"n_systems", "pearson", "spearman", "kendall"}``, each
    an Estimate dict (scipy.stats pearsonr / spearmanr / kendalltau tau-b on the means; CI: the cluster
    bootstrap, per-system means recomputed from each resample's per-cluster sums)."""
    from scipy import stats as st

    x, y = np.asarray(x, float), np.asarray(y, float)
    s = np.asarray([str(v) for v in systems], dtype=object)
    names = sorted(set(s))
    code = np.searchsorted(np.asarray(names, dtype=object), s)
    k = len(names)
    mx = np.array([x[code == i].mean() for i in range(k)])
    my = np.array([y[code == i].mean() for i in range(k)])
    out: dict = {"n_systems": k, "systems": {n: {"judge_mean": float(a), "human_mean": float(b)}
                                            for n, a, b in zip(names, mx, my)}}
    cells = one_hot(code, k)
    sums = boot.resample(boot.cluster_sums(np.hstack([cells.toarray(), cells.toarray() * x[:, None],
                                                      cells.toarray() * y[:, None]]), clusters))
    with np.errstate(invalid="ignore", divide="ignore"):
        rx, ry = sums[:, k:2 * k] / sums[:, :k], sums[:, 2 * k:] / sums[:, :k]
    fns = {"pearson": st.pearsonr, "spearman": st.spearmanr, "kendall": st.kendalltau}
    for method, fn in fns.items():
        what = (f"{method.capitalize()} correlation over per-system means (scipy.stats.{fn.__name__}); 95% CI: cluster "
                f"bootstrap percentile interval (B={boot.n_reps}, seed={boot.seed}), system means recomputed per resample")
        if k < 3 or np.ptp(mx) == 0 or np.ptp(my) == 0:
            out[method] = Estimate(None, n=k, method=what, reason="fewer than 3 systems" if k < 3 else
                                   "constant system means: no correlation").to_dict()
            continue
        res = fn(mx, my)
        lo, hi, n_valid, why = interval(_rank_corr_reps(rx, ry, method))
        out[method] = Estimate(float(res.statistic), lo, hi, float(res.pvalue), k, what,
                               {"n_boot_valid": int(n_valid)}, why).to_dict()
    return out
