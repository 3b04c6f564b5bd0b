"""Statistics of the relevance audit. Pure functions: arrays in, :class:`~audit.stats.measure.Estimate` out.

Which attributes should change an answer? For each (attribute, prompt) pair we have labels from
several annotators and judges (True = relevant). The numbers (after arXiv 2606.06614, Sec. 5):

- selection rate: the share of labels saying "relevant" (humans: over all their labels);
- over-selection ratio: judge selection rate / human selection rate on the same pairs;
- precision, recall and F1 of a judge against the human majority label;
- pairwise Cohen's kappa between all raters (:mod:`audit.stats.agreement`).

CIs for the ratio and for P/R/F1 come from a cluster bootstrap over users (Davison & Hinkley 1997,
sec. 3.8; Field & Welsh 2007): a user's pairs share the user's profile, so they are resampled
together. Every statistic here is a function of per-user sums, so a resample is a weighted sum of
the users' totals (:class:`audit.stats.bootstrap.ClusterBootstrap`); the interval is the 95% percentile
interval (Efron & Tibshirani 1993, ch. 13) over the resamples on which the statistic is defined,
given only when at least 90% are. No I/O and no rounding here.
"""

from __future__ import annotations

import math
from typing import Callable, Literal, Sequence

import numpy as np
import pandas as pd

from audit.stats.bootstrap import interval, percentile_p_value
from audit.stats.estimate import proportion, Estimate

Ties = Literal["irrelevant", "relevant", "exclude"]
TIE_RULES: tuple[str, ...] = ("irrelevant", "relevant", "exclude")
N_RESAMPLES = 2000


# --- labels --------------------------------------------------------------------------------


def selection_rate(selected: Sequence[bool]) -> Estimate:
    """Share of pairs labelled relevant, with a Wilson score 95% interval.

    Wilson (1927); computed by :func:`audit.stats.measure.proportion` (``scipy.stats.binomtest``).
    Pairs are treated as independent here; the ratio below accounts for clustering by user.
    """
    s = np.asarray(selected, bool)
    est = proportion(int(s.sum()), len(s))
    return Estimate(est.estimate, est.ci_low, est.ci_high, None, est.n,
                    "share of pairs labelled relevant; " + est.method, est.extra, est.reason)


def human_selection_rate(k: Sequence[int], m: Sequence[int]) -> Estimate:
    """Share of all human labels that say relevant: sum(k) / sum(m), with a Wilson 95% interval.

    ``k[i]`` = annotators who marked pair i relevant, ``m[i]`` = annotators who labelled it.
    Labels are treated as independent (Wilson 1927, :func:`audit.stats.measure.proportion`); ``n`` is the
    number of labels, ``n_pairs`` the number of pairs.
    """
    k, m = np.asarray(k, int), np.asarray(m, int)
    est = proportion(int(k.sum()), int(m.sum()))
    return Estimate(est.estimate, est.ci_low, est.ci_high, None, est.n,
                    "share of all human labels that say relevant; " + est.method,
                    {**est.extra, "n_pairs": int(len(k))}, est.reason)


def majority_label(k: Sequence[int], m: Sequence[int], ties: Ties = "irrelevant") -> np.ndarray:
    """The human majority label per pair: 1.0 relevant, 0.0 not, NaN when undefined.

    Relevant when more than half of the pair's annotators say so (2k > m), not relevant when fewer
    than half do (2k < m). A tie (2k == m, only with an even number of annotators) is decided by
    ``ties``: ``"irrelevant"`` (default: no majority says the attribute matters), ``"relevant"``,
    or ``"exclude"`` (NaN: the pair is left out of P/R/F1). Pairs without human labels are NaN.
    """
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {TIE_RULES}, not {ties!r}")
    k, m = np.asarray(k, float), np.asarray(m, float)
    out = np.where(2 * k > m, 1.0, 0.0)
    tie = 2 * k == m
    out = np.where(tie, {"irrelevant": 0.0, "relevant": 1.0, "exclude": np.nan}[ties], out)
    return np.where(m > 0, out, np.nan)


# --- cluster bootstrap over per-user sums --------------------------------------------------


def cluster_sums(values: np.ndarray, clusters: Sequence) -> np.ndarray:
    """Per-cluster column sums of ``values`` (shape ``(n, q)``) -> ``(n_clusters, q)``, clusters sorted."""
    labels, codes = np.unique(np.asarray(clusters).astype(str), return_inverse=True)
    out = np.zeros((len(labels), values.shape[1]), float)
    np.add.at(out, codes, values)
    return out


