"""Is the judge's own confidence worth anything? Calibration of stated (or token-probability)
confidence against whether the verdict agreed with people. Pure: arrays in, JSON-ready dicts out.

The input is one row per *decisive* verdict (the judge picked a side): ``correct`` (the side people
picked) and ``confidence`` (the judge's certainty in [0, 1], NaN when it gave none). Definitions
(docs/FORMATS.md, "Calibration"):

* ``high`` / ``low``: accuracy of the verdicts with confidence >= ``threshold`` and of every other
  decisive verdict (a missing confidence counts as low). Dong et al. (2024) report that a
  personalized judge's verdicts with verbal certainty >= 80 are markedly more reliable.
* ``ece``: expected calibration error with 10 equal-width bins, Guo et al. (2017), eq. 3:
  ``sum_m |B_m|/n * |acc(B_m) - conf(B_m)|``, bin m = ((m-1)/10, m/10] (right-closed, as in
  the paper; a confidence of exactly 0 goes to the first bin), over verdicts with a confidence.
* ``brier``: mean of (confidence - correct)^2 over verdicts with a confidence (Brier 1950).
* ``coverage_curve``: for each threshold t on the grid 0, 0.05, ..., 1 at which at least one
  verdict remains, the share of verdicts with a confidence that have confidence >= t
  (coverage) and their accuracy: the accuracy-coverage (selective prediction) curve.

Every CI is the study's cluster bootstrap (resampled users/clusters), each replicate recomputed
from per-cluster sums (:meth:`ClusterBootstrap.sums`), so ECE is re-binned on every resample.

References
----------
Guo, Pleiss, Sun, Weinberger (2017). On calibration of modern neural networks. ICML.
Brier, G. W. (1950). Verification of forecasts expressed in terms of probability. *Mon. Weather Rev.* 78, 1-3.
Dong et al. (2024). Can LLM be a personalized judge? Findings of EMNLP, arXiv 2406.11657.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from audit.data.labels import plurality
from audit.stats.bootstrap import ClusterBootstrap, ratio
from audit.stats.estimate import Estimate, bootstrap_estimate, finite

N_BINS = 10
DEFAULT_THRESHOLD = 0.8
CURVE_STEP = 0.05


def confidence_bins(confidence: Sequence[float], n_bins: int = N_BINS) -> np.ndarray:
    """The bin (0 .. n_bins-1) of each confidence: bin m holds ((m)/n, (m+1)/n], 0 in the first bin."""
    c = np.asarray(confidence, float)
    return np.clip(np.ceil(c * n_bins - 1e-9).astype(int) - 1, 0, n_bins - 1)


def ece_from_sums(count: np.ndarray, correct: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """ECE from per-bin sums (the last axis is the bin): counts, correct verdicts, confidences."""
    n = count.sum(axis=-1)
    gap = np.abs(correct - conf)  # n_b * |acc_b - conf_b| = |sum correct - sum confidence|
    return ratio(gap.sum(axis=-1), n)


def expected_calibration_error(correct: Sequence[bool], confidence: Sequence[float], n_bins: int = N_BINS) -> float:
    """ECE of verdicts (all with a confidence); NaN when there are none."""
    ok, c = np.asarray(correct, float), np.asarray(confidence, float)
    b = confidence_bins(c, n_bins)
    sums = [np.bincount(b, weights=w, minlength=n_bins) for w in (np.ones_like(c), ok, c)]
    return float(ece_from_sums(*sums))


def _accuracy(correct: np.ndarray, labels: list[str], boot: ClusterBootstrap, what: str) -> Estimate:
    r = boot.sums(np.column_stack([correct.astype(float), np.ones(len(correct))]), labels) if len(correct) else None
    est = float(correct.mean()) if len(correct) else None
    return bootstrap_estimate(est, None if r is None else ratio(r[:, 0], r[:, 1]), boot=boot, labels=labels,
                              n=len(correct), what=what, reason=None if len(correct) else "no verdicts")


def calibration(correct: Sequence[bool], confidence: Sequence[float], clusters: Sequence, boot: ClusterBootstrap, *,
                threshold: float = DEFAULT_THRESHOLD, n_bins: int = N_BINS) -> dict:
    """The calibration block of one judge over its decisive verdicts (see the module docstring).

    Returns ``{threshold, n, n_with_confidence, high, low, ece, brier, bins, coverage_curve}``;
    ``high``/``low``/``ece``/``brier`` are Estimate dicts (estimate, ci, n, method); ``bins`` lists
    every non-empty bin {low, high, n, mean_confidence, accuracy} (the reliability diagram).
    """
    ok = np.asarray(correct, bool)
    conf = np.asarray([np.nan if c is None else float(c) for c in confidence], float)
    labels = [str(c) for c in clusters]
    has = ~np.isnan(conf)
    hi = has & (conf >= threshold)
    sel = lambda m: (ok[m], [lab for lab, keep in zip(labels, m) if keep])  # noqa: E731
    out: dict = {"threshold": float(threshold), "n": int(len(ok)), "n_with_confidence": int(has.sum())}
    out["high"] = _accuracy(*sel(hi), boot, f"accuracy of decisive verdicts with confidence >= {threshold:g}").to_dict()
    out["low"] = _accuracy(*sel(~hi), boot, f"accuracy of the other decisive verdicts (confidence < {threshold:g} "
                                           "or none)").to_dict()
    c_ok, c_labels = sel(has)
    c_conf = conf[has]
    no_conf = None if len(c_conf) else "no decisive verdict has a confidence"
    b = confidence_bins(c_conf, n_bins)
    onehot = np.zeros((len(c_conf), n_bins))
    onehot[np.arange(len(c_conf)), b] = 1.0
    if len(c_conf):
        sums = boot.sums(np.hstack([onehot, onehot * c_ok[:, None], onehot * c_conf[:, None]]), c_labels)
        ece_reps = ece_from_sums(sums[:, :n_bins], sums[:, n_bins:2 * n_bins], sums[:, 2 * n_bins:])
        sq = (c_conf - c_ok) ** 2
        r = boot.sums(np.column_stack([sq, np.ones_like(sq)]), c_labels)
        brier_reps = ratio(r[:, 0], r[:, 1])
    else:
        ece_reps = brier_reps = None
    ece_what = (f"expected calibration error, {n_bins} equal-width bins ((m-1)/{n_bins}, m/{n_bins}], "
                "sum of |accuracy - mean confidence| weighted by bin size (Guo et al. 2017)")
    out["ece"] = bootstrap_estimate(expected_calibration_error(c_ok, c_conf, n_bins) if len(c_conf) else None, ece_reps,
                                    boot=boot, labels=c_labels, n=len(c_conf), what=ece_what, reason=no_conf).to_dict()
    out["brier"] = bootstrap_estimate(finite(np.mean((c_conf - c_ok) ** 2)) if len(c_conf) else None, brier_reps,
                                      boot=boot, labels=c_labels, n=len(c_conf),
                                      what="Brier score, mean of (confidence - correct)^2", reason=no_conf).to_dict()
    out["bins"] = [{"low": m / n_bins, "high": (m + 1) / n_bins, "n": int((b == m).sum()),
                    "mean_confidence": float(c_conf[b == m].mean()), "accuracy": float(c_ok[b == m].mean())}
                   for m in range(n_bins) if (b == m).any()]
    out["coverage_curve"] = coverage_curve(c_ok, c_conf)
    if no_conf:
        out["reason"] = no_conf
    return out


def coverage_curve(correct: Sequence[bool], confidence: Sequence[float], step: float = CURVE_STEP) -> list[dict]:
    """Accuracy-coverage rows {threshold, n, coverage, accuracy} at thresholds 0, step, ..., 1
    where at least one verdict has confidence >= threshold (all verdicts here have a confidence)."""
    ok, c = np.asarray(correct, bool), np.asarray(confidence, float)
    rows = []
    for k in range(int(round(1 / step)) + 1):
        t = round(k * step, 10)
        keep = c >= t - 1e-12
        if keep.any():
            rows.append({"threshold": t, "n": int(keep.sum()), "coverage": float(keep.mean()),
                         "accuracy": float(ok[keep].mean())})
    return rows


# --- the preference run: direction of a 1-5 rating ---------------------------------------------

NEUTRAL = 3.0


def direction(rating: float) -> str:
    """The side a 1..5 generic/personalized rating takes: "personalized" (> 3), "generic" (< 3), "same"."""
    return "personalized" if rating > NEUTRAL else "generic" if rating < NEUTRAL else "same"


def majority_direction(ratings: Sequence[float]) -> str | None:
    """People's majority direction on an item: the plurality of their ratings' directions, "same" when
    two directions share the top count (as a pairwise study's plurality label); None without ratings."""
    return plurality((direction(float(r)) for r in ratings), tie="same")


def run_calibration(judgments, people: dict[str, str], clusters: dict[str, str], boot: ClusterBootstrap, *,
                    threshold: float = DEFAULT_THRESHOLD) -> dict | None:
    """The calibration block of a called judge in ``judge-audit run``: over its answered judgments
    (every sample and order) that take a side (rating != 3) on items people rated, correct = the side
    people's majority took (:func:`majority_direction`; an item where people saw no difference, or
    split evenly, makes every decisive verdict wrong). None when no judgment has a confidence."""
    rows = [j for j in judgments if j.status == "ok" and j.rating is not None]
    if not any(j.confidence is not None for j in rows):
        return None
    dec = [j for j in rows if direction(j.rating) != "same" and people.get(j.item_id) is not None]
    out = calibration([direction(j.rating) == people[j.item_id] for j in dec], [j.confidence for j in dec],
                      [clusters[j.item_id] for j in dec], boot, threshold=threshold)
    out["against"] = "people's majority direction (personalized / generic / same) on each item"
    return out
