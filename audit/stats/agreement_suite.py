"""Agreement of judges with people, the way the field reports it, each with a cluster-bootstrap CI.

* per judge vs humans: Spearman and Kendall with the mean human rating; quadratic-weighted Cohen's
  kappa, exact agreement and sign accuracy against the rounded human median;
* the human ceiling: leave-one-annotator-out agreement of each annotator with the others, and each
  judge scored against the very same leave-one-out targets (``matched``) and its gap to the ceiling;
* the individual lens: each judge against each annotator separately, the spread across
  annotators, and which judge fits which annotator best;
* inter-annotator reliability: Krippendorff's alpha (ordinal) and the ICC (pingouin);
* the pairwise kappa matrix across all raters with mean within-human / within-judge / human-judge
  kappa (as Figure 3 of "Re-Centering Humans in LLM Personalization").

Rounding for the categorical measures (kappa, exact agreement, sign): a judge's item rating (the
mean over its orders and samples) and the human median can end in .5; such values are rounded
toward the scale midpoint 3 ("no difference"): 3.5 -> 3, 4.5 -> 4, 2.5 -> 3, 1.5 -> 2. This
treats both directions alike (unlike round-half-up, which favours "personalized", or numpy's
round-half-to-even, which favours even ratings) and calls a split between "no difference" and
a preference no preference.

All functions are pure; every coefficient has a vectorised table kernel in :mod:`audit.stats.agreement`,
so all comparisons of a run are bootstrapped in one batched matrix product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from audit.stats.agreement import (alpha_from_coincidences, kappa_from_tables, kendall_from_tables, mean_kappa_by_group,
                        spearman_from_tables, unit_coincidences)
from audit.stats.bootstrap import ClusterBootstrap
from audit.stats.estimate import Estimate, finite, bootstrap_estimate, unrounded_pingouin

SCALE = (1, 2, 3, 4, 5)
MIDPOINT = 3.0
METRICS = ("spearman", "kendall", "kappa_quadratic", "exact_agreement", "sign_accuracy")
LENS_METRICS = ("kappa_quadratic", "spearman", "exact_agreement")  # judge vs each single annotator
# judge scored on the ceiling's leave-one-out targets (Kendall left out: it needs the costliest
# kernel and says what Spearman says)
MATCHED_METRICS = ("spearman", "kappa_quadratic", "exact_agreement", "sign_accuracy")
_KIND_METRICS = {"ceiling": METRICS, "judge": METRICS, "matched": MATCHED_METRICS, "annotator": LENS_METRICS}
_WHAT = {
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


# --- one comparison = two raters' ratings of the same rows ---------------------------------------


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


def _estimate(metric: str, point: float, reps: np.ndarray, c: Comparison, boot: ClusterBootstrap, *,
              label: str | tuple[str, str], classical_p=None, test: str | None = None) -> Estimate:
    if isinstance(label, tuple):  # (label of rho / tau, label of kappa / exact / sign)
        label = label[0] if metric in ("spearman", "kendall") else label[1]
    if c.n < _MIN_ROWS[metric]:
        return Estimate(None, n=c.n, method=f"{_WHAT[metric]} {label}",
                        reason=f"needs at least {_MIN_ROWS[metric]} items rated by both")
    reason = None if math.isfinite(point) else "undefined: a rater is constant on these items"
    return bootstrap_estimate(point if math.isfinite(point) else None, reps, boot=boot, labels=c.codes, n=c.n,
                              what=f"{_WHAT[metric]} {label}", test=test if classical_p else None,
                              classical_p=classical_p, reason=reason)


def _quiet_nan(fn, stack: np.ndarray, **kw) -> np.ndarray:
    """nanmean / nanstd without the all-NaN-slice warning (those rows stay NaN)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(stack, axis=1, **kw)


