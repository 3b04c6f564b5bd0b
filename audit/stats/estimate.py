"""The typed estimate every statistic returns, and the machinery that makes one from a point value and
its cluster-bootstrap replicates (percentile CI under the one validity rule, the p-value of the named
test or the cluster Wald test)."""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np

from audit.stats.bootstrap import CONFIDENCE, ClusterBootstrap, one_hot, percentile_ci, ratio, wald_p_value


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% confidence interval, p-value, sample size and method."""

    estimate: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    n: int = 0
    method: str = ""
    extra: dict = field(default_factory=dict)
    reason: str | None = None  # why the estimate (or its CI) is missing

    def to_dict(self) -> dict:
        d = {"estimate": self.estimate, "p_value": self.p_value, "n": self.n, "method": self.method,
             "reason": self.reason, "ci": None if self.ci_low is None else [self.ci_low, self.ci_high]}
        d.update(copy.deepcopy(self.extra))
        if d["reason"] is None:
            del d["reason"]
        return d


def finite(x) -> float | None:
    """A float, or None for NaN/inf (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@contextlib.contextmanager
def unrounded_pingouin() -> Iterator[None]:
    """pingouin rounds its ``CI95`` columns to 2 decimals by default (``pingouin.options``);
    switch that off for the duration (no rounding before presentation)."""
    import pingouin as pg

    saved = dict(pg.options)
    pg.options["round"] = None
    for key in [k for k in pg.options if k.startswith("round.")]:
        pg.options[key] = None
    try:
        yield
    finally:
        pg.options.clear()
        pg.options.update(saved)


def proportion(k: int, n: int) -> Estimate:
    """k/n with a Wilson score 95% interval (scipy.stats.binomtest(...).proportion_ci)."""
    from scipy.stats import binomtest

    method = "proportion with Wilson score interval (scipy.stats.binomtest)"
    if n == 0:
        return Estimate(None, n=0, method=method, extra={"k": 0}, reason="no items")
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return Estimate(k / n, float(ci.low), float(ci.high), None, n, method, {"k": int(k)})


def pingouin_value(res, *names):
    """The first row's value of the first of ``names`` that is a column of a pingouin result table."""
    for name in names:
        if name in res:
            return res[name].iloc[0]
    raise KeyError(names)


def pingouin_ci(res) -> tuple[float | None, float | None]:
    """The 95% CI columns of a pingouin result table (``CI95`` or ``CI95%``)."""
    lo, hi = pingouin_value(res, "CI95", "CI95%")
    return finite(lo), finite(hi)


def resolve_bootstrap(n: int, clusters: Sequence | None, boot: ClusterBootstrap | None,
                      seed: int) -> tuple[ClusterBootstrap, list[str]]:
    """The bootstrap plan and each row's cluster label.

    ``clusters=None``: each row is its own cluster. ``boot=None``: a fresh plan over these clusters
    with ``seed`` (a run passes one shared plan, so all its statistics use the same resamples).
    """
    labels = [f"row-{i}" for i in range(n)] if clusters is None else [str(c) for c in clusters]
    if len(labels) != n:
        raise ValueError(f"clusters has {len(labels)} labels for {n} rows")
    if boot is None:
        boot = ClusterBootstrap(labels, seed=seed)
    elif clusters is None:
        raise ValueError("a shared bootstrap needs the rows' clusters")
    return boot, labels


def bootstrap_method(boot: ClusterBootstrap) -> str:
    """How a cluster-bootstrap interval was made, for an estimate's ``method``."""
    return (f"95% CI: cluster bootstrap percentile interval ({boot.n_reps} resamples of clusters "
            f"= users, else items; seed {boot.seed})")


def bootstrap_estimate(est: float | None, reps: np.ndarray | None, *, boot: ClusterBootstrap, labels: list[str],
                       n: int, what: str, test: str | None = None, classical_p: Callable[[], float | None] | None = None,
                       extra: dict | None = None, reason: str | None = None) -> Estimate:
    """An :class:`Estimate` from a point value and its bootstrap replicates.

    ``test``/``classical_p``: the textbook test and a function computing its p-value, used when
    every cluster holds one row; with shared clusters the p-value is the cluster Wald test.
    ``test=None``: no p-value (none is meaningful).
    """
    n_clusters = len(set(labels))
    extra = {"n_clusters": n_clusters, **(extra or {})}
    method = f"{what}; {bootstrap_method(boot)}"
    if est is None or not math.isfinite(est):
        return Estimate(None, n=n, method=method, extra=extra, reason=reason or "not defined on these data")
    lo = hi = None
    p = None
    if reps is not None:
        lo, hi, n_valid = percentile_ci(reps)
        extra["n_boot_valid"] = n_valid
        if lo is None and reason is None:
            reason = f"the statistic is undefined in {boot.n_reps - n_valid} of {boot.n_reps} resamples: no interval"
    if test is not None:
        if n_clusters == n:
            method += f"; p: {test}"
            p = finite(classical_p()) if classical_p is not None else None
        else:
            method += (f"; p: Wald test, estimate / cluster-bootstrap SE against t with {n_clusters - 1} df "
                       f"(items share users, so {test} would be too liberal)")
            p = wald_p_value(est, reps, n_clusters - 1) if reps is not None else None
    return Estimate(finite(est), finite(lo), finite(hi), p, n, method, extra, reason)


def mean_replicates(values: np.ndarray, boot: ClusterBootstrap, labels: list[str]) -> np.ndarray:
    """Bootstrap replicates of the mean of ``values`` (mean over the resampled rows)."""
    v = np.asarray(values, float)
    r = boot.sums(np.column_stack([v, np.ones_like(v)]), labels)
    return ratio(r[:, 0], r[:, 1])


def group_difference_replicates(values: np.ndarray, mask: np.ndarray, boot: ClusterBootstrap,
                                labels: list[str]) -> np.ndarray:
    """Replicates of mean(values | mask) - mean(values | not mask)."""
    v, m = np.asarray(values, float), np.asarray(mask, float)
    r = boot.sums(np.column_stack([v * m, m, v * (1 - m), 1 - m]), labels)
    return ratio(r[:, 0], r[:, 1]) - ratio(r[:, 2], r[:, 3])


def table_estimate(est: float | None, cells: np.ndarray, shape: tuple[int, ...], clusters, boot: ClusterBootstrap,
                   kernel: Callable[[np.ndarray], np.ndarray], *, what: str, n: int, extra: dict | None = None,
                   reason: str | None = None) -> Estimate:
    """An Estimate whose CI is the cluster bootstrap of ``kernel`` on resampled count tables.

    ``cells``: each row's flat index into a table of ``shape``. A resample's tables are the sums of
    the per-cluster tables of the drawn clusters (:meth:`ClusterBootstrap.sums`); ``kernel`` maps
    the stack ``(B, *shape)`` to B values. No p-value (none is meaningful for these statistics).
    """
    labels = [str(c) for c in clusters]
    sums = boot.sums(one_hot(np.asarray(cells, np.int64), int(np.prod(shape))), labels)
    reps = kernel(sums.reshape((-1,) + tuple(shape)))
    return bootstrap_estimate(est, reps, boot=boot, labels=labels, n=n, what=what, extra=extra, reason=reason)


def nanmean_last(a: np.ndarray) -> np.ndarray:
    """Mean over the last axis ignoring NaN; NaN where every value is NaN (no warning)."""
    ok = ~np.isnan(a)
    return np.where(ok.any(axis=-1), np.nansum(a, axis=-1) / np.maximum(ok.sum(axis=-1), 1), np.nan)
