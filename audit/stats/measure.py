"""Stage 4: the statistics. Pure functions: arrays or DataFrames in, an :class:`Estimate` out.

No I/O and no rounding here (round once, when presenting). Every function names its method.

Uncertainty (docs/METHODS.md): every estimate of the audit carries a 95% CI from the cluster
bootstrap of :mod:`audit.stats.bootstrap` (clusters = users when known, else items; seeded; percentile
interval). Its p-value is the textbook test named in ``method`` (pingouin / scipy) when every
cluster holds a single item; when items share clusters, those tests would treat dependent items
as independent, so the p-value is then a Wald test with the cluster-bootstrap standard error
(t with clusters - 1 df; Cameron, Gelbach & Miller 2008), and ``method`` says so.

Scale: 1 = generic much better ... 3 = no difference ... 5 = personalized much better.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from audit.stats.bootstrap import DEFAULT_REPS, ClusterBootstrap, percentile_ci, ratio
from audit.stats.estimate import (Estimate, bootstrap_estimate, bootstrap_method, finite, group_difference_replicates,
                                 mean_replicates, pingouin_value, resolve_bootstrap)

EXACT_PERMUTATION_MAX_MODELS = 8  # up to 8! = 40320 orderings: enumerate them all
PERMUTATION_RESAMPLES = 9999



# --- the cluster-bootstrap machinery shared by the named measures ------------------------------


# --- the audit's named measures -------------------------------------------------------------


def inflation(judge: Sequence[float], human_mean: Sequence[float], *, clusters: Sequence | None = None,
              boot: ClusterBootstrap | None = None, seed: int = 0) -> Estimate:
    """Judge rating minus the item's mean human rating, averaged over items.

    inflation = (1/n) sum_i (J_i - H_i). Positive: the judge likes personalized answers more than
    people do. CI: cluster bootstrap; p: paired t-test (pingouin.ttest, paired=True) of J vs H.

    Parameters
    ----------
    judge, human_mean : sequences of length n
        Per item: the judge's rating (mean over its orders/samples) and the mean human rating.
    clusters : sequence, optional
        Per item: its cluster (user) label; default each item its own cluster.
    boot : ClusterBootstrap, optional
        A shared resampling plan (needs ``clusters``); default a new one seeded with ``seed``.
    """
    import pingouin as pg

    a, b = np.asarray(judge, float), np.asarray(human_mean, float)
    n = len(a)
    what = "mean over items of judge rating - mean human rating"
    test = "paired t-test (pingouin.ttest, paired=True)"
    if n == 0:
        return Estimate(None, n=0, method=what, reason="no items with both ratings")
    boot, labels = resolve_bootstrap(n, clusters, boot, seed)
    d = a - b
    est = float(d.mean())
    if n < 2:
        return bootstrap_estimate(est, None, boot=boot, labels=labels, n=n, what=what,
                                  reason="fewer than 2 items: no interval")
    reps = mean_replicates(d, boot, labels)
    if np.ptp(d) == 0:
        return Estimate(est, est, est, None, n, f"{what}; {bootstrap_method(boot)}", {"n_clusters": len(set(labels))},
                        "all differences are identical: no test")
    return bootstrap_estimate(est, reps, boot=boot, labels=labels, n=n, what=what, test=test,
                              classical_p=lambda: pingouin_value(pg.ttest(a, b, paired=True), "p_val", "p-val"))


def mention_delta(ratings: Sequence[float], mention: Sequence[bool], *, clusters: Sequence | None = None,
                  boot: ClusterBootstrap | None = None, seed: int = 0) -> Estimate:
    """Mean rating of items whose personalized answer explicitly names an attribute minus the rest.

    delta = mean(R_i | mention) - mean(R_i | no mention). CI: cluster bootstrap; p: Welch's
    two-sample t-test (pingouin.ttest, correction=True), which does not assume equal variances.
    """
    import pingouin as pg

    values, mask = np.asarray(ratings, float), np.asarray(mention, bool)
    n = len(values)
    x, y = values[mask], values[~mask]
    what = "mean rating of items with an explicit mention - mean rating of items without"
    test = "Welch two-sample t-test (pingouin.ttest, correction=True)"
    extra = {"n_mention": int(len(x)), "n_no_mention": int(len(y))}
    if len(x) == 0 or len(y) == 0:
        return Estimate(None, n=n, method=what, extra=extra, reason="needs items both with and without a mention")
    boot, labels = resolve_bootstrap(n, clusters, boot, seed)
    est = float(x.mean() - y.mean())
    if len(x) < 2 or len(y) < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        return bootstrap_estimate(est, None, boot=boot, labels=labels, n=n, what=what, extra=extra,
                                  reason="too few items or no variance: no interval")
    reps = group_difference_replicates(values, mask, boot, labels)
    return bootstrap_estimate(est, reps, boot=boot, labels=labels, n=n, what=what, test=test, extra=extra,
                              classical_p=lambda: pingouin_value(pg.ttest(x, y, correction=True), "p_val", "p-val"))


def excess_mention_uplift(judge: Sequence[float], human_mean: Sequence[float], mention: Sequence[bool], *,
                          clusters: Sequence | None = None, boot: ClusterBootstrap | None = None,
                          seed: int = 0) -> Estimate:
    """The judge's mention delta minus the humans' mention delta, on the same items.

    With d_i = J_i - H_i: uplift = mean(d | mention) - mean(d | no mention)
    = delta_judge - delta_human exactly. Positive: the judge rewards explicit mentions more than
    people do, beyond any real quality difference of mention answers (which moves H as well).
    CI: cluster bootstrap; p: Welch's t-test on d between the two groups (pingouin.ttest).
    """
    a, b = np.asarray(judge, float), np.asarray(human_mean, float)
    mask = np.asarray(mention, bool)
    est = mention_delta(a - b, mask, clusters=clusters, boot=boot, seed=seed)
    judge_delta = a[mask].mean() - a[~mask].mean() if mask.any() and (~mask).any() else None
    human_delta = b[mask].mean() - b[~mask].mean() if mask.any() and (~mask).any() else None
    method = est.method.replace(
        "mean rating of items with an explicit mention - mean rating of items without",
        "judge mention delta - human mention delta on the same items = mean(judge - human | mention) "
        "- mean(judge - human | no mention)")
    extra = {**est.extra, "judge_delta": finite(judge_delta), "human_delta": finite(human_delta)}
    return Estimate(est.estimate, est.ci_low, est.ci_high, est.p_value, est.n, method, extra, est.reason)


def mention_slope(judge: Sequence[float], human_mean: Sequence[float], mention: Sequence[bool],
                  generator: Sequence[str] | None = None, *, clusters: Sequence | None = None,
                  boot: ClusterBootstrap | None = None, seed: int = 0) -> Estimate:
    """OLS slope of (judge - human rating) on the mention flag, with generator fixed effects.

    Model: d_i = a_g(i) + beta * mention_i + e_i (pingouin.linear_regression; one intercept per
    generator when there are several). By Frisch-Waugh-Lovell,
    beta = sum_g sum_{i in g} (m_i - mbar_g)(d_i - dbar_g) / sum_g sum_{i in g} (m_i - mbar_g)^2,
    i.e. the mention gap *within* generators, so a generator that both names attributes often
    and writes better answers cannot produce it. With one generator beta equals
    :func:`excess_mention_uplift`. CI: cluster bootstrap of beta; p: the t-test of the
    coefficient (pingouin.linear_regression).
    """
    import pandas as pd
    import pingouin as pg

    d = np.asarray(judge, float) - np.asarray(human_mean, float)
    m = np.asarray(mention, float)
    n = len(d)
    gens = np.asarray(["all"] * n if generator is None else [str(g) for g in generator], dtype=object)
    levels, g = np.unique(gens, return_inverse=True)
    fe = len(levels) > 1
    what = ("OLS slope of (judge - mean human rating) on the mention flag"
            + (f" with generator fixed effects ({len(levels)} generators)" if fe else ""))
    test = "t-test of the coefficient (pingouin.linear_regression)"
    # per generator sums: n_g, sum m, sum d, sum m*d  (m*m = m)
    cols = np.zeros((n, 4 * len(levels)))
    for k, q in enumerate((np.ones(n), m, d, m * d)):
        cols[np.arange(n), g * 4 + k] = q

    def beta(sums: np.ndarray) -> np.ndarray:
        s = sums.reshape(sums.shape[0], len(levels), 4)
        ng, sm, sd, smd = s[..., 0], s[..., 1], s[..., 2], s[..., 3]
        with np.errstate(invalid="ignore", divide="ignore"):
            num = np.where(ng > 0, smd - sm * sd / np.where(ng > 0, ng, 1), 0.0).sum(axis=1)
            den = np.where(ng > 0, sm - sm**2 / np.where(ng > 0, ng, 1), 0.0).sum(axis=1)
        return ratio(num, np.where(den > 1e-12, den, 0.0))

    if n == 0:
        return Estimate(None, n=0, method=what, reason="no items with both ratings")
    boot, labels = resolve_bootstrap(n, clusters, boot, seed)
    est = float(beta(cols.sum(axis=0)[None, :])[0])
    extra = {"n_generators": int(len(levels))}
    if not math.isfinite(est):
        return bootstrap_estimate(None, None, boot=boot, labels=labels, n=n, what=what, extra=extra,
                                  reason="the mention flag does not vary within any generator")
    reps = beta(boot.sums(cols, labels))

    def classical() -> float | None:
        X = pd.DataFrame({"mention": m})
        if fe:
            dummies = pd.get_dummies(pd.Series(gens), drop_first=True, dtype=float)
            X = pd.concat([X, dummies.add_prefix("gen_")], axis=1)
        res = pg.linear_regression(X, d, add_intercept=True)
        return res.loc[res["names"] == "mention", "pval"].iloc[0]

    if n - 1 - len(levels) < 1:
        return bootstrap_estimate(est, reps, boot=boot, labels=labels, n=n, what=what, extra=extra)
    return bootstrap_estimate(est, reps, boot=boot, labels=labels, n=n, what=what, test=test, extra=extra,
                              classical_p=classical)


def rate(indicator: Sequence[bool], *, clusters: Sequence | None = None, boot: ClusterBootstrap | None = None,
         seed: int = 0, what: str = "share of items") -> Estimate:
    """Share of rows where ``indicator`` is true, with a cluster-bootstrap 95% CI (no p-value)."""
    x = np.asarray(indicator, bool)
    n = len(x)
    if n == 0:
        return Estimate(None, n=0, method=what, extra={"k": 0}, reason="no items")
    boot, labels = resolve_bootstrap(n, clusters, boot, seed)
    reps = mean_replicates(x.astype(float), boot, labels)
    return bootstrap_estimate(float(x.mean()), reps, boot=boot, labels=labels, n=n, what=what,
                              extra={"k": int(x.sum())})


def no_better_rate(human_mean: Sequence[float], *, clusters: Sequence | None = None,
                   boot: ClusterBootstrap | None = None, seed: int = 0) -> Estimate:
    """Share of items whose mean human rating is <= 3 (personalized answer judged no better)."""
    h = np.asarray(human_mean, float)
    return rate(h <= 3, clusters=clusters, boot=boot, seed=seed,
                what="share of items whose mean human rating is <= 3 (personalized no better than generic)")


def rank_correlation(x: Sequence[float], y: Sequence[float], *, method: str = "spearman",
                     clusters: Sequence | None = None, boot: ClusterBootstrap | None = None,
                     seed: int = 0) -> Estimate:
    """Spearman's rho (default) or Kendall's tau-b between x and y (pingouin.corr).

    The point estimate and, with one item per cluster, the p-value are pingouin.corr's; the CI is
    the cluster bootstrap, each resample's coefficient computed from its contingency table
    (:func:`audit.stats.agreement.spearman_from_tables` / ``kendall_from_tables``; identical to scipy).
    """
    import pingouin as pg

    from audit.stats.agreement import kendall_from_tables, spearman_from_tables

    if method not in ("spearman", "kendall"):
        raise ValueError("method must be 'spearman' or 'kendall'")
    x, y = np.asarray(x, float), np.asarray(y, float)
    name = "Spearman rank correlation" if method == "spearman" else "Kendall rank correlation (tau-b)"
    what = f"{name} (pingouin.corr, method={method!r})"
    test = f"pingouin.corr {method} test"
    n = len(x)
    if n < 3:
        return Estimate(None, n=n, method=what, reason="fewer than 3 items")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        which = "the judge's ratings are" if np.ptp(x) == 0 else "the human ratings are"
        return Estimate(None, n=n, method=what, reason=f"{which} constant: no correlation")
    boot, labels = resolve_bootstrap(n, clusters, boot, seed)
    res = pg.corr(x, y, method=method)
    kernel = spearman_from_tables if method == "spearman" else kendall_from_tables
    reps = table_replicates(x, y, boot, labels, kernel)
    return bootstrap_estimate(finite(res["r"].iloc[0]), reps, boot=boot, labels=labels, n=n, what=what, test=test,
                              classical_p=lambda: pingouin_value(res, "p_val", "p-val"))


def table_replicates(x: np.ndarray, y: np.ndarray, boot: ClusterBootstrap, labels: list[str],
                     kernel: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Bootstrap replicates of a statistic of the (x value, y value) contingency table."""
    from audit.stats.bootstrap import one_hot

    xs, ix = np.unique(x, return_inverse=True)
    ys, iy = np.unique(y, return_inverse=True)
    sums = boot.sums(one_hot(ix * len(ys) + iy, len(xs) * len(ys)), labels)
    return kernel(sums.reshape(-1, len(xs), len(ys)))