def _average(points: list[dict], reps: list[dict], metric: str, codes: np.ndarray,
             boot: ClusterBootstrap, what: str) -> Estimate:
    """Unweighted mean over comparisons of one metric (undefined ones left out), with its CI."""
    vals = np.array([p[metric] for p in points], float)
    ok = np.isfinite(vals)
    if not ok.any():
        return Estimate(None, n=len(codes), method=what, reason="undefined for every annotator")
    rep = _quiet_nan(np.nanmean, np.column_stack([r[metric] for r in reps])[:, ok])
    return bootstrap_estimate(float(vals[ok].mean()), rep, boot=boot, labels=codes, n=len(codes), what=what,
                              extra={"n_annotators": int(ok.sum())})


# --- inputs as arrays ---------------------------------------------------------------------------


@dataclass
class _Data:
    """Items in a fixed order with their cluster codes, the human and judge rating matrices."""

    ids: np.ndarray          # (N,) item ids
    codes: np.ndarray        # (N,) cluster codes in the bootstrap's universe
    annotators: list[str]
    H: np.ndarray            # (N, A) human ratings, NaN = not rated
    judges: list[str]
    J: np.ndarray            # (N, J) judge item ratings (mean over orders/samples), NaN = not rated


def _arrays(items: pd.DataFrame, human: pd.DataFrame, judges: pd.DataFrame, boot: ClusterBootstrap) -> _Data:
    ids = items["item_id"].astype(str).to_numpy()
    pos = pd.Index(ids)
    codes = boot.codes(items["cluster"].to_numpy())
    annotators = sorted({str(a) for a in human["annotator"]}) if len(human) else []
    H = np.full((len(ids), len(annotators)), np.nan)
    if len(human):
        r = pos.get_indexer(human["item_id"].astype(str))
        c = pd.Index(annotators).get_indexer(human["annotator"].astype(str))
        if (r < 0).any():
            raise ValueError("a human rating names an item that is not in items")
        H[r, c] = human["rating"].to_numpy(float)
    names = [str(j) for j in judges.columns]
    J = judges.rename(index=str).reindex(ids).to_numpy(float) if names else np.zeros((len(ids), 0))
    return _Data(ids, codes, annotators, H, names, J)


def _comparison(mask, x, y, xc, yc, codes) -> Comparison:
    return Comparison(np.asarray(x, float)[mask], np.asarray(y, float)[mask], np.asarray(xc)[mask].astype(int),
                      np.asarray(yc)[mask].astype(int), codes[mask])


