"""Juries in an audit: which judges a requested jury calls, and the jury's judgment rows, built from
its members' judgments with no extra call (statistics: :mod:`audit.stats.juries`)."""

from __future__ import annotations

from audit.data.judgments import Judgment
from audit.engine.config import Jury
from audit.stats.juries import jury_ratings, members_agreement
from audit.stats.tables import judge_item_ratings


def split_juries(requested: list[str], juries: dict[str, Jury]) -> tuple[list[str], list[Jury]]:
    """(judge names to call: the requested judges and every jury's members, each once, in order;
    the requested juries)."""
    names: list[str] = []
    chosen: list[Jury] = []
    for name in requested:
        if name in juries:
            chosen.append(juries[name])
            names.extend(m for m in juries[name].members if m not in names)
        elif name not in names:
            names.append(name)
    return names, chosen


def jury_judgments(jury: Jury, judgments: list[Judgment]) -> list[Judgment]:
    """One row per item a member rated: the aggregate of the members' item ratings (status ``jury``,
    model ``jury:<aggregate>(<members>)``, rationale naming how many members rated the item)."""
    table = judge_item_ratings([j for j in judgments if j.judge in jury.members])
    members = table.reindex(columns=list(jury.members))
    rows = []
    for item_id, r in jury_ratings(members, jury.aggregate).iterrows():
        rows.append(Judgment(item_id, jury.name, jury.describe(), None, 0, float(r["rating"]), None,
                             f"{jury.aggregate} of {int(r['n_members'])} of {len(jury.members)} members", "jury"))
    return rows


def jury_entry(jury: Jury, judgments: list[Judgment], clusters: dict[str, str], *, seed: int = 0) -> dict:
    """What results.json says about a jury beside its judge numbers: members, aggregate, items where a
    member was missing, and the members' agreement with each other."""
    table = judge_item_ratings([j for j in judgments if j.judge in jury.members]).reindex(columns=list(jury.members))
    table = table[table.notna().any(axis=1)]
    partial = int((table.notna().sum(axis=1) < len(jury.members)).sum())
    agreement = members_agreement(table, [clusters.get(i, i) for i in table.index], seed=seed) if len(table) else None
    return {"members": list(jury.members), "aggregate": jury.aggregate, "n_items": int(len(table)),
            "n_items_partial": partial, "members_agreement": agreement}