def bootstrap_sums(per_cluster: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], *,
                   n_resamples: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
    """Bootstrap replicates of ``statistic(column sums)`` with clusters resampled with replacement.

    ``per_cluster``: per-cluster sums from :func:`cluster_sums` (rows in sorted label order);
    ``statistic`` maps sums of shape ``(B, q)`` to ``(B,)``. The resamples are those of
    :class:`audit.stats.bootstrap.ClusterBootstrap` with the same seed and number of clusters (it also
    orders clusters by sorted label), so they match the other cluster-bootstrap CIs of a run.
    Returns the replicate distribution (NaN where the statistic is undefined on a resample).
    """
    from audit.stats.bootstrap import ClusterBootstrap

    boot = ClusterBootstrap([f"{i:09d}" for i in range(len(per_cluster))], n_reps=n_resamples, seed=seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(statistic(boot.resample(per_cluster)), float)


def _boot_method(what: str, n_resamples: int, seed: int) -> str:
    return (f"{what}; 95% CI: cluster bootstrap over users (audit.stats.bootstrap.ClusterBootstrap, B={n_resamples}, "
            f"seed={seed}; percentile interval; Davison & Hinkley 1997 sec. 3.8)")


# --- over-selection ratio ------------------------------------------------------------------


def _ratio(s: np.ndarray) -> np.ndarray:
    # columns: judge selected, pairs, human relevant labels, human labels
    return (s[..., 0] / s[..., 1]) / (s[..., 2] / s[..., 3])


def over_selection_ratio(judge: Sequence[bool], k: Sequence[int], m: Sequence[int], clusters: Sequence, *,
                         n_resamples: int = N_RESAMPLES, seed: int = 0) -> Estimate:
    """Judge selection rate / human selection rate on the same pairs (the over-personalization ratio).

    ratio = (sum_i judge_i / n) / (sum_i k_i / sum_i m_i), over pairs with a judge label and at
    least one human label (``k``, ``m`` as in :func:`human_selection_rate`). 1 = the judge marks
    attributes relevant as often as people do; 2 = twice as often. CI: cluster bootstrap over
    users (percentile); p-value: two-sided bootstrap test of ratio = 1 (Davison & Hinkley 1997).
    """
    j = np.asarray(judge, float)
    k, m = np.asarray(k, float), np.asarray(m, float)
    method = _boot_method("judge selection rate / share of human labels saying relevant, same pairs", n_resamples, seed)
    keep = m > 0
    j, k, m, cl = j[keep], k[keep], m[keep], np.asarray(clusters)[keep]
    n = int(len(j))
    if n == 0:
        return Estimate(None, n=0, method=method, reason="no pairs with both a judge label and human labels")
    totals = np.array([j.sum(), n, k.sum(), m.sum()], float)
    extra = {"judge_rate": float(totals[0] / n), "human_rate": float(totals[2] / totals[3]),
             "n_clusters": int(len(np.unique(cl.astype(str))))}
    if totals[2] == 0:
        return Estimate(None, n=n, method=method, extra=extra, reason="humans marked no pair relevant: ratio undefined")
    est = float(_ratio(totals))
    if extra["n_clusters"] < 3:
        return Estimate(est, n=n, method=method, extra=extra, reason=f"only {extra['n_clusters']} users: no interval")
    per = cluster_sums(np.column_stack([j, np.ones(n), k, m]), cl)
    dist = bootstrap_sums(per, _ratio, n_resamples=n_resamples, seed=seed)
    lo, hi, valid, reason = interval(dist)
    extra["n_resamples_valid"] = valid
    p = None if reason else percentile_p_value(dist, 1.0)
    return Estimate(est, lo, hi, p, n, method, extra, reason)


# --- precision, recall, F1 vs the human majority -------------------------------------------


def _precision(s):
    return s[..., 0] / (s[..., 0] + s[..., 1])


def _recall(s):
    return s[..., 0] / (s[..., 0] + s[..., 2])


def _f1(s):
    return 2 * s[..., 0] / (2 * s[..., 0] + s[..., 1] + s[..., 2])


def confusion(pred: Sequence[bool], truth: Sequence[float]) -> dict[str, int]:
    """tp, fp, fn, tn of ``pred`` against ``truth`` (pairs where truth is NaN are left out)."""
    p, t = np.asarray(pred, float), np.asarray(truth, float)
    keep = ~np.isnan(t) & ~np.isnan(p)
    p, t = p[keep] == 1, t[keep] == 1
    return {"tp": int((p & t).sum()), "fp": int((p & ~t).sum()), "fn": int((~p & t).sum()), "tn": int((~p & ~t).sum())}


def precision_recall_f1(pred: Sequence[bool], truth: Sequence[float], clusters: Sequence, *,
                        n_resamples: int = N_RESAMPLES, seed: int = 0) -> dict[str, Estimate]:
    """Precision, recall and F1 of ``pred`` against the human majority ``truth`` (1/0, NaN = left out).

    precision = tp / (tp + fp), recall = tp / (tp + fn), F1 = 2 tp / (2 tp + fp + fn) (van
    Rijsbergen 1979), relevant = the positive class. Each is undefined (None, with a reason) when
    its denominator is 0. CIs: one cluster bootstrap over users (the same resamples for all three,
    percentile intervals); resamples where a measure is undefined are dropped, and with more than
    10% dropped there is no CI. No p-value (there is no natural null).

    Returns ``{"precision": Estimate, "recall": Estimate, "f1": Estimate}``; each carries the
    confusion counts (``tp, fp, fn, tn``) in its extra fields.
    """
    p, t = np.asarray(pred, float), np.asarray(truth, float)
    cl = np.asarray(clusters)
    keep = ~np.isnan(t) & ~np.isnan(p)
    p, t, cl = p[keep] == 1, t[keep] == 1, cl[keep]
    n = int(len(p))
    counts = confusion(p, t.astype(float))
    cols = np.column_stack([p & t, p & ~t, ~p & t]).astype(float)
    totals = cols.sum(axis=0)
    n_clusters = int(len(np.unique(cl.astype(str))))
    funcs = {"precision": (_precision, "tp / (tp + fp)", "no pair was predicted relevant"),
             "recall": (_recall, "tp / (tp + fn)", "the human majority marks no pair relevant"),
             "f1": (_f1, "2 tp / (2 tp + fp + fn)", "no pair is relevant by either the judge or the human majority")}
    dists = {}
    if n and n_clusters >= 3:
        per = cluster_sums(cols, cl)
        # one set of resamples: each call re-seeds the same generator, so the resampled users match
        dists = {name: bootstrap_sums(per, f, n_resamples=n_resamples, seed=seed) for name, (f, _, _) in funcs.items()}
    out = {}
    for name, (f, formula, undefined) in funcs.items():
        method = _boot_method(f"{name} = {formula} against the human majority label", n_resamples, seed)
        extra = {**counts, "n_clusters": n_clusters}
        if n == 0:
            out[name] = Estimate(None, n=0, method=method, extra=extra, reason="no pairs with both labels")
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            value = float(f(totals))
        if not math.isfinite(value):
            out[name] = Estimate(None, n=n, method=method, extra=extra, reason=f"undefined: {undefined}")
            continue
        if not dists:
            out[name] = Estimate(value, n=n, method=method, extra=extra, reason=f"only {n_clusters} users: no interval")
            continue
        lo, hi, valid, reason = interval(dists[name])
        extra["n_resamples_valid"] = valid
        out[name] = Estimate(value, lo, hi, None, n, method, extra, reason)
    return out


# --- agreement -----------------------------------------------------------------------------


def _group_mean_kappa(tables: np.ndarray, pair_groups: list[str], which: str) -> np.ndarray:
    """Mean over the rater pairs of group ``which`` of kappa from stacked L x L tables (``(..., P, L, L)``)."""
    from audit.stats.agreement import kappa_from_tables

    sel = [i for i, g in enumerate(pair_groups) if g == which]
    k = kappa_from_tables(tables[..., sel, :, :])
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(k)
        return np.where(ok.any(axis=-1), np.where(ok, k, 0.0).sum(axis=-1) / np.maximum(ok.sum(axis=-1), 1), np.nan)


def kappa_summary(labels: pd.DataFrame, groups: dict[str, str], clusters: dict[str, str] | None = None, *,
                  n_resamples: int = N_RESAMPLES, seed: int = 0, value_col: str = "relevant",
                  levels: Sequence | None = None) -> dict:
    """Pairwise Cohen's kappa between all raters and its means within / between groups.

    ``value_col`` / ``levels``: the label column and its categories (default: ``relevant``, False/True;
    the extraction audit passes ``label`` with accept / uncertain / reject).

    ``labels``: long table with columns ``pair_id``, ``rater``, ``relevant`` (bool); ``groups``:
    rater -> ``"human"`` | ``"judge"`` (order = order of the matrix); ``clusters``: pair_id -> user
    (default: each pair its own cluster). Kappa of each rater pair is computed on the pairs both
    labelled (:func:`audit.stats.agreement.pairwise_kappa`, Cohen 1960, label set {0, 1} for every
    pair); the group means are :func:`audit.stats.agreement.mean_kappa_by_group` (unweighted means over
    rater pairs with a defined kappa).

    CI of each group mean: cluster bootstrap over users. Each user contributes, for every rater
    pair, the 2x2 table of the pairs of that user both raters labelled; a resample sums the
    resampled users' tables, recomputes every kappa (:func:`audit.stats.agreement.kappa_from_tables`)
    and averages the defined ones in the group (percentile interval, as above).

    Returns ``{"raters", "groups", "kappa_matrix" (None on the diagonal and where undefined),
    "n_matrix" (pairs both labelled; the diagonal: pairs the rater labelled), "pairs",
    "mean_within_humans", "mean_within_judges", "mean_human_judge"}``; each mean is an Estimate
    dict with ``n_pairs`` = rater pairs averaged and ``n`` = (attribute, prompt) pairs in any of them.
    """
    from audit.stats.agreement import mean_kappa_by_group, pairwise_kappa

    raters = list(groups)
    levels = list(levels) if levels is not None else [False, True]
    code = {v: i for i, v in enumerate(levels)}
    L = len(levels)
    df = labels.assign(value=labels[value_col].map(code).astype(int))
    pairs = pairwise_kappa(df, item_col="pair_id", rater_col="rater", value_col="value", labels=list(range(L)), raters=raters)
    idx = {r: i for i, r in enumerate(raters)}
    matrix: list[list[float | None]] = [[None] * len(raters) for _ in raters]
    n_matrix = [[0] * len(raters) for _ in raters]
    for r in raters:
        n_matrix[idx[r]][idx[r]] = int((df["rater"] == r).sum())
    for ra, rb, k, n in pairs.itertuples(index=False):
        value = float(k) if k is not None and math.isfinite(k) else None
        matrix[idx[ra]][idx[rb]] = matrix[idx[rb]][idx[ra]] = value
        n_matrix[idx[ra]][idx[rb]] = n_matrix[idx[rb]][idx[ra]] = int(n)
    means = mean_kappa_by_group(pairs, groups)

    # per-user 2x2 tables for every rater pair, for the bootstrap of the group means
    wide = df.pivot(index="pair_id", columns="rater", values="value")
    pair_list = list(pairs[["rater_a", "rater_b"]].itertuples(index=False, name=None))
    cl = np.array([(clusters or {}).get(pid, pid) for pid in wide.index], dtype=str)
    cells = np.zeros((len(wide), len(pair_list), L, L))
    for p, (ra, rb) in enumerate(pair_list):
        if ra in wide and rb in wide:
            a, b = wide[ra].to_numpy(float), wide[rb].to_numpy(float)
            ok = ~np.isnan(a) & ~np.isnan(b)
            rows = np.flatnonzero(ok)
            cells[rows, p, a[ok].astype(int), b[ok].astype(int)] = 1.0
    pair_groups = []
    for ra, rb in pair_list:
        ga, gb = groups[ra], groups[rb]
        pair_groups.append(("mean_within_humans" if ga == "human" else "mean_within_judges") if ga == gb else "mean_human_judge")
    n_clusters = len(np.unique(cl)) if len(cl) else 0
    per = cluster_sums(cells.reshape(len(wide), -1), cl) if len(cl) else None
    out_means = {}
    for key, summary in means.items():
        method = _boot_method("unweighted mean of pairwise Cohen's kappa over rater pairs (audit.stats.agreement)",
                              n_resamples, seed)
        extra = {"n_pairs": summary["n_pairs"]}
        sel = [i for i, g in enumerate(pair_groups) if g == key]
        n_items = int((cells[:, sel].sum(axis=(1, 2, 3)) > 0).sum()) if sel else 0  # pairs in any of its kappas
        if summary["estimate"] is None:
            out_means[key] = Estimate(None, n=n_items, method=method, extra=extra,
                                      reason="no rater pair in this group with a defined kappa").to_dict()
            continue
        if n_clusters < 3:
            out_means[key] = Estimate(summary["estimate"], n=n_items, method=method, extra=extra,
                                      reason=f"only {n_clusters} users: no interval").to_dict()
            continue
        shape = (len(pair_list), L, L)
        dist = bootstrap_sums(per, lambda s, key=key: _group_mean_kappa(s.reshape(s.shape[:-1] + shape), pair_groups, key),
                              n_resamples=n_resamples, seed=seed)
        lo, hi, valid, reason = interval(dist)
        extra["n_resamples_valid"] = valid
        out_means[key] = Estimate(summary["estimate"], lo, hi, None, n_items, method, extra, reason).to_dict()
    return {
        "raters": raters, "groups": [groups[r] for r in raters], "kappa_matrix": matrix, "n_matrix": n_matrix,
        "pairs": [{"rater_a": a, "rater_b": b, "kappa": (float(k) if math.isfinite(k) else None), "n_items": int(n)}
                  for a, b, k, n in pairs.itertuples(index=False)],
        "method": "Cohen's kappa (Cohen 1960) for each pair of raters on the pairs both labelled "
                  "(audit.stats.agreement.pairwise_kappa)",
        **out_means,
    }