def _loo(H: np.ndarray, a: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask, others' mean, others' median) for annotator column ``a``: items it rated with >= 1 other."""
    own = H[:, a]
    others = np.delete(H, a, axis=1)
    cnt = (~np.isnan(others)).sum(axis=1)
    mask = ~np.isnan(own) & (cnt >= 1)
    mean = np.full(len(own), np.nan)
    med = np.full(len(own), np.nan)
    if mask.any():
        mean[mask] = np.nanmean(others[mask], axis=1)
        med[mask] = np.nanmedian(others[mask], axis=1)
    return mask, mean, med


# --- the whole agreement section -----------------------------------------------------------------


def agreement_suite(items: pd.DataFrame, human: pd.DataFrame, judges: pd.DataFrame, *,
                    boot: ClusterBootstrap) -> dict:
    """Every agreement number of the audit.

    Parameters
    ----------
    items : DataFrame
        One row per item: ``item_id``, ``cluster`` (the user, else the item id).
    human : DataFrame
        One row per human rating: ``item_id``, ``annotator``, ``rating`` (integer 1-5).
    judges : DataFrame
        Item x judge table (index ``item_id``) of each judge's item rating: the mean over its
        orders and samples (NaN where not rated).
    boot : ClusterBootstrap
        The run's resampling plan (its universe holds every item's cluster).

    Returns
    -------
    dict
        ``{"judges": {J: {...}}, "ceiling": {...}, "krippendorff_alpha": {...}, "icc": {...},
        "matrix": {...}, "best_judge_per_annotator": {...}}``; definitions in docs/METHODS.md.
    """
    from scipy.stats import kendalltau, spearmanr

    d = _arrays(items, human, judges, boot)
    H, J, codes = d.H, d.J, d.codes
    rated = ~np.isnan(H)
    n_rated = rated.sum(axis=1)
    with np.errstate(invalid="ignore"):
        hmean = np.where(n_rated > 0, np.nansum(H, axis=1) / np.maximum(n_rated, 1), np.nan)
    hmed = np.full(len(H), np.nan)
    if (n_rated > 0).any():
        hmed[n_rated > 0] = np.nanmedian(H[n_rated > 0], axis=1)
    hmed_r = np.where(np.isnan(hmed), 3, round_half_to_midpoint(hmed))
    Jr = np.where(np.isnan(J), 3, round_half_to_midpoint(J))
    Hc = np.where(np.isnan(H), 3, H)

    # comparisons by kind; each kind is evaluated in one batch (tables padded within the kind only)
    kinds: dict[str, list[Comparison]] = {"ceiling": [], "judge": [], "matched": [], "annotator": []}
    index: dict[tuple, int] = {}

    def add(key, comp):
        index[key] = len(kinds[key[0]])
        kinds[key[0]].append(comp)

    loo = {a: _loo(H, k) for k, a in enumerate(d.annotators)} if len(d.annotators) > 1 else {}
    loo = {a: v for a, v in loo.items() if v[0].any()}
    for k, a in enumerate(d.annotators):
        if a in loo:
            mask, mean, med = loo[a]
            add(("ceiling", a), _comparison(mask, H[:, k], mean, Hc[:, k],
                                            np.where(mask, round_half_to_midpoint(np.nan_to_num(med, nan=3)), 3), codes))
    for q, j in enumerate(d.judges):
        has = ~np.isnan(J[:, q])
        add(("judge", j), _comparison(has & (n_rated > 0), J[:, q], hmean, Jr[:, q], hmed_r, codes))
        for a, (mask, mean, med) in loo.items():
            add(("matched", j, a), _comparison(has & mask, J[:, q], mean, Jr[:, q],
                                               np.where(mask, round_half_to_midpoint(np.nan_to_num(med, nan=3)), 3),
                                               codes))
        for k, a in enumerate(d.annotators):
            add(("annotator", j, a), _comparison(has & rated[:, k], J[:, q], H[:, k], Jr[:, q], Hc[:, k], codes))
    done = {kind: evaluate_comparisons(comps, boot, _KIND_METRICS[kind]) for kind, comps in kinds.items()}

    def get(key):
        k = index[key]
        points, reps = done[key[0]]
        return kinds[key[0]][k], points[k], reps[k]

    # the ceiling: mean over annotators of their leave-one-out agreement
    ceiling: dict = {}
    if loo:
        any_loo = np.any([v[0] for v in loo.values()], axis=0)
        ceiling_codes = codes[any_loo]
        for m in METRICS:
            ceiling[m] = _average([get(("ceiling", a))[1] for a in loo], [get(("ceiling", a))[2] for a in loo], m,
                                  ceiling_codes, boot,
                                  f"human ceiling: mean over annotators of the {_WHAT[m]} of each annotator with "
                                  "the mean (for rho, tau) or rounded median (kappa, exact, sign) of the other "
                                  "annotators on the items they rated").to_dict()
        ceiling["per_annotator"] = {
            a: {m: _estimate(m, get(("ceiling", a))[1][m], get(("ceiling", a))[2][m], get(("ceiling", a))[0], boot,
                             label=(f"between annotator {a} and the mean of the other annotators",
                                    f"between annotator {a} and the other annotators' median rounded half "
                                    "toward 3")).to_dict()
                for m in METRICS} for a in loo}
    else:
        ceiling["reason"] = "needs at least 2 annotators rating common items"

    out_judges: dict = {}
    best: dict = {}
    for q, j in enumerate(d.judges):
        c, pt, rp = get(("judge", j))
        entry: dict = {}
        for m in METRICS:
            classical, test = None, None
            if m in ("spearman", "kendall") and c.n >= 3 and np.ptp(c.x) > 0 and np.ptp(c.y) > 0:
                res = (spearmanr if m == "spearman" else kendalltau)(c.x, c.y)
                pt = {**pt, m: float(res.statistic)}
                classical = (lambda r=res: r.pvalue)
                test = ("scipy.stats.spearmanr t-test" if m == "spearman"
                        else "scipy.stats.kendalltau test (tau-b), as pingouin.corr")
            entry[m] = _estimate(m, pt[m], rp[m], c, boot, classical_p=classical, test=test,
                                 label=("between the judge's item rating and the mean human rating",
                                        "between the judge's item rating and the human median, both rounded half "
                                        "toward 3")).to_dict()
        if loo:
            keys = [("matched", j, a) for a in loo]
            mp, mr = [get(k)[1] for k in keys], [get(k)[2] for k in keys]
            cp, cr = [get(("ceiling", a))[1] for a in loo], [get(("ceiling", a))[2] for a in loo]
            rows = np.any([v[0] for v in loo.values()], axis=0) & ~np.isnan(J[:, q])
            entry["matched"] = {m: _average(mp, mr, m, codes[rows], boot,
                                            f"judge scored like the ceiling: mean over annotators a of the {_WHAT[m]} "
                                            "of the judge with the other annotators' mean (rho, tau) or rounded "
                                            "median (kappa, exact, sign) on a's items").to_dict()
                                for m in MATCHED_METRICS}
            entry["ceiling_gap"] = {m: _gap(mp, mr, cp, cr, m, codes[rows], boot).to_dict() for m in MATCHED_METRICS}
        if d.annotators:
            keys = [("annotator", j, a) for a in d.annotators]
            per = {a: {m: _estimate(m, get(k)[1][m], get(k)[2][m], get(k)[0], boot,
                                    label=(f"between the judge's item rating and annotator {a}'s rating",
                                           f"between the judge's item rating (rounded half toward 3) and "
                                           f"annotator {a}'s rating")).to_dict()
                       for m in LENS_METRICS} for a, k in zip(d.annotators, keys)}
            entry["per_annotator"] = per
            entry["spread"] = _spread([get(k)[1] for k in keys], [get(k)[2] for k in keys], d.annotators, boot,
                                      codes[~np.isnan(J[:, q])])
            kap = {a: per[a]["kappa_quadratic"]["estimate"] for a in d.annotators}
            kap = {a: v for a, v in kap.items() if v is not None}
            entry["best_fit_annotator"] = max(kap, key=kap.get) if kap else None
            for a, v in kap.items():
                if a not in best or v > best[a]["kappa_quadratic"]:
                    best[a] = {"judge": j, "kappa_quadratic": v}
        out_judges[j] = entry

    return {
        "judges": out_judges,
        "ceiling": ceiling,
        "krippendorff_alpha": krippendorff_alpha_estimate(H, codes, boot).to_dict(),
        "icc": icc_estimate(human),
        "matrix": kappa_matrix(d, boot),
        "best_judge_per_annotator": {a: best.get(a) for a in d.annotators},
    }


def _gap(mp, mr, cp, cr, m, codes, boot) -> Estimate:
    """(judge matched) - (human ceiling) on one metric, with the CI of the difference."""
    what = (f"judge minus human ceiling on the {_WHAT[m]} (both averaged over the same annotators' "
            "leave-one-out targets; negative = below the ceiling)")
    jv = np.array([p[m] for p in mp], float)
    hv = np.array([p[m] for p in cp], float)
    ok = np.isfinite(jv) & np.isfinite(hv)
    if not ok.any():
        return Estimate(None, n=len(codes), method=what, reason="undefined for every annotator")
    js = np.column_stack([r[m] for r in mr])[:, ok]
    hs = np.column_stack([r[m] for r in cr])[:, ok]
    rep = _quiet_nan(np.nanmean, js) - _quiet_nan(np.nanmean, hs)
    return bootstrap_estimate(float(jv[ok].mean() - hv[ok].mean()), rep, boot=boot, labels=codes, n=len(codes),
                              what=what, extra={"n_annotators": int(ok.sum())})


def _spread(points, reps, annotators, boot, codes) -> dict:
    """SD across annotators of the judge's per-annotator agreement, and its range."""
    out = {}
    for m in ("kappa_quadratic", "spearman"):
        vals = np.array([p[m] for p in points], float)
        ok = np.isfinite(vals)
        what = (f"standard deviation across annotators of the judge's {_WHAT[m]} with each annotator "
                "(includes each per-annotator estimate's sampling noise)")
        if ok.sum() < 2:
            out[m] = Estimate(None, n=int(ok.sum()), method=what, reason="needs at least 2 annotators").to_dict()
            continue
        rep = _quiet_nan(np.nanstd, np.column_stack([r[m] for r in reps])[:, ok], ddof=1)
        est = bootstrap_estimate(float(np.std(vals[ok], ddof=1)), rep, boot=boot, labels=codes, n=len(codes),
                                 what=what).to_dict()
        idx = np.flatnonzero(ok)
        est.update({"min": float(vals[ok].min()), "max": float(vals[ok].max()),
                    "min_annotator": annotators[int(idx[np.argmin(vals[ok])])],
                    "max_annotator": annotators[int(idx[np.argmax(vals[ok])])], "n_annotators": int(ok.sum())})
        out[m] = est
    return out


