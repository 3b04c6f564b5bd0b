"""The statistics of an imported judge study (absolute or pairwise form). Pure: DataFrames in,
:class:`~audit.stats.measure.Estimate` / JSON-ready dicts out; no I/O, no rounding.

Uncertainty follows the rest of the audit (docs/METHODS.md): one seeded
:class:`~audit.stats.bootstrap.ClusterBootstrap` per study resamples whole clusters (the item's
``cluster``, e.g. HANNA's story prompt; else the item), and every CI is its percentile interval,
with one exception the brief of issue 4 asks for: a proportion whose trials are independent (one
trial per cluster) gets Wilson's score interval. Correlations, kappa and the human reference are
recomputed on every resample from contingency tables (kernels of :mod:`audit.stats.agreement`), so each
resample is exact and the whole bootstrap is a few matrix products. p-values: the textbook test
named in ``method`` when every cluster holds one item, else the cluster Wald test
(:func:`audit.stats.measure.bootstrap_estimate`).

References
----------
Kendall, M. G. (1945). The treatment of ties in ranking problems. *Biometrika* 33, 239-251 (tau-b).
Wilson, E. B. (1927). Probable inference, the law of succession... *JASA* 22, 209-212.
McNemar, Q. (1947). Note on the sampling error of the difference between correlated proportions.
*Psychometrika* 12, 153-157 (exact form: binomial test on the discordant pairs).
Cohen, J. (1960). A coefficient of agreement for nominal scales. *Educ. Psychol. Meas.* 20, 37-46.
Zeng et al. (2023). Evaluating LLMs at evaluating instruction following (LLMBar), arXiv 2310.07641.
Chhun et al. (2024). Do language models enjoy their own stories? TACL 12, 1122-1142 (HANNA).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.stats import agreement
from audit.stats import calibration, classes, levels, measure
from audit.stats.bootstrap import ClusterBootstrap
from audit.stats.estimate import Estimate, finite, nanmean_last, table_estimate
from audit.stats.estimate import proportion as wilson_proportion

NONE = "none"  # the category of a missing verdict


def study_bootstrap(clusters, *, seed: int = 0) -> ClusterBootstrap:
    """The one resampling plan of a study: its clusters, seeded."""
    return ClusterBootstrap([str(c) for c in clusters], seed=seed)


def _labels(clusters) -> list[str]:
    return [str(c) for c in clusters]


def _one_per_cluster(clusters) -> bool:
    labels = _labels(clusters)
    return len(set(labels)) == len(labels)


def _codes(values) -> tuple[np.ndarray, int]:
    levels, codes = np.unique(np.asarray(values), return_inverse=True)
    return codes.reshape(-1), len(levels)


def proportion(success, clusters, boot: ClusterBootstrap, *, what: str) -> Estimate:
    """Share of successes: Wilson's interval when each cluster holds one trial (independent trials,
    :func:`audit.stats.proportion`), else the cluster bootstrap (:func:`audit.stats.measure.rate`)."""
    s = np.asarray(success, bool)
    if len(s) and _one_per_cluster(clusters):
        base = wilson_proportion(int(s.sum()), len(s))
        return Estimate(base.estimate, base.ci_low, base.ci_high, None, base.n, f"{what}; {base.method}",
                        {**base.extra, "n_clusters": len(s)}, base.reason)
    return measure.rate(s, clusters=_labels(clusters), boot=boot, what=what)


# --- absolute form ------------------------------------------------------------------------------


def human_reference(humans: pd.DataFrame, boot: ClusterBootstrap) -> Estimate:
    """Mean over raters of Kendall tau-b(rater's ratings, all raters' mean), item level (HANNA's human row).

    ``humans``: one row per (item_id, cluster, rater, rating) for one criterion. Each rater is
    correlated, on the items they rated (with at least 2 raters), with the mean of every rater of the
    item, the rater included, as in HANNA (Chhun et al. 2024). ``per_rater`` lists each tau-b
    (scipy.stats.kendalltau). CI: cluster bootstrap of the mean, from per-rater tables
    (:func:`audit.stats.agreement.kendall_from_tables`). The rater's own rating is part of the mean, so this
    reference is higher than a leave-one-out agreement.
    """
    from scipy.stats import kendalltau

    what = "mean over raters of Kendall tau-b (scipy.stats.kendalltau) between the rater and the mean of all raters"
    df = humans.copy()
    df["mean"] = df.groupby("item_id")["rating"].transform("mean")
    df = df[df.groupby("item_id")["rating"].transform("size") >= 2]
    raters = sorted(df["rater"].unique(), key=str)
    per_rater = {}
    for r in raters:
        sub = df[df["rater"] == r]
        ok = len(sub) >= 3 and np.ptp(sub["rating"]) > 0 and np.ptp(sub["mean"]) > 0
        per_rater[str(r)] = finite(kendalltau(sub["rating"], sub["mean"], variant="b").statistic) if ok else None
    taus = [t for t in per_rater.values() if t is not None]
    n_items = int(df["item_id"].nunique())
    extra = {"per_rater": per_rater, "n_raters": len(raters)}
    if not taus:
        return Estimate(None, n=n_items, method=what, extra=extra,
                        reason="needs items rated by at least 2 raters, and raters with non-constant ratings")
    cx, lx = _codes(df["rating"].to_numpy(float))
    cy, ly = _codes(df["mean"].to_numpy(float))
    rr = df["rater"].map({r: i for i, r in enumerate(raters)}).to_numpy()
    cells = (rr * lx + cx) * ly + cy
    return table_estimate(float(np.mean(taus)), cells, (len(raters), lx, ly), df["cluster"], boot,
                          lambda t: nanmean_last(agreement.kendall_from_tables(t)), what=what, n=n_items, extra=extra)


def absolute_results(ratings: pd.DataFrame, scale: tuple[float, float], *, seed: int = 0,
                     judges: list[str] | None = None, average_over: str | None = None) -> dict:
    """Every number of an absolute-form study, as a JSON-ready dict (see docs/FORMATS.md).

    ``ratings``: :data:`audit.data.studies.RATING_COLUMNS`. Per criterion the human rating of an item is
    the mean over its annotators. Per judge and criterion, on the items with both: Kendall tau-b and
    Spearman rho with the human mean (:func:`audit.stats.measure.rank_correlation`), inflation = mean of
    judge - human mean (:func:`audit.stats.measure.inflation`), the mean ratings and the count of ratings
    outside the scale; Pearson r and Cohen's kappa (unweighted, linear, quadratic) and, with
    ``average_over`` ("cluster" or "system"), each statistic within every group averaged over groups
    (:mod:`audit.stats.levels`).
    """
    low, high = scale
    boot = study_bootstrap(ratings["cluster"].unique(), seed=seed)
    humans = ratings[ratings["kind"] == "human"]
    judge_rows = ratings[ratings["kind"] == "judge"]
    criteria = list(dict.fromkeys(ratings["criterion"]))
    names = judges if judges is not None else list(dict.fromkeys(judge_rows["rater"]))
    hmean = (humans.groupby(["criterion", "item_id"])
             .agg(human_mean=("rating", "mean"), cluster=("cluster", "first"), system=("system", "first"),
                  n_human=("rating", "size")).reset_index())

    out_humans = {}
    for c in criteria:
        h, hm = humans[humans["criterion"] == c], hmean[hmean["criterion"] == c]
        out_humans[c] = {
            "n_items": int(len(hm)),
            "n_annotators": int(h["rater"].nunique()),
            "mean_rating": finite(hm["human_mean"].mean()) if len(hm) else None,
            "reference_kendall": human_reference(h[["item_id", "cluster", "rater", "rating"]], boot).to_dict(),
        }

    out_judges = {}
    for name in names:
        rows = judge_rows[judge_rows["rater"] == name]
        per_crit, warnings, outside_by_crit = {}, [], {}
        for c in criteria:
            jr = rows[rows["criterion"] == c][["item_id", "rating"]]
            both = jr.merge(hmean[hmean["criterion"] == c], on="item_id")
            if both.empty:
                continue
            x, y, cl = both["rating"].to_numpy(float), both["human_mean"].to_numpy(float), _labels(both["cluster"])
            outside = int(((x < low) | (x > high)).sum())
            per_crit[c] = {
                "n_items": int(len(both)),
                "mean_rating": finite(x.mean()),
                "human_mean_rating": finite(y.mean()),
                "kendall": measure.rank_correlation(x, y, method="kendall", clusters=cl, boot=boot).to_dict(),
                "spearman": measure.rank_correlation(x, y, method="spearman", clusters=cl, boot=boot).to_dict(),
                "inflation": measure.inflation(x, y, clusters=cl, boot=boot).to_dict(),
                "pearson": levels.pearson(x, y, clusters=cl, boot=boot).to_dict(),
                "kappa": levels.kappas(x, y, scale, clusters=cl, boot=boot,
                                       one_rating_per_item=bool((both["n_human"] == 1).all())),
                "n_out_of_scale": outside,
            }
            if average_over:
                per_crit[c]["averaged_over"] = _averaged(x, y, both, average_over, scale, per_crit[c]["kappa"], boot)
                if average_over == "system" and both["system"].notna().any():
                    per_crit[c]["system_level"] = levels.system_level(x, y, both["system"].fillna("none"), clusters=cl,
                                                                      boot=boot)
            if outside:
                outside_by_crit[c] = f"{outside}/{len(both)}"
            if len(jr) > len(both):
                warnings.append(f"{c}: {len(jr) - len(both)} rated items have no human rating (left out)")
        if outside_by_crit:
            warnings.insert(0, f"ratings outside the scale {low:g}-{high:g}, kept as given (HANNA codes an unparsable "
                               "answer as -1): " + ", ".join(f"{c} {k}" for c, k in outside_by_crit.items()))
        out_judges[name] = {"criteria": per_crit, "warnings": warnings}

    return {
        "form": "absolute",
        "scale": [low, high],
        "n_items": int(ratings["item_id"].nunique()),
        "n_clusters": int(ratings["cluster"].nunique()),
        "criteria": criteria,
        "bootstrap": {"n_reps": boot.n_reps, "seed": boot.seed, "n_clusters": boot.n_clusters},
        "humans": {"n_annotators": int(humans["rater"].nunique()), "criteria": out_humans},
        "judges": out_judges,
    }


def _averaged(x, y, both: pd.DataFrame, group: str, scale, kappa: dict, boot) -> dict:
    """``averaged_over``: Pearson, Spearman, Kendall and unweighted kappa within each group, averaged."""
    from scipy import stats as st

    from audit.stats.agreement import cohen_kappa

    groups = both[group].fillna("none").astype(str).to_numpy()
    kw = {"n_resamples": boot.n_reps, "seed": boot.seed}
    labels = list(range(int(scale[0]), int(scale[1]) + 1))
    out = {"group": group,
           "pearson": levels.averaged_over(x, y, groups, lambda a, b: st.pearsonr(a, b).statistic, what="Pearson r", **kw),
           "spearman": levels.averaged_over(x, y, groups, lambda a, b: st.spearmanr(a, b).statistic,
                                            what="Spearman rho", **kw),
           "kendall": levels.averaged_over(x, y, groups, lambda a, b: st.kendalltau(a, b).statistic,
                                           what="Kendall tau-b", **kw)}
    out["kappa_unweighted"] = ({"estimate": None, "ci": None, "n_groups": 0, "n_groups_skipped": 0,
                                "reason": kappa["reason"]} if "reason" in kappa else
                               levels.averaged_over(x, y, groups, lambda a, b: cohen_kappa(a, b, labels=labels),
                                                    what="unweighted Cohen's kappa", **kw))
    return out


# --- pairwise form ------------------------------------------------------------------------------


def _cat(v) -> str:
    return NONE if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def judge_verdicts(items: pd.DataFrame, verdicts: pd.DataFrame, judge: str) -> pd.DataFrame:
    """One judge's verdicts with the item's label and cluster, plus ``verdict``/``label_cat``
    (categories "1", "2", "tie", "none"), ``correct`` and ``first_slot``.

    ``first_slot``: the verdict picked the response shown first (True/False); None for a tie or a
    missing verdict. With ``swap`` false response_1 is shown first; with ``swap`` true response_2.
    """
    v = verdicts[verdicts["judge"] == judge].merge(items, on="item_id", how="inner")
    v["verdict"] = v["winner"].map(_cat)
    v["label_cat"] = v["label"].map(_cat)
    v["correct"] = v["verdict"] == v["label_cat"]
    v["first_slot"] = pd.Series([None if w not in (1, 2) or isinstance(w, bool) else bool((w == 1) != bool(s))
                                 for w, s in zip(v["winner"], v["swap"])], index=v.index, dtype=object)
    return v


def kappa_vs_label(verdict, label, clusters, boot: ClusterBootstrap) -> Estimate:
    """Cohen's kappa of judge verdicts vs the human label, nominal categories 1/2/tie/none
    (:func:`audit.stats.agreement.cohen_kappa`), over every verdict; CI by cluster bootstrap of the table."""
    verdict = np.asarray([str(x) for x in verdict], object)
    label = np.asarray([str(x) for x in label], object)
    what = "Cohen's kappa, judge verdict vs human label, categories 1/2/tie/none (audit.stats.agreement.cohen_kappa)"
    n = len(verdict)
    levels = sorted(set(verdict) | set(label))
    k = agreement.cohen_kappa(verdict, label, labels=levels) if n else float("nan")
    if not np.isfinite(k):
        return Estimate(None, n=n, method=what, reason="undefined (no verdicts, or verdicts and labels constant)")
    idx = {c: i for i, c in enumerate(levels)}
    cells = np.array([idx[a] * len(levels) + idx[b] for a, b in zip(verdict, label)])
    return table_estimate(float(k), cells, (len(levels), len(levels)), clusters, boot, agreement.kappa_from_tables,
                          what=what, n=n)


def pairwise_judge(items: pd.DataFrame, verdicts: pd.DataFrame, judge: str, boot: ClusterBootstrap, *,
                   threshold: float = calibration.DEFAULT_THRESHOLD) -> dict:
    """Accuracy, accuracy per order, positional agreement, position bias, Cohen's kappa, accuracy
    over decisive verdicts, macro precision/recall/F1 and the calibration of one judge.

    * accuracy: share of verdicts equal to the human label over every verdict (both orders; a
      missing verdict counts as wrong). With both orders on every item this is LLMBar's
      ``correct_average`` = (correct_False + correct_True) / (2 n).
    * positional_agreement: share of items judged in both orders whose two verdicts are identical
      (a missing verdict is its own category, so two missing verdicts agree, as LLMBar's ``equal``).
    * position_bias: share of first-slot wins among decisive verdicts (winner 1 or 2); 0.5 = none.
      p: exact McNemar test (scipy.stats.binomtest) on items decisive in both orders, picking the
      first slot both times vs the second slot both times. Meaningful only with both orders.
    * kappa: :func:`kappa_vs_label`.
    * accuracy_decisive: share of verdicts with winner 1 or 2 equal to the human label (a decisive
      verdict on a tie-labelled item is wrong).
    * macro_precision / macro_recall / macro_f1: :func:`audit.stats.classes.macro_prf`.
    * calibration: :func:`audit.stats.calibration.calibration` over the decisive verdicts, with
      ``confidence`` (None when the judge stated none).
    """
    from scipy.stats import binomtest

    v = judge_verdicts(items, verdicts, judge)
    orders = sorted({"swapped" if s else "original" for s in v["swap"]})
    warnings: list[str] = []
    n_missing = int((v["verdict"] == NONE).sum())
    out: dict = {"n_items": int(v["item_id"].nunique()), "n_verdicts": int(len(v)), "n_missing": n_missing,
                 "orders": orders}
    if n_missing:
        warnings.append(f"{n_missing} of {len(v)} verdicts are missing (no usable answer); counted as wrong")

    out["accuracy"] = proportion(v["correct"], v["cluster"], boot,
                                 what="share of verdicts equal to the human label (a missing verdict is wrong)").to_dict()
    out["accuracy_by_order"] = {
        ("swapped" if s else "original"): proportion(g["correct"], g["cluster"], boot,
                                                     what="share of verdicts equal to the human label").to_dict()
        for s, g in v.groupby("swap")}

    what = "share of items with the same verdict in both presentation orders (missing = a category)"
    wide = v.pivot(index="item_id", columns="swap", values="verdict")
    if {False, True} <= set(wide.columns):
        both = wide.dropna(subset=[False, True])
        same = (both[False] == both[True]).to_numpy()
        cl = items.set_index("item_id").loc[both.index, "cluster"]
        pa = proportion(same, cl, boot, what=what)
        pa.extra["n_both_missing"] = int(((both[False] == NONE) & (both[True] == NONE)).sum())
        out["positional_agreement"] = pa.to_dict()
    else:
        out["positional_agreement"] = Estimate(None, n=0, method=what,
                                               reason="needs verdicts in both presentation orders").to_dict()

    decisive = v[v["first_slot"].notna()]
    pb = proportion(decisive["first_slot"].astype(bool), decisive["cluster"], boot,
                    what="share of first-slot wins among decisive verdicts (0.5 = no position bias)")
    extra, p_value, reason = dict(pb.extra), None, pb.reason
    if len(orders) == 2:
        fs = decisive.pivot(index="item_id", columns="swap", values="first_slot").dropna()
        first_both = int((fs[False].astype(bool) & fs[True].astype(bool)).sum()) if len(fs) else 0
        second_both = int((~fs[False].astype(bool) & ~fs[True].astype(bool)).sum()) if len(fs) else 0
        extra.update(first_slot_both_orders=first_both, second_slot_both_orders=second_both)
        if first_both + second_both:
            p_value = finite(binomtest(first_both, first_both + second_both, 0.5).pvalue)
        method = pb.method + "; p: exact McNemar test (scipy.stats.binomtest) on items decisive in both orders"
    else:
        method = pb.method
        reason = "only one presentation order: the first-slot share is confounded with which response is better; no test"
    out["position_bias"] = Estimate(pb.estimate, pb.ci_low, pb.ci_high, p_value, pb.n, method, extra, reason).to_dict()
    if pb.estimate is not None and p_value is not None and p_value < 0.05:
        side = "first" if pb.estimate > 0.5 else "second"
        warnings.append(f"position bias: picks the {side}-shown response in {max(pb.estimate, 1 - pb.estimate):.1%} "
                        f"of decisive verdicts (McNemar p={p_value:.2g})")

    out["kappa"] = kappa_vs_label(v["verdict"], v["label_cat"], v["cluster"], boot).to_dict()
    dec = v[v["verdict"].isin(["1", "2"])]
    out["accuracy_decisive"] = proportion(dec["correct"], dec["cluster"], boot,
                                          what="share of decisive verdicts (winner 1 or 2) equal to the human label").to_dict()
    out.update(classes.macro_prf(v["verdict"], v["label_cat"], v["cluster"], boot))
    conf = dec["confidence"] if "confidence" in dec else pd.Series([None] * len(dec), index=dec.index)
    out["calibration"] = calibration.calibration(dec["correct"].to_numpy(bool), conf.tolist(), dec["cluster"], boot,
                                                 threshold=threshold)
    out["warnings"] = warnings
    return out


def pairwise_results(items: pd.DataFrame, verdicts: pd.DataFrame, *, seed: int = 0, judges: list[str] | None = None,
                     annotations: pd.DataFrame | None = None,
                     confidence_threshold: float = calibration.DEFAULT_THRESHOLD) -> dict:
    """Every number of a pairwise-form study with a human label, as a JSON-ready dict: per judge
    :func:`pairwise_judge`; ``humans``: label counts and, when the data names its annotators
    (``human_labels``), Cohen's kappa of every annotator pair and their mean
    (:func:`audit.stats.classes.annotator_kappa`)."""
    names = judges if judges is not None else list(dict.fromkeys(verdicts["judge"]))
    boot = study_bootstrap(items["cluster"].unique(), seed=seed)
    labels = {str(k): int(v) for k, v in items["label"].map(_cat).value_counts().sort_index().items()}
    humans: dict = {"label_counts": labels}
    if annotations is not None and not annotations.empty:
        humans.update(
            n_annotators=int(annotations["annotator"].nunique()),
            n_items_annotated=int(annotations["item_id"].nunique()),
            annotation_counts={str(k): int(v) for k, v in
                               annotations["label"].map(_cat).value_counts().sort_index().items()},
            annotator_kappa=classes.annotator_kappa(annotations, boot))
    return {
        "form": "pairwise",
        "n_items": int(len(items)),
        "n_clusters": int(items["cluster"].nunique()),
        "labels": labels,
        "bootstrap": {"n_reps": boot.n_reps, "seed": boot.seed, "n_clusters": boot.n_clusters},
        "humans": humans,
        "judges": {name: pairwise_judge(items, verdicts, name, boot, threshold=confidence_threshold) for name in names},
    }
