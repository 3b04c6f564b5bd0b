"""How much the annotators agree with each other, whoever the judge: Krippendorff's alpha (ordinal) with
a cluster-bootstrap CI, and the ICC forms of pingouin.intraclass_corr."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from audit.stats.agreement import alpha_from_coincidences, unit_coincidences
from audit.stats.comparisons import SCALE
from audit.stats.bootstrap import ClusterBootstrap
from audit.stats.estimate import Estimate, bootstrap_estimate, finite, unrounded_pingouin


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