# --- inter-annotator reliability --------------------------------------------------------------------


def krippendorff_alpha_estimate(H: np.ndarray, codes: np.ndarray, boot: ClusterBootstrap) -> Estimate:
    """Krippendorff's alpha (ordinal) among annotators, with a cluster-bootstrap CI over items.

    alpha = 1 - (n - 1) sum o_ck delta2_ck / sum n_c n_k delta2_ck (Krippendorff 2011), from the
    coincidence matrix of all items with at least two ratings (``H``: items x annotators, NaN = not
    rated). Each resample sums the per-item coincidence contributions of its items.
    """
    what = "Krippendorff's alpha, ordinal metric, coincidence-matrix method (Krippendorff 2011)"
    if H.shape[1] < 2:
        return Estimate(None, n=0, method=what, reason="needs at least 2 annotators")
    per = unit_coincidences(H.T, SCALE)
    pairable = per.sum(axis=(1, 2)) > 0
    n_units = int(pairable.sum())
    if n_units < 2:
        return Estimate(None, n=n_units, method=what, reason="needs at least 2 items with 2 or more ratings")
    point = float(alpha_from_coincidences(per.sum(axis=0)))
    sums = boot.resample(boot.cluster_sums(per.reshape(len(per), 25), codes=codes))
    reps = alpha_from_coincidences(sums.reshape(-1, 5, 5))
    return bootstrap_estimate(point if math.isfinite(point) else None, reps, boot=boot, labels=codes[pairable],
                              n=n_units, what=what,
                              extra={"n_annotators": int(H.shape[1]), "n_pairable_values": int(round(per.sum()))},
                              reason=None if math.isfinite(point) else "no variation in the ratings")


