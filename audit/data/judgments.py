"""The judgment record: one row of judgments.csv per judge call (or imported rating), the CSV
contract (its columns and their order), and the presentation-order rule every judge shares."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import random
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable

from audit.data.files import write_csv
from audit.data.items import Item


GENERIC_FIRST, PERSONALIZED_FIRST = "generic_first", "personalized_first"


@dataclass
class Judgment:
    """One row of judgments.csv: one judge call (or one imported rating)."""

    item_id: str
    judge: str
    model: str
    order: str | None  # generic_first (A = generic) | personalized_first | None (imported)
    sample: int
    rating: float | None  # on the generic(1) .. personalized(5) scale
    raw_rating: int | None  # as the judge gave it, on the A(1) .. B(5) scale
    rationale: str | None
    status: str  # ok | failed | imported | jury
    cached: bool = False
    latency_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    error: str | None = None
    prompt: str | None = None  # the judge prompt as name@sha256[:8] (None: imported)
    confidence: float | None = None  # the judge's stated confidence, else the probability of its rating (logprobs)
    served_model: str | None = None  # the model the provider said answered (response "model")
    system_fingerprint: str | None = None  # the provider's system_fingerprint of the response, when it sends one

    def to_row(self) -> dict:
        # not dataclasses.asdict: that deep-copies every value, ~10x slower for these flat rows
        return {name: getattr(self, name) for name in _JUDGMENT_FIELDS}


_JUDGMENT_FIELDS = tuple(f.name for f in dataclasses.fields(Judgment))


def presentation_order(item_id: str, sample: int, seed: int) -> str:
    """Which answer is Response A, drawn from an RNG seeded by (seed, item, sample)."""
    digest = hashlib.sha256(f"{seed}:{item_id}:{sample}".encode()).digest()
    return GENERIC_FIRST if random.Random(digest).random() < 0.5 else PERSONALIZED_FIRST


def presentation_orders(item_id: str, sample: int, seed: int, both_orders: bool) -> list[str]:
    """The orders an item is judged in: the seeded one, then (``both_orders``) the swapped one."""
    first = presentation_order(item_id, sample, seed)
    return [first, PERSONALIZED_FIRST if first == GENERIC_FIRST else GENERIC_FIRST] if both_orders else [first]


#: How a jury turns its members' item ratings into one (audit.stats.juries.aggregate).
JURY_AGGREGATES = ("mean", "median", "majority")
#: Judgment statuses: a call that answered (ok) or failed; a rating imported from the data; a jury's
#: rating built from its members' judgments. Only "ok" and "failed" rows are calls.
RATED_STATUSES = frozenset({"ok", "imported", "jury"})
NO_CALL_STATUSES = frozenset({"imported", "jury"})


def to_preference_scale(raw: int, order: str) -> int:
    """Map a rating of A (1) vs B (5) back to generic (1) vs personalized (5)."""
    return raw if order == GENERIC_FIRST else 6 - raw


def imported_judgments(items: Iterable[Item]) -> list[Judgment]:
    """Judge ratings already in the data, as judgment rows (no model call)."""
    rows = []
    for item in items:
        for jr in item.judge_ratings:
            rows.append(Judgment(item.id, jr.judge, jr.judge, None, 0, float(jr.rating), None, None, "imported"))
    return rows


JUDGMENT_COLUMNS = [f.name for f in fields(Judgment)]


def write_judgments_csv(path: Path, judgments: list[Judgment]) -> None:
    write_csv(path, JUDGMENT_COLUMNS, (j.to_row() for j in judgments))


def read_judgments_csv(path: Path) -> list[Judgment]:
    out = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            def num(key, cast=float):
                return cast(row[key]) if row.get(key) not in (None, "") else None
            out.append(Judgment(
                item_id=row["item_id"], judge=row["judge"], model=row["model"], order=row["order"] or None,
                sample=int(row["sample"] or 0), rating=num("rating"), raw_rating=num("raw_rating", int),
                rationale=row["rationale"] or None, status=row["status"], cached=row["cached"] == "True",
                latency_s=num("latency_s"), tokens_in=num("tokens_in", int), tokens_out=num("tokens_out", int),
                cost_usd=num("cost_usd"), error=row["error"] or None, prompt=row.get("prompt") or None,
                confidence=num("confidence") if "confidence" in row else None,
                served_model=row.get("served_model") or None, system_fingerprint=row.get("system_fingerprint") or None))
    return out
