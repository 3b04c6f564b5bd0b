"""Assemble results.json: which measure is computed on which rows. Every number comes from
:mod:`audit.measure`; this module only selects the data for it.

Per item, a judge's rating is the mean of its successful judgments of that item (over
presentation orders and samples); the human rating is the mean over annotators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import measure
from .flag import MentionFlag
from .judge import Judgment
from .load import Dataset

NEARLY_CONSTANT = 0.9  # one rating value in >= 90% of a judge's ratings


@dataclass(frozen=True)
class Habit:
    """How often a model names attributes when it writes personalized answers itself."""

    k: int
    n: int
    source: str  # "data" (its rows as a generator) | "measured" (--measure-habits)


def items_frame(dataset: Dataset, flags: dict[str, MentionFlag]) -> pd.DataFrame:
    """One row per item: ids, generator, mention flag and the mean human rating."""
    rows = []
    for item in dataset.items:
        flag = flags[item.id]
        rows.append({
            "item_id": item.id, "user_id": item.user_id, "cluster": item.cluster, "generator": item.generator,
            "mention": bool(flag.flagged), "mention_source": flag.source,
            "human_mean": item.mean_human, "n_human": len(item.human_ratings),
        })
    return pd.DataFrame(rows)


def judge_item_ratings(judgments: list[Judgment]) -> pd.DataFrame:
    """Item x judge table of mean ratings over successful (or imported) judgments."""
    ok = [(j.item_id, j.judge, j.rating) for j in judgments if j.status in ("ok", "imported") and j.rating is not None]
    if not ok:
        return pd.DataFrame()
    df = pd.DataFrame(ok, columns=["item_id", "judge", "rating"])
    return df.pivot_table(index="item_id", columns="judge", values="rating", aggfunc="mean")


def generator_habits(items: pd.DataFrame) -> dict[str, Habit]:
    out = {}
    for gen, grp in items.groupby("generator", sort=True):
        out[str(gen)] = Habit(int(grp["mention"].sum()), len(grp), "data")
    return out


def _warnings(name: str, ratings: np.ndarray, rows: list[Judgment]) -> list[str]:
    warns = []
    n_failed = sum(1 for r in rows if r.status == "failed")
    if n_failed:
        warns.append(f"{n_failed} of {len(rows)} calls failed (see judgments.csv, column error)")
    if len(ratings):
        dist = measure.rating_distribution(ratings)
        if dist["modal_share"] is not None and dist["modal_share"] >= NEARLY_CONSTANT and len(ratings) >= 5:
            value = max(dist["counts"], key=dist["counts"].get)
            warns.append(
                f"nearly constant: {dist['modal_share']:.0%} of its item ratings are {value}; "
                "its agreement and bias numbers say little about the items"
            )
    if len(ratings) < 10:
        warns.append(f"only {len(ratings)} rated items: estimates are very uncertain")
    return warns


def build_results(dataset: Dataset, flags: dict[str, MentionFlag], judgments: list[Judgment], *,
                  judge_models: dict[str, str], judge_sources: dict[str, str],
                  measured_habits: dict[str, Habit] | None = None, card: dict | None = None) -> dict:
    """Every number of the audit, as a JSON-ready dict (see README, 'results.json')."""
    items = items_frame(dataset, flags)
    table = judge_item_ratings(judgments)
    humans = items[items["human_mean"].notna()]

    gen_habits = generator_habits(items)
    generators = {}
    for gen, grp in items.groupby("generator", sort=True):
        g_h = grp[grp["human_mean"].notna()]
        habit = gen_habits[str(gen)]
        generators[str(gen)] = {
            "n_items": len(grp),
            "mention_rate": measure.proportion(habit.k, habit.n).to_dict(),
            "mean_human_rating": float(g_h["human_mean"].mean()) if len(g_h) else None,
            "no_better_rate": measure.no_better_rate(g_h["human_mean"]).to_dict(),
        }

    judges, deltas, habits = {}, {}, {}
    for name in judge_models:
        rows = [j for j in judgments if j.judge == name]
        col = table[name] if name in table else pd.Series(dtype=float)
        rated = items.merge(col.rename("judge").dropna(), left_on="item_id", right_index=True)
        both = rated[rated["human_mean"].notna()]
        md = measure.mention_delta(rated["judge"], rated["mention"])
        deltas[name] = md.estimate
        habit = (measured_habits or {}).get(name) or gen_habits.get(name) or gen_habits.get(judge_models[name])
        if habit is not None:
            habits[name] = habit.k / habit.n if habit.n else None
        judges[name] = {
            "model": judge_models[name],
            "source": judge_sources[name],
            "n_items_rated": int(len(rated)),
            "n_calls": sum(1 for r in rows if r.status != "imported"),
            "n_failed": sum(1 for r in rows if r.status == "failed"),
            "n_cached": sum(1 for r in rows if r.cached),
            "mean_rating": float(rated["judge"].mean()) if len(rated) else None,
            "inflation": measure.inflation(both["judge"], both["human_mean"]).to_dict(),
            "mention_delta": md.to_dict(),
            "spearman": measure.rank_correlation(both["judge"], both["human_mean"]).to_dict(),
            "rating_distribution": measure.rating_distribution(rated["judge"]),
            "habit": None if habit is None else {
                **measure.proportion(habit.k, habit.n).to_dict(), "mention_rate": habit.k / habit.n if habit.n else None,
                "source": habit.source},
            "warnings": _warnings(name, rated["judge"].to_numpy(), rows),
        }

    return {
        "scale": "1 = generic much better, 3 = no difference, 5 = personalized much better",
        "n_items": len(items),
        "n_items_with_human_ratings": int(len(humans)),
        "n_mention": int(items["mention"].sum()),
        "humans": {
            "n_annotators": len({r.annotator for it in dataset.items for r in it.human_ratings}),
            "mean_rating": float(humans["human_mean"].mean()) if len(humans) else None,
            "no_better_rate": measure.no_better_rate(humans["human_mean"]).to_dict(),
            "mention_delta": measure.mention_delta(humans["human_mean"], humans["mention"]).to_dict(),
        },
        "generators": generators,
        "judges": judges,
        "habit_bias": measure.habit_bias(habits, deltas),
        "audit_card": card or {},
    }
