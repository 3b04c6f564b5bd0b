"""The paired comparison of a new judge with the judge it replaces (``judge-audit check --baseline``):
one row per item with both judges' ratings, then one check per compared metric on
:func:`audit.stats.paired.paired_judge_difference`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.data.judgments import Judgment
from audit.gate.checks import Check
from audit.gate.policy import Policy
from audit.stats.consistency import position_pairs
from audit.stats.tables import judge_item_ratings
from audit.stats.paired import paired_judge_difference


def item_flips(judgments: list[Judgment], judge: str) -> pd.Series:
    """Per item (sample 0, both orders judged): 1 when the preferred answer differs between the two
    presentation orders, else 0 -- the flip rule of :func:`audit.stats.consistency.position_pairs`."""
    pairs = position_pairs([j for j in judgments if j.judge == judge])
    pairs = pairs[pairs["sample"] == 0]
    return pd.Series(pairs["flip"].to_numpy(float), index=pairs["item_id"].to_numpy(), dtype=float)


def item_table(items: pd.DataFrame, new: tuple[str, list[Judgment]], base: tuple[str, list[Judgment]] | None) -> pd.DataFrame:
    """One row per item: human mean, mention, cluster, ``new``/``base`` ratings and ``flip_new``/``flip_base``."""
    frame = items.set_index("item_id")[["cluster", "human_mean", "mention"]].copy()
    for col, pair in (("new", new), ("base", base)):
        if pair is None:
            continue
        name, rows = pair
        table = judge_item_ratings([j for j in rows if j.judge == name])
        frame[col] = table[name] if name in table else np.nan
        flips = item_flips(rows, name)
        if len(flips):
            frame[f"flip_{col}"] = flips
    return frame.reset_index()


def compare_with_baseline(frame: pd.DataFrame, policy: Policy, baseline_label: str) -> list[Check]:
    """One check per compared metric: FAIL when the new judge is significantly worse than the baseline.

    Significantly worse = the whole 95% CI of badness(new) - badness(base) lies above 0 (equivalently
    the two-sided p < 0.05 with the difference positive). A comparison without a CI fails.
    """
    checks = []
    for metric in policy.compared_metrics():
        est = paired_judge_difference(frame, metric, n_resamples=policy.n_resamples, seed=policy.seed)
        name = f"baseline:{metric}"
        label = {"inflation": "|inflation|", "mention_gap": "|excess mention uplift|", "spearman": "Spearman rho (sign flipped)",
                 "position_flip_rate": "position flip rate"}[metric]
        common = dict(name=name, metric=f"{label}: new - baseline {baseline_label} (positive = worse)",
                      estimate=est.estimate, limit=0.0, comparison="<=", tested="CI lower bound",
                      method=est.method, n=est.n, p_value=est.p_value, source="--baseline")
        if est.ci_low is None or est.estimate is None:
            why = est.reason or "no confidence interval"
            checks.append(Check(**common, ci=None, bound=None, passed=False,
                                detail=f"FAIL (cannot compare): {why}; a comparison without a CI never passes"))
            continue
        ci = (est.ci_low, est.ci_high)
        worse = est.ci_low > 0
        new, base = est.extra.get("new"), est.extra.get("baseline")
        values = f" (new {new:+.3f}, baseline {base:+.3f})" if new is not None and base is not None else ""
        detail = (f"significantly worse than the baseline: CI lower bound {est.ci_low:+.3f} > 0, p={est.p_value:.3g}{values}"
                  if worse else f"not significantly worse: CI lower bound {est.ci_low:+.3f} <= 0, p={est.p_value:.3g}{values}")
        checks.append(Check(**common, ci=ci, bound=est.ci_low, passed=not worse, detail=detail))
    return checks


