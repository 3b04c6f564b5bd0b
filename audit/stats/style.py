"""Is it mention bias, or just length and formatting? The style-controlled mention effect.

For the items rated by a judge (and, separately, for the mean human rating), ordinary least squares

    y_i = b0 + b_mention * m_i + b_length * L_i + b_markdown * D_i + e_i

with m the explicit-mention flag and L, D the normalised length and markdown-density differences of the
pair (:mod:`audit.text.style`). b_mention is the mention effect *at equal style*; the raw mention delta
is the same model without L and D. The judge's excess over people for each coefficient is
b(judge) - b(people) on the items both rated (a coefficient of y_judge - y_human, by linearity of OLS).

Point estimates: pingouin.linear_regression. Uncertainty: the run's cluster bootstrap (users resampled
with replacement; :class:`audit.stats.bootstrap.ClusterBootstrap`), each resample's coefficients solved
from its summed X'X and X'y; percentile 95% CI and the bootstrap percentile p-value of 0
(:func:`audit.stats.bootstrap.percentile_p_value`), so p < 0.05 agrees with the CI excluding 0. A
covariate with no variation on the items is left out (its coefficient is reported missing, with the
reason). This is observational: ``judge-audit counterfactual`` is the causal test of the mention.

References: Dubois et al. (2024), length-controlled AlpacaEval (a GLM with the normalised length
difference); LMSYS (2024), "Does style matter?" / Arena-Hard style control (length and markdown
counts as Bradley-Terry covariates).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from audit.stats.bootstrap import ClusterBootstrap, interval, percentile_p_value
from audit.stats.estimate import Estimate

COVARIATES = ("mention", "length", "markdown")
METHOD = ("OLS coefficient (pingouin.linear_regression) of {y} on the explicit-mention flag, the normalised "
          "length difference and the normalised markdown-density difference of the pair; 95% CI: cluster "
          "bootstrap percentile interval (B={b}, seed={seed}); p: bootstrap percentile p-value of 0")


def _solve(xtx: np.ndarray, xty: np.ndarray) -> np.ndarray:
    """Coefficients for each resample: xtx (B, k, k), xty (B, k, q) -> (B, k, q); NaN where singular."""
    out = np.full(xty.shape, np.nan)
    ok = np.abs(np.linalg.det(xtx)) > 1e-9 * np.maximum(1.0, np.abs(xtx).max(axis=(1, 2))) ** xtx.shape[1]
    if ok.any():
        out[ok] = np.linalg.solve(xtx[ok], xty[ok])
    return out


def style_regression(ys: dict[str, Sequence[float]], mention: Sequence[bool], length: Sequence[float],
                     markdown: Sequence[float], *, clusters: Sequence, boot: ClusterBootstrap,
                     excess: tuple[str, str] | None = None) -> dict[str, dict[str, Estimate]]:
    """``{name: {"mention", "length", "markdown"}: Estimate}`` for each outcome in ``ys`` (same items,
    no missing values), plus ``"excess"`` = coefficients of ys[a] - ys[b] for ``excess=(a, b)``."""
    import pandas as pd
    import pingouin as pg

    cov = {"mention": np.asarray(mention, float), "length": np.asarray(length, float),
           "markdown": np.asarray(markdown, float)}
    n = len(cov["mention"])
    outcomes = {k: np.asarray(v, float) for k, v in ys.items()}
    if excess is not None:
        outcomes["excess"] = outcomes[excess[0]] - outcomes[excess[1]]
    used = [c for c in COVARIATES if n > 1 and np.ptp(cov[c]) > 0]
    missing = {c: ("no variation on these items" if n > 1 else "fewer than 2 items") for c in COVARIATES if c not in used}
    what = {k: METHOD.format(y=("the judge's rating minus the mean human rating" if k == "excess" else
                                "the mean human rating" if k == "humans" else "the judge's item rating"),
                             b=boot.n_reps, seed=boot.seed) for k in outcomes}
    if not used or n < len(used) + 2:
        reason = "too few items for the regression" if used else "no covariate varies on these items"
        return {k: {c: Estimate(None, n=n, method=what[k], reason=missing.get(c, reason)) for c in COVARIATES}
                for k in outcomes}
    X = np.column_stack([np.ones(n)] + [cov[c] for c in used])
    Y = np.column_stack(list(outcomes.values()))
    k, q = X.shape[1], Y.shape[1]
    per = np.concatenate([(X[:, :, None] * X[:, None, :]).reshape(n, k * k), (X[:, :, None] * Y[:, None, :]).reshape(n, k * q)], axis=1)
    sums = boot.resample(boot.cluster_sums(per, clusters))
    reps = _solve(sums[:, :k * k].reshape(-1, k, k), sums[:, k * k:].reshape(-1, k, q))
    frame = pd.DataFrame({c: cov[c] for c in used})
    out: dict[str, dict[str, Estimate]] = {}
    for j, name in enumerate(outcomes):
        fit = pg.linear_regression(frame, Y[:, j], add_intercept=True, coef_only=True)
        row = {}
        for i, c in enumerate(used, start=1):
            lo, hi, n_valid, why = interval(reps[:, i, j])
            point = float(fit[i])
            p = percentile_p_value(reps[:, i, j]) if lo is not None else None
            row[c] = Estimate(point, lo, hi, p, n, what[name], {"n_boot_valid": int(n_valid)}, why)
        for c, why in missing.items():
            row[c] = Estimate(None, n=n, method=what[name], reason=why)
        out[name] = {c: row[c] for c in COVARIATES}
    return out


VERBOSITY_MARGIN = 0.1  # |normalised length difference| above which one answer counts as the longer


def verbosity(judge: Sequence[float], human_mean: Sequence[float], length: Sequence[float], *, clusters: Sequence,
              boot: ClusterBootstrap, margin: float = VERBOSITY_MARGIN) -> dict:
    """Verbosity bias: on the items whose answers differ in length by more than ``margin`` (normalised
    difference, :mod:`audit.text.style`; 0.1 = one answer about 22% longer), the share where the judge
    prefers the longer answer (rating above 3 when the personalized answer is longer, below 3 when the
    generic one is) vs the share where people do (their mean rating), and the difference, each with the
    run's cluster-bootstrap CI. A rating of exactly 3 prefers neither."""
    import dataclasses

    from audit.stats import measure

    j, h, L = (np.asarray(v, float) for v in (judge, human_mean, length))
    cl = np.asarray(clusters)
    keep = np.abs(L) > margin
    longer = np.sign(L[keep])
    judge_longer = np.sign(j[keep] - 3) == longer
    human_longer = np.sign(h[keep] - 3) == longer
    kw = {"clusters": cl[keep], "boot": boot}
    excess = measure.inflation(judge_longer.astype(float), human_longer.astype(float), **kw) if keep.any() else \
        Estimate(None, n=0, reason="no item with answers of clearly different length")
    excess = dataclasses.replace(excess, method="share where the judge prefers the longer answer minus the share "
                                                "where people do; CI: cluster bootstrap; p: paired t-test")
    return {"judge_prefers_longer": measure.rate(judge_longer, **kw, what="share of items where the judge prefers the longer answer"),
            "humans_prefer_longer": measure.rate(human_longer, **kw, what="share of items where people prefer the longer answer"),
            "excess": excess, "margin": margin, "n": int(keep.sum())}