def holm(p_values: dict[str, float | None]) -> dict[str, float | None]:
    """Holm (1979) step-down adjusted p-values across a family (pingouin.multicomp, method='holm').

    Missing p-values (None) stay None and are not counted in the family.
    """
    import pingouin as pg

    names = [k for k, p in p_values.items() if p is not None and math.isfinite(p)]
    out: dict[str, float | None] = {k: None for k in p_values}
    if names:
        _, adj = pg.multicomp([p_values[k] for k in names], method="holm")
        out.update({k: float(v) for k, v in zip(names, np.atleast_1d(adj))})
    return out


def habit_bias(habits: dict[str, float], deltas: dict[str, float], *, seed: int = 0,
               n_boot: int = DEFAULT_REPS) -> dict:
    """Spearman correlation across models of generator habit (mention rate) vs judge mention delta.

    p-value: permutation test of the pairing (scipy.stats.permutation_test,
    permutation_type='pairings', two-sided): exact, enumerating all n! pairings, for
    n <= 8 models; otherwise 9999 seeded random pairings. CI: percentile bootstrap over models
    (resampled with replacement; resamples with a constant variable are left out).
    Null with a ``reason`` when fewer than 3 models have both numbers.
    """
    from scipy.stats import permutation_test, rankdata, spearmanr

    models = sorted(m for m in habits if m in deltas and habits[m] is not None and deltas[m] is not None)
    n = len(models)
    method = "Spearman rank correlation across models (scipy.stats.spearmanr)"
    out = {"estimate": None, "ci": None, "p_value": None, "n": n, "spearman_r": None, "n_models": n,
           "models": models, "method": method}
    if n < 3:
        out["reason"] = f"needs at least 3 models with both a generator habit and a judge mention delta (have {n})"
        return out
    h = np.asarray([habits[m] for m in models], float)
    d = np.asarray([deltas[m] for m in models], float)
    if np.ptp(h) == 0 or np.ptp(d) == 0:
        out["reason"] = "habits or mention deltas are all equal: no correlation"
        return out
    r = float(spearmanr(h, d).statistic)

    def rho(x, y, axis=-1):
        rx, ry = rankdata(x, axis=axis), rankdata(y, axis=axis)
        rx = rx - rx.mean(axis=axis, keepdims=True)
        ry = ry - ry.mean(axis=axis, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (rx * ry).sum(axis=axis) / np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum(axis=axis))

    exact = n <= EXACT_PERMUTATION_MAX_MODELS
    perm = permutation_test((h, d), rho, permutation_type="pairings", vectorized=True,
                            n_resamples=np.inf if exact else PERMUTATION_RESAMPLES, alternative="two-sided",
                            rng=np.random.default_rng(seed))
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    lo, hi, n_valid = percentile_ci(rho(h[idx], d[idx], axis=1))
    p_text = (f"exact permutation test over all {math.factorial(n)} pairings" if exact
              else f"Monte Carlo permutation test ({PERMUTATION_RESAMPLES} seeded pairings)")
    out.update({
        "estimate": r, "spearman_r": r, "p_value": finite(perm.pvalue), "ci": None if lo is None else [lo, hi],
        "n_boot_valid": n_valid,
        "method": (f"{method}; p: {p_text} (scipy.stats.permutation_test, permutation_type='pairings'); "
                   f"95% CI: percentile bootstrap over models ({n_boot} resamples, seed {seed})"),
    })
    if lo is None:
        out["reason"] = "too few models for a bootstrap interval"
    return out


