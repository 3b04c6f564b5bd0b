"""Agreement between raters: Cohen's kappa (plain and weighted), pairwise kappa matrices,
Krippendorff's alpha (ordinal), and table-based Spearman / Kendall kernels.

Pure functions, no I/O, no rounding. Every statistic here is a function of a contingency table
(or a coincidence matrix), so each has two forms:

* a point form on raw ratings (``cohen_kappa``, ``krippendorff_alpha``), and
* a vectorised kernel on a stack of tables (``kappa_from_tables`` ...), used by the cluster
  bootstrap (:mod:`audit.stats.bootstrap`) to evaluate thousands of resamples without a Python loop.

References
----------
Cohen, J. (1960). A coefficient of agreement for nominal scales. *Educ. Psychol. Meas.* 20, 37-46.
Cohen, J. (1968). Weighted kappa. *Psychological Bulletin* 70(4), 213-220.
Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability. Annenberg School, U. Pennsylvania.
Agresti, A. (2010). *Analysis of Ordinal Categorical Data*, 2nd ed., ch. 7 (Kendall tau-b from a table).
"""

from __future__ import annotations

from itertools import combinations
from typing import Literal, Sequence

import numpy as np
import pandas as pd

Weights = Literal["linear", "quadratic"] | None


# --- Cohen's kappa --------------------------------------------------------------------------


def kappa_weight_matrix(n_labels: int, weights: Weights = None) -> np.ndarray:
    """Disagreement weights ``w[i, j]`` on label *positions* i, j (Cohen 1968).

    ``None``: 0 on the diagonal, 1 elsewhere (plain kappa); ``"linear"``: ``|i - j|``;
    ``"quadratic"``: ``(i - j)**2``. As in scikit-learn, the distance is between positions in
    the ordered label list, so pass the full scale (``labels=[1, 2, 3, 4, 5]``) for ordinal data.
    """
    idx = np.arange(n_labels)
    d = np.abs(idx[:, None] - idx[None, :]).astype(float)
    if weights is None:
        return (d > 0).astype(float)
    if weights == "linear":
        return d
    if weights == "quadratic":
        return d**2
    raise ValueError(f"weights must be None, 'linear' or 'quadratic', not {weights!r}")


def kappa_from_tables(tables: np.ndarray, weights: Weights = None) -> np.ndarray:
    """Weighted kappa of each ``L x L`` confusion table in a stack (shape ``(..., L, L)``).

    kappa = 1 - sum(w * O) / sum(w * E), with O the observed proportions and
    E = outer(row margins, column margins) the proportions expected under independence
    (Cohen 1968, eq. 4). NaN where the table is empty or the expected disagreement is 0
    (both raters used a single, identical category).
    """
    t = np.asarray(tables, float)
    w = kappa_weight_matrix(t.shape[-1], weights)
    n = t.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        obs = (t * w).sum(axis=(-2, -1)) / n
        rows, cols = t.sum(axis=-1), t.sum(axis=-2)
        exp = np.einsum("...i,ij,...j->...", rows, w, cols) / n**2
        k = 1.0 - obs / exp
    return np.where((n > 0) & (exp > 0), k, np.nan)


def cohen_kappa(a: Sequence, b: Sequence, *, weights: Weights = None, labels: Sequence | None = None) -> float:
    """Cohen's kappa between two raters' labels of the same items (weighted per Cohen 1968).

    Parameters
    ----------
    a, b : sequences of equal length
        The two raters' labels, item by item.
    weights : None, "linear" or "quadratic"
        Disagreement weights on label positions (see :func:`kappa_weight_matrix`).
    labels : sequence, optional
        The ordered label set. Default: the sorted union of ``a`` and ``b`` (as scikit-learn).
        Items whose label is not in ``labels`` are ignored (as scikit-learn).

    Returns
    -------
    float
        kappa; NaN when undefined (no items, or both raters used one identical label).

    Notes
    -----
    The confusion table is ``scipy.stats.contingency.crosstab``; the formula is
    :func:`kappa_from_tables`. Agrees with ``sklearn.metrics.cohen_kappa_score`` (tested to 1e-9).
    """
    from scipy.stats.contingency import crosstab

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("a and b must be 1-d sequences of the same length")
    if labels is None:
        labels = np.union1d(a, b)
    labels = list(labels)
    if len(a) == 0 or not labels:
        return float("nan")
    table = crosstab(a, b, levels=(labels, labels)).count
    return float(kappa_from_tables(table, weights))