def icc_estimate(human: pd.DataFrame, *, min_items: int = 5) -> dict:
    """Intraclass correlation among annotators (pingouin.intraclass_corr; Shrout & Fleiss 1979).

    Complete design (``min_items`` or more items rated by every annotator): the estimate is
    ICC(2,1) ("ICC2": two-way random effects, absolute agreement, single rater) on those items,
    since annotators are a sample of possible annotators and the audit cares about absolute
    ratings. Otherwise, when each item was rated by a different subset of annotators, the
    design is Shrout & Fleiss's case 1 and the estimate is ICC(1,1) ("ICC1", one-way random): on
    the items with at least k ratings (k = the most common number of ratings per item), the
    first k ratings (annotators in name order) fill k interchangeable rater slots. CI and F-test
    p-value are pingouin's (parametric); all six forms are listed under ``forms``.
    """
    import pingouin as pg

    icc2 = ("ICC(2,1), two-way random effects, absolute agreement, single rater, on the items rated by every "
            "annotator (pingouin.intraclass_corr; Shrout & Fleiss 1979); CI and p (F test) from pingouin")
    if human.empty or human["annotator"].nunique() < 2:
        return Estimate(None, n=0, method=icc2, reason="needs at least 2 annotators").to_dict()
    wide = human.pivot(index="item_id", columns="annotator", values="rating")
    wide = wide[sorted(wide.columns, key=str)]
    complete = wide.dropna()
    form, method = "ICC2", icc2
    if len(complete) >= min_items:
        block = complete
    else:
        per_item = wide.notna().sum(axis=1)
        k = int(per_item[per_item >= 2].mode().max()) if (per_item >= 2).any() else 0
        rows = wide[per_item >= k] if k >= 2 else wide.iloc[:0]
        if len(rows) < min_items:
            return Estimate(None, n=int(len(rows)), method=icc2,
                            reason=(f"needs at least {min_items} items rated by 2 or more annotators "
                                    f"(have {len(rows)})")).to_dict()
        vals = rows.to_numpy(float)
        block = pd.DataFrame(np.stack([r[~np.isnan(r)][:k] for r in vals]), index=rows.index,
                             columns=[f"slot-{i + 1}" for i in range(k)])
        form = "ICC1"
        method = (f"ICC(1,1), one-way random effects, single rater (pingouin.intraclass_corr; Shrout & Fleiss 1979, "
                  f"case 1: each item rated by a different set of annotators): {k} ratings per item on the "
                  f"{len(block)} items with at least {k}; CI and p (F test) from pingouin")
    if np.ptp(block.to_numpy(float)) == 0:
        return Estimate(None, n=int(len(block)), method=method, reason="every rating is the same").to_dict()
    long = block.reset_index().melt(id_vars="item_id", var_name="annotator", value_name="rating")
    import warnings

    with unrounded_pingouin(), warnings.catch_warnings():
        # degenerate designs (no disagreement at all, one item level) divide by zero inside pingouin;
        # the affected numbers come out NaN and are reported as missing
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", message="The inplace keyword")
        res = pg.intraclass_corr(long, targets="item_id", raters="annotator", ratings="rating")
    forms = icc_forms(res)
    chosen = forms[form]
    lo, hi = chosen["ci"]
    reason = None if lo is not None and hi is not None else "pingouin's interval is undefined for these ratings"
    if chosen["icc"] is None:
        reason = "undefined for these ratings (no variance between or within items)"
    return Estimate(chosen["icc"], lo if hi is not None else None, hi if lo is not None else None, chosen["p_value"],
                    int(len(block)), method, {"form": form, "n_raters": int(block.shape[1]), "forms": forms},
                    reason).to_dict()


