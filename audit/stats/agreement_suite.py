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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.stats.agreement import (mean_kappa_by_group)
from audit.stats.bootstrap import ClusterBootstrap
from audit.stats.comparisons import (KIND_METRICS, LENS_METRICS, MATCHED_METRICS, METRICS, WHAT, Comparison,
                                     average_comparisons, comparison_estimate, evaluate_comparisons, quiet_nan,
                                     round_half_to_midpoint)
from audit.stats.reliability import icc_estimate, krippendorff_alpha_estimate
from audit.stats.estimate import Estimate, finite, bootstrap_estimate


# --- one comparison = two raters' ratings of the same rows ---------------------------------------


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


class _Suite:
    """Every comparison of a run, planned and evaluated in one batch per kind (tables padded within the
    kind only): judge vs humans, each annotator vs the others (the ceiling), the judge scored like the
    ceiling, and the judge vs each annotator."""

    def __init__(self, d: _Data, boot: ClusterBootstrap):
        self.d, self.boot = d, boot
        H, J = d.H, d.J
        self.rated = ~np.isnan(H)
        self.n_rated = self.rated.sum(axis=1)
        with np.errstate(invalid="ignore"):
            self.hmean = np.where(self.n_rated > 0, np.nansum(H, axis=1) / np.maximum(self.n_rated, 1), np.nan)
        hmed = np.full(len(H), np.nan)
        if (self.n_rated > 0).any():
            hmed[self.n_rated > 0] = np.nanmedian(H[self.n_rated > 0], axis=1)
        self.hmed_r = np.where(np.isnan(hmed), 3, round_half_to_midpoint(hmed))
        self.Jr = np.where(np.isnan(J), 3, round_half_to_midpoint(J))
        self.Hc = np.where(np.isnan(H), 3, H)
        loo = {a: _loo(H, k) for k, a in enumerate(d.annotators)} if len(d.annotators) > 1 else {}
        self.loo = {a: v for a, v in loo.items() if v[0].any()}
        self.kinds: dict[str, list[Comparison]] = {"ceiling": [], "judge": [], "matched": [], "annotator": []}
        self.index: dict[tuple, int] = {}
        self._plan()
        self.done = {kind: evaluate_comparisons(comps, boot, KIND_METRICS[kind]) for kind, comps in self.kinds.items()}

    def _add(self, key, comp) -> None:
        self.index[key] = len(self.kinds[key[0]])
        self.kinds[key[0]].append(comp)

    def _others(self, mask, med):
        return np.where(mask, round_half_to_midpoint(np.nan_to_num(med, nan=3)), 3)

    def _plan(self) -> None:
        d, H, J, codes = self.d, self.d.H, self.d.J, self.d.codes
        for k, a in enumerate(d.annotators):
            if a in self.loo:
                mask, mean, med = self.loo[a]
                self._add(("ceiling", a), _comparison(mask, H[:, k], mean, self.Hc[:, k], self._others(mask, med), codes))
        for q, j in enumerate(d.judges):
            has = ~np.isnan(J[:, q])
            self._add(("judge", j), _comparison(has & (self.n_rated > 0), J[:, q], self.hmean, self.Jr[:, q],
                                                self.hmed_r, codes))
            for a, (mask, mean, med) in self.loo.items():
                self._add(("matched", j, a), _comparison(has & mask, J[:, q], mean, self.Jr[:, q],
                                                         self._others(mask, med), codes))
            for k, a in enumerate(d.annotators):
                self._add(("annotator", j, a), _comparison(has & self.rated[:, k], J[:, q], H[:, k], self.Jr[:, q],
                                                           self.Hc[:, k], codes))

    def get(self, key):
        """(comparison, point values, replicates) of one planned comparison."""
        k = self.index[key]
        points, reps = self.done[key[0]]
        return self.kinds[key[0]][k], points[k], reps[k]

    def ceiling(self) -> dict:
        """The human ceiling: mean over annotators of their leave-one-out agreement."""
        if not self.loo:
            return {"reason": "needs at least 2 annotators rating common items"}
        get, boot, loo = self.get, self.boot, self.loo
        ceiling_codes = self.d.codes[np.any([v[0] for v in loo.values()], axis=0)]
        out: dict = {}
        for m in METRICS:
            out[m] = average_comparisons([get(("ceiling", a))[1] for a in loo], [get(("ceiling", a))[2] for a in loo], m,
                              ceiling_codes, boot,
                              f"human ceiling: mean over annotators of the {WHAT[m]} of each annotator with "
                              "the mean (for rho, tau) or rounded median (kappa, exact, sign) of the other "
                              "annotators on the items they rated").to_dict()
        out["per_annotator"] = {
            a: {m: comparison_estimate(m, get(("ceiling", a))[1][m], get(("ceiling", a))[2][m], get(("ceiling", a))[0], boot,
                             label=(f"between annotator {a} and the mean of the other annotators",
                                    f"between annotator {a} and the other annotators' median rounded half "
                                    "toward 3")).to_dict()
                for m in METRICS} for a in loo}
        return out

    def judge_with_humans(self, j: str) -> dict:
        """The judge's item rating against the mean (rho, tau) or median (kappa, exact, sign) human rating."""
        from scipy.stats import kendalltau, spearmanr

        c, pt, rp = self.get(("judge", j))
        entry: dict = {}
        for m in METRICS:
            classical, test = None, None
            if m in ("spearman", "kendall") and c.n >= 3 and np.ptp(c.x) > 0 and np.ptp(c.y) > 0:
                res = (spearmanr if m == "spearman" else kendalltau)(c.x, c.y)
                pt = {**pt, m: float(res.statistic)}
                classical = (lambda r=res: r.pvalue)
                test = ("scipy.stats.spearmanr t-test" if m == "spearman"
                        else "scipy.stats.kendalltau test (tau-b), as pingouin.corr")
            entry[m] = comparison_estimate(m, pt[m], rp[m], c, self.boot, classical_p=classical, test=test,
                                 label=("between the judge's item rating and the mean human rating",
                                        "between the judge's item rating and the human median, both rounded half "
                                        "toward 3")).to_dict()
        return entry

    def matched(self, q: int, j: str) -> dict:
        """The judge scored like the ceiling, and its gap to the ceiling."""
        get, loo, codes = self.get, self.loo, self.d.codes
        keys = [("matched", j, a) for a in loo]
        mp, mr = [get(k)[1] for k in keys], [get(k)[2] for k in keys]
        cp, cr = [get(("ceiling", a))[1] for a in loo], [get(("ceiling", a))[2] for a in loo]
        rows = np.any([v[0] for v in loo.values()], axis=0) & ~np.isnan(self.d.J[:, q])
        return {
            "matched": {m: average_comparisons(mp, mr, m, codes[rows], self.boot,
                                    f"judge scored like the ceiling: mean over annotators a of the {WHAT[m]} "
                                    "of the judge with the other annotators' mean (rho, tau) or rounded "
                                    "median (kappa, exact, sign) on a's items").to_dict()
                        for m in MATCHED_METRICS},
            "ceiling_gap": {m: _gap(mp, mr, cp, cr, m, codes[rows], self.boot).to_dict() for m in MATCHED_METRICS},
        }

    def individual_lens(self, q: int, j: str, best: dict) -> dict:
        """The judge against each annotator, their spread, and the annotator it fits best (updates ``best``)."""
        d, get = self.d, self.get
        keys = [("annotator", j, a) for a in d.annotators]
        per = {a: {m: comparison_estimate(m, get(k)[1][m], get(k)[2][m], get(k)[0], self.boot,
                                label=(f"between the judge's item rating and annotator {a}'s rating",
                                       f"between the judge's item rating (rounded half toward 3) and "
                                       f"annotator {a}'s rating")).to_dict()
                   for m in LENS_METRICS} for a, k in zip(d.annotators, keys)}
        kap = {a: per[a]["kappa_quadratic"]["estimate"] for a in d.annotators}
        kap = {a: v for a, v in kap.items() if v is not None}
        for a, v in kap.items():
            if a not in best or v > best[a]["kappa_quadratic"]:
                best[a] = {"judge": j, "kappa_quadratic": v}
        return {"per_annotator": per,
                "spread": _spread([get(k)[1] for k in keys], [get(k)[2] for k in keys], d.annotators, self.boot,
                                  d.codes[~np.isnan(d.J[:, q])]),
                "best_fit_annotator": max(kap, key=kap.get) if kap else None}


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
    d = _arrays(items, human, judges, boot)
    suite = _Suite(d, boot)
    out_judges: dict = {}
    best: dict = {}
    for q, j in enumerate(d.judges):
        entry = suite.judge_with_humans(j)
        if suite.loo:
            entry.update(suite.matched(q, j))
        if d.annotators:
            entry.update(suite.individual_lens(q, j, best))
        out_judges[j] = entry
    return {
        "judges": out_judges,
        "ceiling": suite.ceiling(),
        "krippendorff_alpha": krippendorff_alpha_estimate(d.H, d.codes, boot).to_dict(),
        "icc": icc_estimate(human),
        "matrix": kappa_matrix(d, boot),
        "best_judge_per_annotator": {a: best.get(a) for a in d.annotators},
    }