def pairwise_kappa(ratings: pd.DataFrame, *, item_col: str, rater_col: str, value_col: str,
                   weights: Weights = None, labels: Sequence | None = None,
                   raters: Sequence | None = None) -> pd.DataFrame:
    """Cohen's kappa for every pair of raters, on the items both rated.

    Parameters
    ----------
    ratings : DataFrame
        Long format, one row per (item, rater) with a label in ``value_col``.
    weights : None, "linear" or "quadratic"
    labels : sequence, optional
        The ordered label set shared by all pairs (default: sorted union of all values), so that
        weighted distances mean the same for every pair.
    raters : sequence, optional
        Order of the raters (default: sorted). Pairs are (raters[i], raters[j]) with i < j.

    Returns
    -------
    DataFrame
        Columns ``rater_a, rater_b, kappa, n_items``; kappa is NaN when undefined (no shared
        items, or both constant on the same label).
    """
    df = ratings[[item_col, rater_col, value_col]].dropna()
    if df.duplicated([item_col, rater_col]).any():
        dup = df[df.duplicated([item_col, rater_col])].iloc[0]
        raise ValueError(f"rater {dup[rater_col]!r} rates item {dup[item_col]!r} more than once")
    if labels is None:
        labels = np.unique(df[value_col].to_numpy())
    order = list(raters) if raters is not None else sorted(df[rater_col].unique(), key=str)
    wide = df.pivot(index=item_col, columns=rater_col, values=value_col)
    rows = []
    for ra, rb in combinations(order, 2):
        if ra not in wide or rb not in wide:
            rows.append((ra, rb, float("nan"), 0))
            continue
        both = wide[[ra, rb]].dropna()
        k = cohen_kappa(both[ra].to_numpy(), both[rb].to_numpy(), weights=weights, labels=labels) if len(both) else float("nan")
        rows.append((ra, rb, k, int(len(both))))
    return pd.DataFrame(rows, columns=["rater_a", "rater_b", "kappa", "n_items"])


def mean_kappa_by_group(pairs: pd.DataFrame, groups: dict[str, str]) -> dict:
    """Mean pairwise kappa within humans, within judges and between the two (paper Fig. 3).

    Parameters
    ----------
    pairs : DataFrame
        Output of :func:`pairwise_kappa` (columns ``rater_a, rater_b, kappa``).
    groups : dict
        rater -> ``"human"`` or ``"judge"``. Pairs with a rater not in ``groups`` are ignored.

    Returns
    -------
    dict
        ``{"mean_within_humans": {...}, "mean_within_judges": {...}, "mean_human_judge": {...}}``,
        each ``{"estimate": mean kappa or None, "n_pairs": pairs with a defined kappa, "method": str}``.
        Pairs whose kappa is undefined (NaN) are left out of the mean and of ``n_pairs``.
    """
    bad = {g for g in groups.values() if g not in ("human", "judge")}
    if bad:
        raise ValueError(f"groups must map raters to 'human' or 'judge', got {sorted(bad)}")
    buckets: dict[str, list[float]] = {"mean_within_humans": [], "mean_within_judges": [], "mean_human_judge": []}
    for ra, rb, k in pairs[["rater_a", "rater_b", "kappa"]].itertuples(index=False):
        ga, gb = groups.get(ra), groups.get(rb)
        if ga is None or gb is None or k is None or not np.isfinite(k):
            continue
        key = ("mean_within_humans" if ga == "human" else "mean_within_judges") if ga == gb else "mean_human_judge"
        buckets[key].append(float(k))
    method = "unweighted mean of pairwise Cohen's kappa over rater pairs (Cohen 1960/1968)"
    return {key: {"estimate": float(np.mean(v)) if v else None, "n_pairs": len(v), "method": method}
            for key, v in buckets.items()}