def rating_distribution(ratings: Sequence[float]) -> dict:
    """Counts of each rounded rating 1..5, the modal share and the standard deviation."""
    r = np.rint(np.asarray(ratings, float)).astype(int)
    counts = {str(k): int((r == k).sum()) for k in range(1, 6)}
    n = len(r)
    modal = max(counts.values()) / n if n else None
    return {"counts": counts, "modal_share": modal, "sd": finite(np.std(ratings, ddof=1)) if n > 1 else None, "n": n}


def group_means(values: Sequence[float], groups: Sequence, *, clusters: Sequence | None = None,
                boot: ClusterBootstrap | None = None, seed: int = 0, what: str = "mean rating") -> dict[str, Estimate]:
    """The mean of ``values`` within each group (e.g. each generator), with a 95% cluster-bootstrap
    percentile interval per group: each group's mean is the ratio of resampled sums (Davison &
    Hinkley 1997, sec. 3.8). No p-value (nothing is tested). Groups in sorted order."""
    v = np.asarray(values, float)
    g = np.asarray([str(x) for x in groups], dtype=object)
    keep = np.isfinite(v)
    v, g = v[keep], g[keep]
    boot, labels = resolve_bootstrap(len(keep), clusters, boot, seed)
    labels = [lab for lab, k in zip(labels, keep) if k]
    out = {}
    for name in sorted(set(g)):
        m = g == name
        r = boot.sums(np.column_stack([np.where(m, v, 0.0), m.astype(float)]), labels)
        reps = ratio(r[:, 0], r[:, 1])
        out[str(name)] = bootstrap_estimate(float(v[m].mean()), reps, boot=boot, labels=[lab for lab, k in zip(labels, m) if k],
                                            n=int(m.sum()), what=f"{what} of the group's items")
    return out


def rating_shares(ratings: Sequence[float]) -> dict:
    """The share of single ratings at each point 1..5 (rounded) and their number ``n``."""
    r = np.rint(np.asarray([x for x in ratings if x is not None], float)).astype(int)
    n = len(r)
    return {**{str(k): (float((r == k).sum()) / n if n else 0.0) for k in range(1, 6)}, "n": int(n)}