def _gap(mp, mr, cp, cr, m, codes, boot) -> Estimate:
    """(judge matched) - (human ceiling) on one metric, with the CI of the difference."""
    what = (f"judge minus human ceiling on the {WHAT[m]} (both averaged over the same annotators' "
            "leave-one-out targets; negative = below the ceiling)")
    jv = np.array([p[m] for p in mp], float)
    hv = np.array([p[m] for p in cp], float)
    ok = np.isfinite(jv) & np.isfinite(hv)
    if not ok.any():
        return Estimate(None, n=len(codes), method=what, reason="undefined for every annotator")
    js = np.column_stack([r[m] for r in mr])[:, ok]
    hs = np.column_stack([r[m] for r in cr])[:, ok]
    rep = quiet_nan(np.nanmean, js) - quiet_nan(np.nanmean, hs)
    return bootstrap_estimate(float(jv[ok].mean() - hv[ok].mean()), rep, boot=boot, labels=codes, n=len(codes),
                              what=what, extra={"n_annotators": int(ok.sum())})


def _spread(points, reps, annotators, boot, codes) -> dict:
    """SD across annotators of the judge's per-annotator agreement, and its range."""
    out = {}
    for m in ("kappa_quadratic", "spearman"):
        vals = np.array([p[m] for p in points], float)
        ok = np.isfinite(vals)
        what = (f"standard deviation across annotators of the judge's {WHAT[m]} with each annotator "
                "(includes each per-annotator estimate's sampling noise)")
        if ok.sum() < 2:
            out[m] = Estimate(None, n=int(ok.sum()), method=what, reason="needs at least 2 annotators").to_dict()
            continue
        rep = quiet_nan(np.nanstd, np.column_stack([r[m] for r in reps])[:, ok], ddof=1)
        est = bootstrap_estimate(float(np.std(vals[ok], ddof=1)), rep, boot=boot, labels=codes, n=len(codes),
                                 what=what).to_dict()
        idx = np.flatnonzero(ok)
        est.update({"min": float(vals[ok].min()), "max": float(vals[ok].max()),
                    "min_annotator": annotators[int(idx[np.argmin(vals[ok])])],
                    "max_annotator": annotators[int(idx[np.argmax(vals[ok])])], "n_annotators": int(ok.sum())})
        out[m] = est
    return out


# --- inter-annotator reliability --------------------------------------------------------------------


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
        rep = quiet_nan(np.nanmean, np.column_stack([reps[p]["kappa_quadratic"] for p in sel]))
        out[key] = bootstrap_estimate(m["estimate"], rep, boot=boot, labels=d.codes[any_rated], n=int(any_rated.sum()),
                                      what=what, extra={"n_pairs": m["n_pairs"]}).to_dict()
    return out