# --- rank correlations from contingency tables ----------------------------------------------


def _midranks(margins: np.ndarray) -> np.ndarray:
    """Mid-ranks of ordered categories with the given counts (ties share the average rank)."""
    cum = np.cumsum(margins, axis=-1)
    return cum - margins + (margins + 1.0) / 2.0


def spearman_from_tables(tables: np.ndarray) -> np.ndarray:
    """Spearman's rho (ties by mid-ranks) of each ``Lx x Ly`` table of counts (``(..., Lx, Ly)``).

    Rows and columns are ordered categories; the count ``t[i, j]`` is the number of items with
    the i-th x value and the j-th y value. rho is Pearson's r of the mid-ranks, weighted by the
    counts, which equals ``scipy.stats.spearmanr`` on the expanded data. NaN when a variable is
    constant or the table is empty.
    """
    t = np.asarray(tables, float)
    rows, cols = t.sum(axis=-1), t.sum(axis=-2)
    n = rows.sum(axis=-1)
    rx, ry = _midranks(rows), _midranks(cols)
    mean = (n + 1.0) / 2.0
    dx, dy = rx - mean[..., None], ry - mean[..., None]
    cov = np.einsum("...ij,...i,...j->...", t, dx, dy)
    vx = np.einsum("...i,...i->...", rows, dx**2)
    vy = np.einsum("...j,...j->...", cols, dy**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(vx * vy)
    return np.where((vx > 0) & (vy > 0), r, np.nan)


def kendall_from_tables(tables: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each ``Lx x Ly`` table of counts (``(..., Lx, Ly)``).

    tau-b = (P - Q) / sqrt((n0 - n1)(n0 - n2)) with P, Q the concordant and discordant pairs,
    n0 = n(n-1)/2 and n1, n2 the pairs tied on x, on y (Agresti 2010, sec. 7.1). Equals
    ``scipy.stats.kendalltau`` (variant 'b') on the expanded data. NaN when undefined.
    """
    t = np.asarray(tables, float)
    # P - Q = sum_kl t_kl D_kl, D_kl = sum over cells (i < k, j) of t_ij sign(l - j): pairs ordered by
    # x (ties on x add nothing). With R = rows above (exclusive cumsum over x) and CR its exclusive
    # cumsum over y: D = CR - (total(R) - CR - R) = 2 CR + R - total(R).
    above = np.cumsum(t, axis=-2) - t
    left = np.cumsum(above, axis=-1) - above
    d = 2.0 * left + above - above.sum(axis=-1, keepdims=True)
    s = (t * d).sum(axis=(-2, -1))
    rows, cols = t.sum(axis=-1), t.sum(axis=-2)
    n = rows.sum(axis=-1)
    n0 = n * (n - 1) / 2
    n1 = (rows * (rows - 1) / 2).sum(axis=-1)
    n2 = (cols * (cols - 1) / 2).sum(axis=-1)
    den = (n0 - n1) * (n0 - n2)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = s / np.sqrt(den)
    return np.where(den > 0, tau, np.nan)


# --- Krippendorff's alpha ---------------------------------------------------------------------


def coincidence_matrix(reliability: np.ndarray, values: Sequence[float]) -> np.ndarray:
    """Krippendorff's coincidence matrix ``o[c, k]`` of a raters x units array (NaN = missing).

    Each unit with m >= 2 ratings adds, for every ordered pair of its ratings from different
    raters, 1 / (m - 1) to ``o[value_i, value_j]`` (Krippendorff 2011, sec. A). Units with fewer
    than two ratings add nothing.
    """
    return unit_coincidences(reliability, values).sum(axis=0)


def unit_coincidences(reliability: np.ndarray, values: Sequence[float]) -> np.ndarray:
    """Per-unit coincidence contributions, shape ``(n_units, L, L)`` (sum them for the matrix)."""
    data = np.asarray(reliability, float)
    values = np.asarray(values, float)
    if data.ndim != 2:
        raise ValueError("reliability data must be a 2-d raters x units array")
    present = ~np.isnan(data)
    known = np.isin(data[present], values)
    if not known.all():
        raise ValueError(f"value {data[present][~known][0]!r} is not in the value domain")
    # counts[u, c] = number of ratings of unit u with value c
    counts = np.stack([(data == v).sum(axis=0) for v in values], axis=1).astype(float)
    m = counts.sum(axis=1)
    pair = counts[:, :, None] * counts[:, None, :] - np.einsum("uc,ck->uck", counts, np.eye(len(values)))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pair / (m - 1)[:, None, None]
    out[m < 2] = 0.0
    return out


def ordinal_delta2(value_counts: np.ndarray) -> np.ndarray:
    """Krippendorff's ordinal metric: delta2[c, k] = (sum_{g=c..k} n_g - (n_c + n_k) / 2) ** 2.

    ``value_counts`` are the marginal counts n_c of the coincidence matrix, shape ``(..., L)``.
    """
    n = np.asarray(value_counts, float)
    cum = np.cumsum(n, axis=-1)
    # sum_{g=min..max} n_g = cum[max] - cum[min] + n[min]
    lo_idx = np.minimum.outer(np.arange(n.shape[-1]), np.arange(n.shape[-1]))
    hi_idx = np.maximum.outer(np.arange(n.shape[-1]), np.arange(n.shape[-1]))
    span = cum[..., hi_idx] - cum[..., lo_idx] + n[..., lo_idx]
    return (span - (n[..., :, None] + n[..., None, :]) / 2.0) ** 2


def alpha_from_coincidences(o: np.ndarray, level: Literal["ordinal", "nominal", "interval"] = "ordinal",
                            values: Sequence[float] | None = None) -> np.ndarray:
    """Krippendorff's alpha of each coincidence matrix in a stack (``(..., L, L)``).

    alpha = 1 - (n - 1) * sum_ck o_ck delta2_ck / sum_ck n_c n_k delta2_ck  (Krippendorff 2011),
    n_c the row margins of o and n their total. NaN when there is no expected disagreement.
    ``values`` (numeric, for the interval metric) default to 0..L-1.
    """
    o = np.asarray(o, float)
    nc = o.sum(axis=-1)
    n = nc.sum(axis=-1)
    L = o.shape[-1]
    if level == "ordinal":
        d2 = ordinal_delta2(nc)
    elif level == "nominal":
        d2 = np.broadcast_to(1.0 - np.eye(L), o.shape)
    elif level == "interval":
        v = np.arange(L, dtype=float) if values is None else np.asarray(values, float)
        d2 = np.broadcast_to((v[:, None] - v[None, :]) ** 2, o.shape)
    else:
        raise ValueError(f"unknown level of measurement {level!r}")
    do = (o * d2).sum(axis=(-2, -1))
    de = np.einsum("...c,...ck,...k->...", nc, d2, nc)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = 1.0 - (n - 1.0) * do / de
    return np.where(de > 0, a, np.nan)


def krippendorff_alpha(reliability: np.ndarray, *, values: Sequence[float] | None = None,
                       level: Literal["ordinal", "nominal", "interval"] = "ordinal") -> float:
    """Krippendorff's alpha of a raters x units array (NaN = not rated), coincidence-matrix method.

    Parameters
    ----------
    reliability : array, shape (n_raters, n_units)
    values : sequence, optional
        The ordered value domain (default: the sorted distinct values present). For the ordinal
        metric only the order and the observed frequencies matter.
    level : "ordinal" (default), "nominal" or "interval"

    Returns
    -------
    float
        alpha; NaN when undefined (fewer than two pairable values or a single value used).

    Notes
    -----
    Krippendorff (2011), "Computing Krippendorff's alpha-reliability". Agrees with the
    ``krippendorff`` package (tested to 1e-9).
    """
    data = np.asarray(reliability, float)
    if values is None:
        values = np.unique(data[~np.isnan(data)])
    if len(values) == 0:
        return float("nan")
    return float(alpha_from_coincidences(coincidence_matrix(data, values), level, values))
