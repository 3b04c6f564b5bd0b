"""One agreement comparison (two raters' ratings of the same items) and its metrics -- Spearman, Kendall,
quadratic-weighted kappa, exact agreement, sign accuracy -- evaluated for many comparisons at once on
the cluster bootstrap's resampled contingency tables."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from audit.stats.agreement import kappa_from_tables, kendall_from_tables, spearman_from_tables
from audit.stats.bootstrap import ClusterBootstrap
from audit.stats.estimate import Estimate, bootstrap_estimate


SCALE = (1, 2, 3, 4, 5)


MIDPOINT = 3.0


METRICS = ("spearman", "kendall", "kappa_quadratic", "exact_agreement", "sign_accuracy")


LENS_METRICS = ("kappa_quadratic", "spearman", "exact_agreement")  # judge vs each single annotator


# judge scored on the ceiling's leave-one-out targets (Kendall left out: it needs the costliest
# kernel and says what Spearman says)
MATCHED_METRICS = ("spearman", "kappa_quadratic", "exact_agreement", "sign_accuracy")


KIND_METRICS = {"ceiling": METRICS, "judge": METRICS, "matched": MATCHED_METRICS, "annotator": LENS_METRICS}


WHAT = {
    "spearman": "Spearman rank correlation",
    "kendall": "Kendall rank correlation (tau-b)",
    "kappa_quadratic": "Cohen's kappa, quadratic weights on the 1-5 scale (Cohen 1968)",
    "exact_agreement": "share of items with identical rounded ratings",
    "sign_accuracy": "share of items with the same preference sign (generic < 3, tie = 3, personalized > 3)",
}


_MIN_ROWS = {"spearman": 3, "kendall": 3, "kappa_quadratic": 2, "exact_agreement": 1, "sign_accuracy": 1}


def round_half_to_midpoint(values, midpoint: float = MIDPOINT) -> np.ndarray:
    """Round to the nearest integer; exact halves go toward ``midpoint`` (3.5 -> 3, 1.5 -> 2)."""
    v = np.asarray(values, float)
    return np.where(v >= midpoint, np.ceil(v - 0.5), np.floor(v + 0.5))


@dataclass
class Comparison:
    """Rows rated by both sides: continuous ratings (for rho, tau) and 1-5 categories (for kappa...).

    ``codes`` are the rows' cluster codes in the bootstrap's universe (:meth:`ClusterBootstrap.codes`).
    """

    x: np.ndarray
    y: np.ndarray
    xc: np.ndarray
    yc: np.ndarray
    codes: np.ndarray

    @property
    def n(self) -> int:
        return len(self.x)


def _sign_blocks() -> np.ndarray:
    """5x5 indicator of cells whose two ratings have the same sign relative to 3."""
    s = np.sign(np.asarray(SCALE) - MIDPOINT)
    return (s[:, None] == s[None, :]).astype(float)


_SAME_SIGN = _sign_blocks()


def _metrics_from_tables(cont: np.ndarray | None, cat: np.ndarray, metrics=METRICS) -> dict[str, np.ndarray]:
    """The requested metrics of stacks of (continuous-level) and (5x5 category) tables."""
    n = cat.sum(axis=(-2, -1))
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        if "spearman" in metrics:
            out["spearman"] = spearman_from_tables(cont)
        if "kendall" in metrics:
            out["kendall"] = kendall_from_tables(cont)
        if "kappa_quadratic" in metrics:
            out["kappa_quadratic"] = kappa_from_tables(cat, "quadratic")
        if "exact_agreement" in metrics:
            out["exact_agreement"] = np.where(n > 0, np.trace(cat, axis1=-2, axis2=-1) / n, np.nan)
        if "sign_accuracy" in metrics:
            out["sign_accuracy"] = np.where(n > 0, (cat * _SAME_SIGN).sum(axis=(-2, -1)) / n, np.nan)
    for key in out:  # too few rows: undefined (Spearman of 2 items is always +-1)
        out[key] = np.where(n >= _MIN_ROWS[key], out[key], np.nan)
    return out


def evaluate_comparisons(comparisons: list[Comparison], boot: ClusterBootstrap,
             metrics: tuple[str, ...] = METRICS) -> tuple[list[dict], list[dict]]:
    """Point values and bootstrap replicates of every metric of every comparison, batched.

    Returns ``(points, reps)``: per comparison, ``{metric: float}`` and ``{metric: (B,) array}``
    for each of ``metrics``. One sparse design matrix holds every comparison's two tables (padded
    to a common size; empty rows and columns of a table change none of the metrics), so all
    resamples of all comparisons come from one matrix product per chunk of resamples.
    """
    if not comparisons:
        return [], []
    ranks = "spearman" in metrics or "kendall" in metrics
    levels = []
    for c in comparisons:
        if ranks:
            xs, ix = np.unique(c.x, return_inverse=True)
            ys, iy = np.unique(c.y, return_inverse=True)
            levels.append((len(xs), len(ys), ix, iy))
        else:
            levels.append((0, 0, None, None))
    lx = max(1, max(v[0] for v in levels)) if ranks else 0
    ly = max(1, max(v[1] for v in levels)) if ranks else 0
    g = lx * ly
    width = g + 25
    rows, cols, codes = [], [], []
    offset = 0
    for p, (c, (_, _, ix, iy)) in enumerate(zip(comparisons, levels)):
        base = p * width
        r = np.arange(offset, offset + c.n)
        cat = (np.asarray(c.xc, int) - 1) * 5 + (np.asarray(c.yc, int) - 1)
        if ranks:
            rows += [r, r]
            cols += [base + ix * ly + iy, base + g + cat]
        else:
            rows.append(r)
            cols.append(base + g + cat)
        codes.append(np.asarray(c.codes, np.int64))
        offset += c.n
    rows_a, cols_a = np.concatenate(rows), np.concatenate(cols)
    design = sparse.csr_matrix((np.ones(len(rows_a)), (rows_a, cols_a)), shape=(offset, width * len(comparisons)))
    s = boot.cluster_sums(design, codes=np.concatenate(codes)).tocsc()

    def split(flat: np.ndarray) -> dict[str, np.ndarray]:
        t = flat.reshape(flat.shape[0], len(comparisons), width)
        cont = t[..., :g].reshape(*t.shape[:2], lx, ly) if ranks else None
        return _metrics_from_tables(cont, t[..., g:].reshape(*t.shape[:2], 5, 5), metrics)

    observed = split(np.asarray(design.sum(axis=0)))
    points = [{m: float(observed[m][0, p]) for m in metrics} for p in range(len(comparisons))]
    reps = {m: np.empty((boot.n_reps, len(comparisons))) for m in metrics}
    # float32 products are exact while every resampled count stays below 2**24 (<= C * max count)
    exact32 = not s.nnz or s.data.max() * max(1, boot.n_clusters) < 2**24
    chunk = max(1, min(boot.n_reps, 4_000_000 // max(1, s.shape[1])))
    for start in range(0, boot.n_reps, chunk):
        stop = min(boot.n_reps, start + chunk)
        if exact32:
            part = split(boot.resample_counts(s, start, stop))
        else:
            w = boot.counts[start:stop].T.astype(float)
            part = split(np.asarray((s.T @ w).T))
        for m in metrics:
            reps[m][start:stop] = part[m]
    return points, [{m: reps[m][:, p] for m in metrics} for p in range(len(comparisons))]


def comparison_estimate(metric: str, point: float, reps: np.ndarray, c: Comparison, boot: ClusterBootstrap, *,
              label: str | tuple[str, str], classical_p=None, test: str | None = None) -> Estimate:
    if isinstance(label, tuple):  # (label of rho / tau, label of kappa / exact / sign)
        label = label[0] if metric in ("spearman", "kendall") else label[1]
    if c.n < _MIN_ROWS[metric]:
        return Estimate(None, n=c.n, method=f"{WHAT[metric]} {label}",
                        reason=f"needs at least {_MIN_ROWS[metric]} items rated by both")
    reason = None if math.isfinite(point) else "undefined: a rater is constant on these items"
    return bootstrap_estimate(point if math.isfinite(point) else None, reps, boot=boot, labels=c.codes, n=c.n,
                              what=f"{WHAT[metric]} {label}", test=test if classical_p else None,
                              classical_p=classical_p, reason=reason)


def quiet_nan(fn, stack: np.ndarray, **kw) -> np.ndarray:
    """nanmean / nanstd without the all-NaN-slice warning (those rows stay NaN)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(stack, axis=1, **kw)


def average_comparisons(points: list[dict], reps: list[dict], metric: str, codes: np.ndarray,
             boot: ClusterBootstrap, what: str) -> Estimate:
    """Unweighted mean over comparisons of one metric (undefined ones left out), with its CI."""
    vals = np.array([p[metric] for p in points], float)
    ok = np.isfinite(vals)
    if not ok.any():
        return Estimate(None, n=len(codes), method=what, reason="undefined for every annotator")
    rep = quiet_nan(np.nanmean, np.column_stack([r[metric] for r in reps])[:, ok])
    return bootstrap_estimate(float(vals[ok].mean()), rep, boot=boot, labels=codes, n=len(codes), what=what,
                              extra={"n_annotators": int(ok.sum())})
