"""A jury's rating of an item from its members' ratings, and how much the members agree.

A jury (a PoLL-style panel, Verga et al. 2024) is audited like one judge; its item rating is an
aggregate of its members' item ratings (each member's mean over its orders and samples) on the
generic(1)..personalized(5) scale:

* ``mean``: the arithmetic mean;
* ``median``: the median (the mean of the two middle values for an even count);
* ``majority``: the most frequent rounded rating; a tie between several values is broken toward 3
  (the tied value closest to 3; a tie between values equally far on both sides of 3, e.g. 2 and 4, is 3).

Members that failed on an item are left out of that item's aggregate (the item is counted as
partial); an item no member rated has no jury rating.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Sequence

import numpy as np
import pandas as pd

from audit.data.judgments import JURY_AGGREGATES as AGGREGATES
from audit.stats.agreement import cohen_kappa
from audit.stats.bootstrap import ClusterBootstrap
from audit.stats.reliability import krippendorff_alpha_estimate



def aggregate(values: Sequence[float], how: str) -> float | None:
    """The jury rating of one item from its members' ratings (NaN = member missing); None when empty."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    if len(v) == 0:
        return None
    if how == "mean":
        return float(v.mean())
    if how == "median":
        return float(np.median(v))
    if how == "majority":
        counts = Counter(int(r) for r in np.floor(v + 0.5))  # round half up: 3.5 -> 4
        top = max(counts.values())
        tied = [r for r, c in counts.items() if c == top]
        nearest = min(abs(r - 3) for r in tied)
        closest = sorted(r for r in tied if abs(r - 3) == nearest)
        return 3.0 if len(closest) > 1 else float(closest[0])
    raise ValueError(f"aggregate must be one of {', '.join(AGGREGATES)} (got {how!r})")


def jury_ratings(members: pd.DataFrame, how: str) -> pd.DataFrame:
    """Per item (the index of ``members``: items x member judges, NaN = not rated): ``rating`` (the
    aggregate) and ``n_members`` (members that rated it). Items no member rated are dropped."""
    rows = [(item, aggregate(row.to_numpy(float), how), int(row.notna().sum())) for item, row in members.iterrows()]
    out = pd.DataFrame(rows, columns=["item_id", "rating", "n_members"]).set_index("item_id")
    return out[out["rating"].notna()]


def members_agreement(members: pd.DataFrame, clusters: Sequence, *, n_resamples: int = 2000, seed: int = 0) -> dict:
    """How much a jury's members agree with each other, on their rounded item ratings (1..5):
    Krippendorff's alpha (ordinal, cluster-bootstrap CI over users) and quadratic-weighted Cohen's
    kappa of every pair of members on the items both rated."""
    rounded = np.floor(members.to_numpy(float) + 0.5)
    boot = ClusterBootstrap(clusters, n_reps=n_resamples, seed=seed)
    alpha = krippendorff_alpha_estimate(rounded, boot.codes(list(clusters)), boot)
    pairs = {}
    for (i, a), (j, b) in itertools.combinations(enumerate(members.columns), 2):
        both = ~np.isnan(rounded[:, i]) & ~np.isnan(rounded[:, j])
        k = cohen_kappa(rounded[both, i], rounded[both, j], weights="quadratic", labels=[1, 2, 3, 4, 5]) if both.sum() >= 2 else None
        pairs[f"{a} | {b}"] = {"kappa_quadratic": None if k is None or not np.isfinite(k) else float(k), "n": int(both.sum())}
    return {"krippendorff_alpha": alpha.to_dict(), "pairwise_kappa": pairs,
            "method": "members' item ratings rounded to 1..5 (half up); alpha: ordinal (Krippendorff 2011); "
                      "kappa: quadratic weights (Cohen 1968)"}
