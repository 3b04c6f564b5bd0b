"""Statistics of the counterfactual mention test. Pure: arrays in, :class:`~audit.stats.measure.Estimate` out.

The causal mention effect of a judge is the mean, over items, of the paired difference

    d_i = R(answer with the mention) - R(the same answer without it)

where R is the judge's rating of the answer against the same generic answer (mean over its
presentation orders and samples; 1 = generic much better ... 5 = personalized much better).
Ablation: with = the original, without = the mention deleted. Injection: with = the mention
inserted, without = the original. Only the mention differs between the two answers, so d_i
estimates what the naming itself is worth to the judge, free of everything else that differs
between answers that name attributes and answers that do not (which the observational mention
delta of :func:`audit.stats.measure.mention_delta` mixes in).

Uncertainty as everywhere in judge-audit (docs/METHODS.md): 95% CI from the shared cluster
bootstrap (clusters = users; :mod:`audit.stats.bootstrap`), p from the paired t-test (pingouin.ttest,
paired=True) when every user has one item, else the Wald test with the cluster-bootstrap SE.

References
----------
Rubin, D. B. (1974). Estimating causal effects of treatments in randomized and nonrandomized
studies. *J. Educ. Psychol.* 66(5), 688-701 (paired potential outcomes).
Kaushik, D., Hovy, E., Lipton, Z. C. (2020). Learning the difference that makes a difference with
counterfactually-augmented data. *ICLR* (minimal edits that change one property of a text).
Wilcoxon, F. (1945). Individual comparisons by ranking methods. *Biometrics Bulletin* 1(6), 80-83.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from audit.stats.bootstrap import ClusterBootstrap, percentile_ci, wald_p_value
from audit.stats.estimate import Estimate, bootstrap_method, pingouin_value, finite, bootstrap_estimate, group_difference_replicates, mean_replicates, resolve_bootstrap, unrounded_pingouin

EFFECT_WHAT = {
    "ablation": "causal mention effect by ablation: mean over items of rating(original, with the mention) "
                "- rating(the same answer with the mention deleted)",
    "injection": "causal mention effect by injection: mean over items of rating(the answer with one templated "
                 "mention inserted) - rating(original, without a mention)",
}


def _wilcoxon(d: np.ndarray) -> float | None:
    """Two-sided Wilcoxon signed-rank p (scipy.stats.wilcoxon, zero differences dropped), None if all are 0."""
    from scipy.stats import wilcoxon

    nz = d[d != 0]
    if len(nz) == 0:
        return None
    return finite(wilcoxon(nz, zero_method="wilcox", alternative="two-sided").pvalue)


def causal_effect(with_mention: Sequence[float], without_mention: Sequence[float], *, kind: str,
                  clusters: Sequence | None = None, boot: ClusterBootstrap | None = None, seed: int = 0) -> Estimate:
    """Mean paired difference rating(with the mention) - rating(without), over items.

    effect = (1/n) sum_i (W_i - O_i). CI: cluster bootstrap percentile interval (clusters = users);
    p: paired t-test of W vs O (pingouin.ttest, paired=True) when each user has one item, else the
    cluster Wald test. ``extra`` adds the Wilcoxon signed-rank p (scipy.stats.wilcoxon; a rank test
    for the ordinal ratings, which, like the t-test, treats items as independent), the two means and
    how many items went up, down or stayed.

    Parameters
    ----------
    with_mention, without_mention : sequences of length n
        Per item, the judge's rating of the answer with and without the mention.
    kind : {"ablation", "injection"}
        Which construction produced the pairs (named in ``method``).
    clusters, boot, seed
        As in :func:`audit.stats.measure.inflation`.
    """
    import pingouin as pg

    a, b = np.asarray(with_mention, float), np.asarray(without_mention, float)
    n = len(a)
    what = EFFECT_WHAT[kind]
    test = "paired t-test (pingouin.ttest, paired=True)"
    if n == 0:
        return Estimate(None, n=0, method=what, reason=f"no {kind} pairs rated by this judge")
    boot, labels = resolve_bootstrap(n, clusters, boot, seed)
    d = a - b
    est = float(d.mean())
    extra = {"mean_with_mention": float(a.mean()), "mean_without_mention": float(b.mean()),
             "n_up": int((d > 0).sum()), "n_down": int((d < 0).sum()), "n_same": int((d == 0).sum()),
             "p_value_wilcoxon": _wilcoxon(d),
             "wilcoxon_method": "Wilcoxon signed-rank test, two-sided, zero differences dropped (scipy.stats.wilcoxon)"}
    if n < 2:
        return bootstrap_estimate(est, None, boot=boot, labels=labels, n=n, what=what, extra=extra,
                                  reason="fewer than 2 pairs: no interval")
    reps = mean_replicates(d, boot, labels)
    if np.ptp(d) == 0:
        return Estimate(est, est, est, None, n, f"{what}; {bootstrap_method(boot)}",
                        {"n_clusters": len(set(labels)), **extra}, "all differences are identical: no test")

    def classical() -> float | None:
        with unrounded_pingouin():
            return pingouin_value(pg.ttest(a, b, paired=True), "p_val", "p-val")

    return bootstrap_estimate(est, reps, boot=boot, labels=labels, n=n, what=what, test=test,
                              classical_p=classical, extra=extra)


def observational_minus_causal(ratings: Sequence[float], mention: Sequence[bool], clusters: Sequence,
                               with_mention: Sequence[float], without_mention: Sequence[float],
                               pair_clusters: Sequence, *, kind: str, boot: ClusterBootstrap) -> Estimate:
    """The judge's observational mention delta minus its causal mention effect.

    gap = [mean(R | mention) - mean(R | no mention)] - mean_i(W_i - O_i), the first term over the
    original answers (``ratings``, ``mention``, ``clusters``), the second over the ``kind`` pairs.
    Positive: answers that name attributes are rated higher for reasons other than the naming.
    CI: the same cluster-bootstrap resamples for both terms (joint percentile interval);
    p: Wald test, gap / bootstrap SE against t with (clusters - 1) df.
    """
    r, m = np.asarray(ratings, float), np.asarray(mention, bool)
    d = np.asarray(with_mention, float) - np.asarray(without_mention, float)
    labels, pair_labels = [str(c) for c in clusters], [str(c) for c in pair_clusters]
    what = (f"judge's observational mention delta (original answers) - its causal mention effect by {kind}; "
            f"{bootstrap_method(boot)} over both terms jointly")
    if len(d) == 0 or m.all() or not m.any():
        return Estimate(None, n=len(d), method=what, reason="needs items with and without a mention and rated pairs")
    est = float(r[m].mean() - r[~m].mean() - d.mean())
    reps = group_difference_replicates(r, m, boot, labels) - mean_replicates(d, boot, pair_labels)
    lo, hi, n_valid = percentile_ci(reps)
    n_clusters = len(set(labels) | set(pair_labels))
    p = wald_p_value(est, reps, n_clusters - 1)
    method = what + f"; p: Wald test, estimate / cluster-bootstrap SE against t with {n_clusters - 1} df"
    return Estimate(finite(est), finite(lo), finite(hi), p, len(d), method, {"n_clusters": n_clusters, "n_boot_valid": n_valid},
                    None if lo is not None else "too few resamples with a defined value: no interval")
