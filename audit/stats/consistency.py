"""Is a called judge answering the question, or the slot? Position and self-consistency checks.

Pure statistics over judgment rows (no I/O, no rounding), plus :func:`add_engine_checks`, the one
call :mod:`audit.audits.results` makes to add each judge's ``position``, ``self_consistency``, ``cost``
and the matching warnings to results.json.

Definitions (docs/ENGINE.md):

* A **pair** is one (item, sample) judged in both presentation orders. Its two ratings, mapped
  back to the generic(1)..personalized(5) scale, give two *verdicts* ``sign(rating - 3)``
  (generic better / no difference / personalized better). The pair **flips** when the verdicts
  differ: swapping which answer is shown first changed what the judge preferred (a change
  between a preference and "no difference" counts too).
* **Slot-A preference**: among the decisive judgments (raw rating != 3) of complete pairs, the
  share that picked Response A (raw rating < 3). In this balanced design (every pair is shown in
  both orders) a judge that only reads the content picks A exactly half the time.
* **Self-consistency** (``--samples K``, K >= 2): per prompt (item, order), the K ratings of
  the repeated samples. Reported as the mean pairwise exact agreement (share of sample pairs with
  the same rating) and ICC(1,1), the one-way random-effects intraclass correlation (Shrout &
  Fleiss 1979), with pingouin.
* **Constant answer**: the share of a judge's answers equal to its most common raw rating
  (the A/B scale, before mapping). A judge that always answers "Response A much better" is
  not constant after mapping (its item ratings swing between 1 and 5 with the random order),
  so this is checked on the raw answers.

Intervals: items share a cluster (the user when known, else the item). When every cluster holds
one pair, the pairs are independent trials and the Wilson score interval (scipy.stats.binomtest)
is used. Otherwise the CI is the union of the cluster bootstrap percentile interval of the ratio
of sums (:class:`audit.stats.bootstrap.ClusterBootstrap`, the run's shared resamples) and the Wilson
interval of the pooled counts: a bootstrap that collapses to a point (every cluster with the same
share, e.g. a judge that always flips) then still gets the Wilson width, and correlation within
clusters can only widen it.

References
----------
Shrout, P. E., Fleiss, J. L. (1979). Intraclass correlations: uses in assessing rater
reliability. *Psychological Bulletin* 86(2), 420-428.
McNemar, Q. (1947). Note on the sampling error of the difference between correlated proportions
or percentages. *Psychometrika* 12(2), 153-157.
Zheng, L. et al. (2023). Judging LLM-as-a-judge with MT-Bench and Chatbot Arena (position bias:
swap the two answers and check consistency). NeurIPS Datasets and Benchmarks.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from audit.data.judgments import GENERIC_FIRST, NO_CALL_STATUSES, PERSONALIZED_FIRST, Judgment
from audit.stats.cost import cost_summary
from audit.text.fmt import ci_pct, pct
from audit.stats.bootstrap import CONFIDENCE
from audit.stats.estimate import Estimate

FLIP_WARN = 0.20  # warn when the flip rate is at least this
SLOT_WARN = 0.10  # warn when |slot-A share - 0.5| is at least this and its CI excludes 0.5
CONSTANT_SHARE = 0.90  # warn when this share of the raw answers is one value
MIN_ANSWERS = 5
AGREEMENT_WARN = 0.50  # warn when repeated samples agree exactly less often than this


def _called(rows: list[Judgment]) -> list[Judgment]:
    return [r for r in rows if r.status == "ok" and r.order is not None and r.raw_rating is not None]


def position_pairs(rows: list[Judgment]) -> pd.DataFrame:
    """One row per (item, sample) judged successfully in both orders.

    Columns: item_id, sample, pref_gf, pref_pf (ratings on the preference scale), raw_gf, raw_pf
    (as answered, A/B scale), flip (0/1), a_choices (decisive judgments that picked A: 0-2),
    decisive (decisive judgments: 0-2).
    """
    by: dict[tuple[str, int], dict[str, Judgment]] = {}
    for r in _called(rows):
        by.setdefault((r.item_id, r.sample), {})[r.order] = r
    out = []
    for (item, sample), o in by.items():
        if GENERIC_FIRST not in o or PERSONALIZED_FIRST not in o:
            continue
        gf, pf = o[GENERIC_FIRST], o[PERSONALIZED_FIRST]
        raws = (int(gf.raw_rating), int(pf.raw_rating))
        out.append({
            "item_id": item, "sample": sample, "pref_gf": float(gf.rating), "pref_pf": float(pf.rating),
            "raw_gf": raws[0], "raw_pf": raws[1],
            "flip": int(np.sign(gf.rating - 3) != np.sign(pf.rating - 3)),
            "a_choices": sum(1 for x in raws if x < 3), "decisive": sum(1 for x in raws if x != 3),
        })
    cols = ["item_id", "sample", "pref_gf", "pref_pf", "raw_gf", "raw_pf", "flip", "a_choices", "decisive"]
    return pd.DataFrame(out, columns=cols)


def _wilson(k: float, n: int) -> tuple[float, float]:
    from scipy.stats import binomtest

    ci = binomtest(int(round(k)), int(n)).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return float(ci.low), float(ci.high)


def ratio_estimate(num: np.ndarray, den: np.ndarray, clusters: np.ndarray, *, boot=None, seed: int = 0,
                   what: str) -> Estimate:
    """sum(num) / sum(den) over units (integer counts), with a 95% CI that respects clusters.

    Units that are independent Bernoulli trials (one unit per cluster, ``den == 1``): the Wilson
    score interval. Otherwise the union of the cluster bootstrap percentile interval (ratio of
    sums; ``boot`` is the run's :class:`audit.stats.bootstrap.ClusterBootstrap`, one over ``clusters``
    is made when None) and the Wilson interval of sum(num) out of sum(den): never narrower than
    either, so a bootstrap that collapses (every cluster has the same ratio) falls back to Wilson,
    and correlation within clusters widens it.
    """
    from audit.stats.bootstrap import ClusterBootstrap, percentile_ci, ratio

    num, den = np.asarray(num, float), np.asarray(den, float)
    keep = den > 0
    num, den, clusters = num[keep], den[keep], np.asarray(clusters, dtype=object)[keep]
    n = int(len(num))
    n_clusters = int(len(set(clusters.tolist())))
    if n == 0:
        return Estimate(None, n=0, method=what, reason="no units")
    k, m = int(round(num.sum())), int(round(den.sum()))
    est = float(num.sum() / den.sum())
    w_lo, w_hi = _wilson(k, m)
    if n_clusters == n and np.all(den == 1):
        method = f"{what}; Wilson score interval (scipy.stats.binomtest), units independent"
        return Estimate(est, w_lo, w_hi, None, n, method, {"n_clusters": n_clusters, "k": k})
    if boot is None:
        boot = ClusterBootstrap(clusters, seed=seed)
    sums = boot.sums(np.column_stack([num, den]), clusters)
    b_lo, b_hi, _ = percentile_ci(ratio(sums[:, 0], sums[:, 1]))
    lo, hi = (w_lo, w_hi) if b_lo is None else (min(w_lo, b_lo), max(w_hi, b_hi))
    method = (f"{what}; 95% CI: union of the cluster bootstrap percentile interval ({boot.n_reps} resamples of "
              f"{n_clusters} clusters, ratio of sums) and the Wilson score interval of {k}/{m} (scipy.stats.binomtest)")
    return Estimate(est, lo, hi, None, n, method, {"n_clusters": n_clusters, "k": k, "m": m})


def position_check(rows: list[Judgment], clusters: Mapping[str, str] | None = None, *, boot=None,
                   seed: int = 0) -> dict | None:
    """Flip rate and slot-A preference of one judge's rows, or None without complete pairs."""
    from scipy.stats import binomtest

    pairs = position_pairs(rows)
    if pairs.empty:
        return None
    cl = np.asarray([(clusters or {}).get(i, i) for i in pairs["item_id"]], dtype=object)
    flip = ratio_estimate(pairs["flip"].to_numpy(), np.ones(len(pairs)), cl, boot=boot, seed=seed,
                          what="share of (item, sample) pairs whose verdict sign(rating - 3) differs between "
                               "the two presentation orders")
    slot = ratio_estimate(pairs["a_choices"].to_numpy(), pairs["decisive"].to_numpy(), cl, boot=boot, seed=seed,
                          what="share of decisive judgments (raw rating != 3) in complete pairs that picked Response A")
    # p-value of the slot preference: exact McNemar test on the pairs that picked the same slot in
    # both orders (A both times vs B both times; equally likely for a judge without position bias).
    both_a = int(((pairs["raw_gf"] < 3) & (pairs["raw_pf"] < 3)).sum())
    both_b = int(((pairs["raw_gf"] > 3) & (pairs["raw_pf"] > 3)).sum())
    slot_d = slot.to_dict()
    if both_a + both_b:
        slot_d["p_value"] = float(binomtest(both_a, both_a + both_b, 0.5).pvalue)
    else:
        slot_d["p_value"] = None
    slot_d["test"] = ("exact McNemar test (scipy.stats.binomtest, p = 0.5) of pairs that picked slot A in both "
                      "orders vs slot B in both orders")
    slot_d.update(both_a=both_a, both_b=both_b)
    return {
        "flip_rate": flip.to_dict(), "slot_a_preference": slot_d,
        "n_pairs": int(len(pairs)), "n_items": int(pairs["item_id"].nunique()), "n_flips": int(pairs["flip"].sum()),
        "definition": "pair = one item and sample judged in both orders; flip = the preferred answer (generic / "
                      "no difference / personalized) differs between the orders",
    }


