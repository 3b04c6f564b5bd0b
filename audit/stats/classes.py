"""Label-class measures of a pairwise study: macro precision/recall/F1 of the judge's verdicts over
the human label classes, and Cohen's kappa between every pair of annotators. Pure: arrays and
DataFrames in, JSON-ready dicts out; CIs by the study's cluster bootstrap of count tables.

Macro averages follow scikit-learn's ``precision_recall_fscore_support(y_true, y_pred,
labels=L, average="macro", zero_division=0)`` with L = the classes that occur among the human
labels (1, 2, "tie"): per class c, precision = TP/(TP+FP), recall = TP/(TP+FN), F1 =
2TP/(2TP+FP+FN) (0 when undefined), each averaged over L with equal weight. A verdict outside L
(a missing verdict, or a tie when no item is labelled tie) is a prediction of no class in L: it
costs its item's class a false negative and adds no false positive. The tests check every
number against scikit-learn.
"""

from __future__ import annotations

from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd

from audit.stats import agreement
from audit.stats.bootstrap import ClusterBootstrap, ratio
from audit.stats.estimate import Estimate, nanmean_last, table_estimate

CLASS_ORDER = ("1", "2", "tie")


def _prf_from_tables(tables: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Macro precision, recall and F1 from confusion tables ``(..., P, L)`` (prediction x label);
    the first ``n_classes`` predictions are the label classes in the same order, the rest are
    predictions outside them."""
    tp = np.diagonal(tables[..., :n_classes, :], axis1=-2, axis2=-1)
    predicted = tables[..., :n_classes, :].sum(axis=-1)
    actual = tables.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.nan_to_num(ratio(tp, predicted))
        r = np.nan_to_num(ratio(tp, actual))
        f = np.nan_to_num(ratio(2 * tp, predicted + actual))
    return p.mean(axis=-1), r.mean(axis=-1), f.mean(axis=-1)


def macro_prf(verdict: Sequence[str], label: Sequence[str], clusters: Sequence, boot: ClusterBootstrap) -> dict:
    """``{"macro_precision", "macro_recall", "macro_f1"}`` as Estimate dicts, plus ``per_class``
    {class: {precision, recall, f1, support}} in ``macro_f1``. Categories are strings ("1", "2",
    "tie", "none")."""
    verdict, label = [str(v) for v in verdict], [str(v) for v in label]
    classes = [c for c in CLASS_ORDER if c in set(label)] + sorted(set(label) - set(CLASS_ORDER))
    others = sorted(set(verdict) - set(classes))
    preds = classes + others
    pi, li = {c: i for i, c in enumerate(preds)}, {c: i for i, c in enumerate(classes)}
    shape = (len(preds), len(classes))
    n = len(verdict)
    cells = np.array([pi[v] * len(classes) + li[lab] for v, lab in zip(verdict, label)], np.int64)
    table = np.bincount(cells, minlength=shape[0] * shape[1]).reshape(shape) if n else np.zeros(shape)
    tp = np.diagonal(table[:len(classes)])
    predicted, actual = table[:len(classes)].sum(axis=1), table.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = {c: {"precision": float(np.nan_to_num(tp[i] / predicted[i])) if predicted[i] else 0.0,
                         "recall": float(tp[i] / actual[i]) if actual[i] else 0.0,
                         "f1": float(2 * tp[i] / (predicted[i] + actual[i])) if predicted[i] + actual[i] else 0.0,
                         "support": int(actual[i])} for i, c in enumerate(classes)}
    common = (f"over the human label classes {classes} (scikit-learn average='macro', zero_division=0; "
              "a missing verdict is a wrong prediction)")
    out = {}
    for k, key in enumerate(("macro_precision", "macro_recall", "macro_f1")):
        if not n:
            out[key] = Estimate(None, n=0, method=key.replace("_", " ") + " " + common, reason="no verdicts").to_dict()
            continue
        est = float(np.mean([per_class[c][key.split("_")[1]] for c in classes]))
        out[key] = table_estimate(est, cells, shape, clusters, boot,
                                  lambda t, k=k: _prf_from_tables(t, len(classes))[k],
                                  what=key.replace("_", " ") + " " + common, n=n).to_dict()
    out["macro_f1"]["per_class"] = per_class
    return out


def annotator_kappa(annotations: pd.DataFrame, boot: ClusterBootstrap) -> dict:
    """Unweighted Cohen's kappa for every pair of annotators on the items both labelled (categories
    1/2/tie), keyed "A|B" (names sorted), each {estimate, ci, n}; and ``mean``: the unweighted mean
    over the pairs with a defined kappa {estimate, ci, n (pairs), n_items}. CIs: cluster bootstrap
    of the pairs' tables (:func:`audit.stats.agreement.kappa_from_tables`)."""
    if annotations.empty:
        return {}
    df = annotations.assign(label=annotations["label"].map(str), annotator=annotations["annotator"].map(str))
    levels = [c for c in CLASS_ORDER if c in set(df["label"])] + sorted(set(df["label"]) - set(CLASS_ORDER))
    code = {c: i for i, c in enumerate(levels)}
    L = len(levels)
    wide = df.pivot(index="item_id", columns="annotator", values="label")
    cluster_of = df.drop_duplicates("item_id").set_index("item_id")["cluster"]
    what = "unweighted Cohen's kappa between two annotators, categories 1/2/tie (audit.stats.agreement.cohen_kappa)"
    out: dict = {}
    all_cells, all_clusters, pair_index = [], [], []
    for a, b in combinations(sorted(wide.columns), 2):
        both = wide[[a, b]].dropna()
        name = f"{a}|{b}"
        cl = cluster_of.loc[both.index].to_numpy()
        cells = np.array([code[x] * L + code[y] for x, y in zip(both[a], both[b])], np.int64)
        k = agreement.cohen_kappa(both[a].to_numpy(), both[b].to_numpy(), labels=levels) if len(both) else float("nan")
        if not np.isfinite(k):
            out[name] = Estimate(None, n=int(len(both)), method=what,
                                 reason="undefined (no shared items, or both annotators constant)").to_dict()
            continue
        out[name] = table_estimate(float(k), cells, (L, L), cl, boot, agreement.kappa_from_tables, what=what,
                                   n=int(len(both))).to_dict()
        all_cells.append(cells + len(pair_index) * L * L)
        all_clusters += list(cl)
        pair_index.append(name)
    mean_what = "mean over annotator pairs of unweighted Cohen's kappa"
    if pair_index:
        mean = float(np.mean([out[p]["estimate"] for p in pair_index]))
        est = table_estimate(mean, np.concatenate(all_cells), (len(pair_index), L, L), all_clusters, boot,
                             lambda t: nanmean_last(agreement.kappa_from_tables(t)),
                             what=mean_what, n=len(pair_index), extra={"n_items": int(len(wide))})
        out["mean"] = est.to_dict()
    else:
        out["mean"] = Estimate(None, n=0, method=mean_what, reason="no annotator pair shares an item").to_dict()
    return out
