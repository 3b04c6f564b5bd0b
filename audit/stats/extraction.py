"""The statistics of the stage-1 audit (``judge-audit extraction``): do attribute-extraction verifiers
accept, flag and reject extracted attributes as people do? Pure: DataFrames in, JSON-ready dicts out.

Inputs: ``items`` (item_id, cluster, source, category, human_label: accept / uncertain / reject or
None), ``verdicts`` (item_id, judge, label or None for a failed call), ``annotations`` (item_id,
annotator, label). One seeded cluster bootstrap over users (else items) gives every CI.

* ``humans.acceptance_rate`` / ``problem_rate``: share of items (with a human label) labelled accept /
  uncertain-or-reject; ``problem_rate_by_source.{s}``; ``problem_rate_difference.{"a - b"}``: the
  difference between two sources' problem rates (a before b in sorted order), with its CI and the
  ratio a/b (the paper: 22% more problematic attributes from real than from synthetic conversations);
  ``category_shares``: each failure category's share of the problematic items that name one.
* per verifier J (items it labelled that people labelled): ``acceptance_rate``, ``acceptance_inflation``
  = mean of (J accepts − people accept) (:func:`audit.stats.measure.inflation` on 0/1), ``macro_precision``
  / ``macro_recall`` / ``macro_f1`` and ``per_class`` over the three labels
  (:func:`audit.stats.classes.macro_prf`, scikit-learn's macro average; a failed call predicts no
  class), ``kappa_with_humans`` (unweighted Cohen's κ of J vs the human label,
  :func:`audit.stats.study.kappa_vs_label`), ``reject_recall`` = share of the human-rejected items J
  rejects and ``reject_recall_by_category.{c}``.
* ``kappa``: unweighted Cohen's κ for every pair of raters (annotators and verifiers) on the items both
  labelled, and its means within humans, within judges and between (:func:`audit.stats.relevance.kappa_summary`,
  the paper's Figure 3 pattern).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from audit.stats import classes, measure
from audit.stats.bootstrap import ClusterBootstrap
from audit.stats.estimate import bootstrap_estimate, group_difference_replicates
from audit.stats.relevance import kappa_summary
from audit.stats.study import kappa_vs_label

LABELS = ("accept", "uncertain", "reject")
PROBLEM = ("uncertain", "reject")


def _rate(mask, frame: pd.DataFrame, boot: ClusterBootstrap, what: str) -> dict:
    return measure.rate(np.asarray(mask, bool), clusters=frame["cluster"].astype(str).to_numpy(), boot=boot,
                        what=what).to_dict()


def _source_differences(labelled: pd.DataFrame, boot: ClusterBootstrap) -> dict:
    out = {}
    problem = labelled["human_label"].isin(PROBLEM).to_numpy(float)
    sources = sorted(labelled["source"].dropna().unique())
    for a, b in combinations(sources, 2):
        sel = labelled["source"].isin([a, b]).to_numpy()
        sub, v = labelled[sel], problem[sel]
        mask = (sub["source"] == a).to_numpy()
        labels = sub["cluster"].astype(str).tolist()
        reps = group_difference_replicates(v, mask, boot, labels)
        ra, rb = v[mask].mean(), v[~mask].mean()
        est = bootstrap_estimate(float(ra - rb), reps, boot=boot, labels=labels, n=len(v),
                                 what=f"problem rate of source {a!r} minus source {b!r} (share uncertain or reject)",
                                 extra={"ratio": float(ra / rb) if rb > 0 else None, "n_a": int(mask.sum()),
                                        "n_b": int((~mask).sum())})
        out[f"{a} - {b}"] = est.to_dict()
    return out


def humans_section(items: pd.DataFrame, annotations: pd.DataFrame, boot: ClusterBootstrap) -> dict:
    labelled = items[items["human_label"].notna()]
    problem = labelled["human_label"].isin(PROBLEM)
    by_source = {str(s): _rate(g["human_label"].isin(PROBLEM), g, boot, f"share of source {s!r}'s items people "
                                                                    "label uncertain or reject")
                 for s, g in labelled.groupby("source", sort=True)}
    flagged = labelled[problem & labelled["category"].notna()]
    return {
        "n_items_labelled": int(len(labelled)),
        "n_annotators": int(annotations["annotator"].nunique()) if len(annotations) else 0,
        "label_counts": {lab: int((labelled["human_label"] == lab).sum()) for lab in LABELS},
        "n_plurality_ties": int(labelled["tie"].sum()),
        "acceptance_rate": _rate(labelled["human_label"] == "accept", labelled, boot,
                                 "share of items whose human label (plurality) is accept"),
        "problem_rate": _rate(problem, labelled, boot, "share of items whose human label is uncertain or reject"),
        "problem_rate_by_source": by_source,
        "problem_rate_difference": _source_differences(labelled, boot),
        "category_shares": {str(c): _rate(flagged["category"] == c, flagged, boot,
                                          f"share of the problematic items with a category that people put in {c!r}")
                            for c in sorted(flagged["category"].unique())},
    }


def judge_section(items: pd.DataFrame, verdicts: pd.DataFrame, judge: str, boot: ClusterBootstrap) -> dict:
    v = verdicts[verdicts["judge"] == judge].merge(items, on="item_id")
    n_failed = int(v["label"].isna().sum())
    answered = v[v["label"].notna()]
    both = v[v["human_label"].notna()]
    pred = both["label"].fillna("none").astype(str)
    clusters = both["cluster"].astype(str).to_numpy()
    rejected = both[both["human_label"] == "reject"]
    out = {
        "n_items": int(len(v)), "n_failed": n_failed, "n_with_human_label": int(len(both)),
        "acceptance_rate": _rate(answered["label"] == "accept", answered, boot, f"share of items {judge} labels accept"),
        "acceptance_inflation": measure.inflation((both["label"] == "accept").astype(float),
                                                  (both["human_label"] == "accept").astype(float),
                                                  clusters=clusters, boot=boot).to_dict(),
        "kappa_with_humans": kappa_vs_label(pred, both["human_label"].astype(str), clusters, boot).to_dict(),
        "reject_recall": _rate(rejected["label"] == "reject", rejected, boot,
                               "share of the items people reject that the verifier rejects"),
        "reject_recall_by_category": {
            str(c): _rate(g["label"] == "reject", g, boot, f"share of the {c!r} items people reject that the verifier rejects")
            for c, g in rejected[rejected["category"].notna()].groupby("category", sort=True)},
    }
    out["acceptance_inflation"]["method"] = ("mean over items of (verifier accepts - people accept), 0/1; "
                                             + out["acceptance_inflation"]["method"])
    out.update(classes.macro_prf(pred, both["human_label"].astype(str), clusters, boot))
    out["per_class"] = out["macro_f1"]["per_class"]
    warnings = []
    if n_failed:
        warnings.append(f"{n_failed} of {len(v)} calls failed (no label); counted as wrong against people")
    out["warnings"] = warnings
    return out


def extraction_results(items: pd.DataFrame, verdicts: pd.DataFrame, annotations: pd.DataFrame, judges: list[str], *,
                       seed: int = 0) -> dict:
    """Every number of the stage-1 audit, as a JSON-ready dict (docs/METHODS.md, "Stage 1")."""
    boot = ClusterBootstrap(items["cluster"].astype(str).unique(), seed=seed)
    judged = {j: judge_section(items, verdicts, j, boot) for j in judges}
    long = pd.concat([annotations.rename(columns={"annotator": "rater"})[["item_id", "rater", "label"]],
                      verdicts[verdicts["label"].notna()].rename(columns={"judge": "rater"})[["item_id", "rater", "label"]]],
                     ignore_index=True).rename(columns={"item_id": "pair_id"})
    annotators = sorted(annotations["annotator"].unique()) if len(annotations) else []
    groups = {**{a: "human" for a in annotators}, **{j: "judge" for j in judges}}
    kappa = kappa_summary(long, groups, dict(zip(items["item_id"], items["cluster"].astype(str))), seed=seed,
                          value_col="label", levels=LABELS) if len(groups) >= 2 else {}
    return {
        "kind": "extraction",
        "n_items": int(len(items)),
        "n_users": int(items["cluster"].nunique()),
        "labels": list(LABELS),
        "bootstrap": {"n_reps": boot.n_reps, "seed": seed, "n_clusters": boot.n_clusters,
                      "cluster": "user_id when given, else the item"},
        "humans": humans_section(items, annotations, boot),
        "judges": judged,
        "kappa": {"within_humans": kappa.get("mean_within_humans"), "within_judges": kappa.get("mean_within_judges"),
                  "human_judge": kappa.get("mean_human_judge"),
                  **{k: kappa.get(k) for k in ("raters", "groups", "kappa_matrix", "n_matrix", "pairs", "method")}},
    }