# pingouin >= 0.7 names the forms after McGraw & Wong (1996); older versions after Shrout & Fleiss
_ICC_NAMES = {"ICC(1,1)": "ICC1", "ICC(A,1)": "ICC2", "ICC(C,1)": "ICC3",
              "ICC(1,k)": "ICC1k", "ICC(A,k)": "ICC2k", "ICC(C,k)": "ICC3k"}
_ICC_DESCRIPTION = {
    "ICC1": "one-way random effects, single rater (Shrout & Fleiss case 1)",
    "ICC2": "two-way random effects, absolute agreement, single rater (case 2)",
    "ICC3": "two-way mixed effects, consistency, single rater (case 3)",
    "ICC1k": "one-way random effects, mean of k raters",
    "ICC2k": "two-way random effects, absolute agreement, mean of k raters",
    "ICC3k": "two-way mixed effects, consistency, mean of k raters",
}


def icc_forms(res: pd.DataFrame) -> dict:
    """pingouin.intraclass_corr's table as ``{ICC1..ICC3k: {icc, ci, p_value, F, df1, df2, description}}``."""
    pcol = next(c for c in ("pval", "p_val", "p-val") if c in res)
    cicol = next(c for c in ("CI95", "CI95%") if c in res)
    out = {}
    for _, row in res.iterrows():
        name = _ICC_NAMES.get(str(row["Type"]), str(row["Type"]))
        out[name] = {"icc": finite(row["ICC"]), "ci": [finite(v) for v in row[cicol]], "p_value": finite(row[pcol]),
                     "F": finite(row["F"]), "df1": finite(row["df1"]), "df2": finite(row["df2"]),
                     "description": _ICC_DESCRIPTION.get(name, "")}
    return out


