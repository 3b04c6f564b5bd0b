"""The per-item tables every preference statistic reads: one row per item (cluster, generator,
mention flag, mean human rating), the item x judge table of mean judge ratings, and the long table of
human ratings. Each rule of aggregation lives here once."""

from __future__ import annotations

import pandas as pd

from audit.data.items import Dataset, MentionFlag
from audit.data.judgments import RATED_STATUSES, Judgment


def items_frame(dataset: Dataset, flags: dict[str, MentionFlag]) -> pd.DataFrame:
    """One row per item: ids, generator, mention flag, the mean human rating and the pair's style
    covariates (:func:`audit.text.style.style_covariates`: ``style_length``, ``style_markdown``)."""
    from audit.text.style import style_covariates

    rows = []
    for item in dataset.items:
        flag = flags[item.id]
        style = style_covariates(item.personalized, item.generic)
        rows.append({
            "item_id": item.id, "user_id": item.user_id, "cluster": item.cluster, "generator": item.generator,
            "mention": bool(flag.flagged), "mention_source": flag.source,
            "human_mean": item.mean_human, "n_human": len(item.human_ratings),
            "style_length": style["length"], "style_markdown": style["markdown"],
        })
    return pd.DataFrame(rows)


def judge_item_ratings(judgments: list[Judgment]) -> pd.DataFrame:
    """Item x judge table of mean ratings over successful (or imported) judgments."""
    ok = [(j.item_id, j.judge, j.rating) for j in judgments if j.status in RATED_STATUSES and j.rating is not None]
    if not ok:
        return pd.DataFrame()
    df = pd.DataFrame(ok, columns=["item_id", "judge", "rating"])
    return df.pivot_table(index="item_id", columns="judge", values="rating", aggfunc="mean")


def human_ratings_frame(dataset: Dataset) -> pd.DataFrame:
    """One row per human rating: item_id, annotator, rating."""
    rows = [(it.id, r.annotator, r.rating) for it in dataset.items for r in it.human_ratings]
    return pd.DataFrame(rows, columns=["item_id", "annotator", "rating"])