def self_consistency(rows: list[Judgment], clusters: Mapping[str, str] | None = None, *, boot=None,
                     seed: int = 0) -> dict | None:
    """Agreement of a judge with itself over repeated samples of the same prompt; None if K < 2."""
    import warnings

    ok = _called(rows)
    groups: dict[tuple[str, str], dict[int, float]] = {}
    for r in ok:
        groups.setdefault((r.item_id, r.order), {})[r.sample] = float(r.rating)
    groups = {t: s for t, s in groups.items() if len(s) >= 2}
    if not groups:
        return None
    agree, npairs, cl = [], [], []
    for (item, _), s in groups.items():
        vals = list(s.values())
        k = len(vals)
        agree.append(sum(1 for i in range(k) for j in range(i + 1, k) if vals[i] == vals[j]))
        npairs.append(k * (k - 1) / 2)
        cl.append((clusters or {}).get(item, item))
    exact = ratio_estimate(np.asarray(agree), np.asarray(npairs), np.asarray(cl, dtype=object), boot=boot, seed=seed,
                           what="mean pairwise exact agreement: share of pairs of repeated samples of one prompt "
                                "(item, order) with the same rating")
    k = max(len(s) for s in groups.values())
    full = {t: s for t, s in groups.items() if len(s) == k}
    icc_method = ("ICC(1,1), one-way random effects, single rating (Shrout & Fleiss 1979; pingouin.intraclass_corr); "
                  "targets = prompts (item, order) with all K samples, raters = sample index; CI from the F distribution")
    long = pd.DataFrame([(f"{i}|{o}", smp, v) for (i, o), s in full.items() for smp, v in s.items()],
                        columns=["target", "sample", "rating"])
    if len(full) < 5:
        icc = Estimate(None, n=len(full), method=icc_method, reason="fewer than 5 prompts with all samples")
    elif long["rating"].nunique() == 1:
        icc = Estimate(None, n=len(full), method=icc_method, reason="every rating is the same value: ICC undefined")
    else:
        import pingouin as pg

        from audit.stats.estimate import unrounded_pingouin

        with unrounded_pingouin(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pingouin's own RuntimeWarning/deprecation chatter
            res = pg.intraclass_corr(long, targets="target", raters="sample", ratings="rating")
        row = res[res["Type"] == "ICC(1,1)"].iloc[0] if "ICC(1,1)" in set(res["Type"]) else res[res["Type"] == "ICC1"].iloc[0]
        lo, hi = (float(v) for v in row["CI95"]) if row["CI95"] is not None else (None, None)
        val = float(row["ICC"])
        icc = Estimate(val if np.isfinite(val) else None, lo, hi,
                       float(row["pval"]) if np.isfinite(row["pval"]) else None, len(full), icc_method)
    return {"samples": int(k), "n_prompts": len(groups), "exact_agreement": exact.to_dict(), "icc": icc.to_dict()}


def raw_constancy(rows: list[Judgment]) -> dict | None:
    """How often a judge gives its most common raw answer (A/B scale, before mapping)."""
    raws = [int(r.raw_rating) for r in _called(rows)]
    if not raws:
        return None
    values, counts = np.unique(raws, return_counts=True)
    i = int(np.argmax(counts))
    return {"modal_raw_rating": int(values[i]), "share": float(counts[i] / len(raws)), "n": len(raws),
            "counts": {int(v): int(c) for v, c in zip(values, counts)}}


RAW_MEANING = {1: "Response A much better", 2: "Response A better", 3: "no difference",
               4: "Response B better", 5: "Response B much better"}


def engine_warnings(position: dict | None, consistency: dict | None, constancy: dict | None) -> list[str]:
    """The loud warnings: constant answers, position flips, slot preference, self-inconsistency."""
    warns = []
    if constancy and constancy["n"] >= MIN_ANSWERS and constancy["share"] >= CONSTANT_SHARE:
        v = constancy["modal_raw_rating"]
        warns.append(
            f"CONSTANT ANSWER: {pct(constancy['share'])} of its {constancy['n']} answers are {v} "
            f"({RAW_MEANING.get(v, v)}) whatever the content; its ratings say little about the answers")
    if position:
        flip = position["flip_rate"]
        if flip.get("estimate") is not None and flip["estimate"] >= FLIP_WARN:
            warns.append(
                f"POSITION BIAS: its verdict flips in {pct(flip['estimate'])}{ci_pct(flip)} of "
                f"{position['n_pairs']} pairs when Response A and B are swapped")
        slot = position["slot_a_preference"]
        est, ci = slot.get("estimate"), slot.get("ci")
        if est is not None and ci and abs(est - 0.5) >= SLOT_WARN and not (ci[0] <= 0.5 <= ci[1]):
            side = "A (shown first)" if est > 0.5 else "B (shown second)"
            warns.append(f"POSITION BIAS: it picks Response {side} in {pct(est if est > 0.5 else 1 - est)} "
                         f"of its decisive verdicts (50% without position bias; slot-A share {pct(est)}{ci_pct(slot)})")
    if consistency:
        ex = consistency["exact_agreement"]
        if ex.get("estimate") is not None and ex["estimate"] < AGREEMENT_WARN:
            warns.append(f"INCONSISTENT: its {consistency['samples']} samples of the same prompt agree exactly in only "
                         f"{pct(ex['estimate'])}{ci_pct(ex)} of sample pairs")
    return warns


def add_engine_checks(judges: dict, judgments: list[Judgment], *, clusters: Mapping[str, str] | None = None,
                      boot=None, seed: int = 0) -> None:
    """Add ``position``, ``self_consistency``, ``cost`` and their warnings to each judge of results.json.

    ``judges`` is results.json's ``judges`` dict (changed in place); ``clusters`` maps item id to
    its resampling cluster; ``boot`` is the run's shared cluster bootstrap. Judges imported from
    the data (no calls) get None for all three.
    """

    by_judge: dict[str, list[Judgment]] = {}
    for j in judgments:
        by_judge.setdefault(j.judge, []).append(j)
    for name, entry in judges.items():
        rows = [r for r in by_judge.get(name, []) if r.status not in NO_CALL_STATUSES]
        if not rows:
            entry.update(position=None, self_consistency=None, cost=None)
            continue
        position = position_check(rows, clusters, boot=boot, seed=seed)
        consistency = self_consistency(rows, clusters, boot=boot, seed=seed)
        constancy = raw_constancy(rows)
        entry.update(position=position, self_consistency=consistency, cost=cost_summary(rows), raw_answers=constancy)
        entry.setdefault("warnings", []).extend(engine_warnings(position, consistency, constancy))