# --- the pairwise kappa matrix (paper Fig. 3) -----------------------------------------------------


def kappa_matrix(d: _Data, boot: ClusterBootstrap) -> dict:
    """Quadratic-weighted Cohen's kappa between every pair of raters (annotators, then judges).

    Judges' item ratings are rounded half toward 3. Each kappa is computed on the items both
    raters rated (equal to :func:`audit.stats.agreement.pairwise_kappa` with labels 1-5). Mean
    within-human, within-judge and human-judge kappa (:func:`audit.stats.agreement.mean_kappa_by_group`),
    each with a cluster-bootstrap CI (all pairs' tables resampled jointly).
    """
    raters = d.annotators + d.judges
    groups = {a: "human" for a in d.annotators} | {j: "judge" for j in d.judges}
    method = ("Cohen's kappa with quadratic weights on the 1-5 scale between every pair of raters on the items both "
              "rated; judges' item ratings rounded half toward 3")
    out = {"raters": raters, "groups": groups, "weights": "quadratic", "method": method}
    if len(raters) < 2:
        out.update({"kappa_matrix": None, "n_items": None, "reason": "needs at least 2 raters"})
        return out
    R = np.column_stack([d.H, round_half_to_midpoint(d.J)]) if d.J.size else d.H
    has = ~np.isnan(R)
    Rc = np.where(has, R, 3).astype(int)
    pairs, comps = [], []
    for i in range(len(raters)):
        for k in range(i + 1, len(raters)):
            mask = has[:, i] & has[:, k]
            pairs.append((i, k))
            comps.append(_comparison(mask, Rc[:, i], Rc[:, k], Rc[:, i], Rc[:, k], d.codes))
    points, reps = evaluate_comparisons(comps, boot, ("kappa_quadratic",))
    mat = [[1.0 if i == k else None for k in range(len(raters))] for i in range(len(raters))]
    nmat = [[int(has[:, i].sum()) if i == k else 0 for k in range(len(raters))] for i in range(len(raters))]
    for (i, k), c, pt in zip(pairs, comps, points):
        mat[i][k] = mat[k][i] = finite(pt["kappa_quadratic"])
        nmat[i][k] = nmat[k][i] = c.n
    out["kappa_matrix"] = mat
    out["n_items"] = nmat
    frame = pd.DataFrame({"rater_a": [raters[i] for i, _ in pairs], "rater_b": [raters[k] for _, k in pairs],
                          "kappa": [pt["kappa_quadratic"] for pt in points]})
    means = mean_kappa_by_group(frame, groups)
    kinds = [("mean_within_humans" if groups[raters[i]] == "human" else "mean_within_judges")
             if groups[raters[i]] == groups[raters[k]] else "mean_human_judge" for i, k in pairs]
    any_rated = has.sum(axis=1) >= 2
    for key, m in means.items():
        sel = [p for p, kind in enumerate(kinds) if kind == key and np.isfinite(points[p]["kappa_quadratic"])]
        what = f"{m['method']}; quadratic weights"
        if not sel:
            out[key] = {**Estimate(None, n=0, method=what, reason="no rater pair of this kind").to_dict(), "n_pairs": 0}
            continue
        rep = _quiet_nan(np.nanmean, np.column_stack([reps[p]["kappa_quadratic"] for p in sel]))
        out[key] = bootstrap_estimate(m["estimate"], rep, boot=boot, labels=d.codes[any_rated], n=int(any_rated.sum()),
                                      what=what, extra={"n_pairs": m["n_pairs"]}).to_dict()
    return out
