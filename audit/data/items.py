"""Stage 1: load judged pairs from JSONL or CSV and validate every field.

One row per judged pair (see README, "Input data"). Validation errors become one
:class:`~audit.errors.InputError` naming the file, the line and the field.

JSONL: one JSON object per line; blank lines and lines starting with ``#`` are comments.
CSV: a header row with the same column names; list-valued columns (``attributes``,
``human_ratings``, ``judge_ratings``) hold JSON (``attributes`` may also be ``a; b; c``),
``mention`` holds true/false or is empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from audit.errors import InputError
from audit.data.files import atomic_write
from audit.data.rows import CellError, explain_error, json_cell, read_rows, read_text, validated_rows

Rating = Annotated[StrictInt, Field(ge=1, le=5)]
NonEmptyStr = Annotated[StrictStr, Field(min_length=1)]

SCALE = {
    1: "generic much better",
    2: "generic better",
    3: "no difference",
    4: "personalized better",
    5: "personalized much better",
}


class HumanRating(BaseModel):
    model_config = ConfigDict(extra="forbid")
    annotator: NonEmptyStr
    rating: Rating


class JudgeRating(BaseModel):
    model_config = ConfigDict(extra="forbid")
    judge: NonEmptyStr
    rating: Rating


class Item(BaseModel):
    """One judged pair: a prompt, the user's attributes, a generic and a personalized answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: NonEmptyStr
    user_id: StrictStr | None = None
    prompt: NonEmptyStr
    attributes: Annotated[list[NonEmptyStr], Field(min_length=1)]
    generic: NonEmptyStr
    personalized: NonEmptyStr
    generator: NonEmptyStr
    human_ratings: list[HumanRating] = []
    judge_ratings: list[JudgeRating] = []
    mention: StrictBool | None = None
    meta: dict[str, Any] = {}

    @property
    def mean_human(self) -> float | None:
        if not self.human_ratings:
            return None
        return sum(r.rating for r in self.human_ratings) / len(self.human_ratings)

    @property
    def cluster(self) -> str:
        """Resampling unit: the user when known, else the item."""
        return self.user_id or self.id


@dataclass(frozen=True)
class Dataset:
    path: str
    sha256: str
    items: tuple[Item, ...]

    @property
    def imported_judges(self) -> list[str]:
        seen: dict[str, None] = {}
        for item in self.items:
            for jr in item.judge_ratings:
                seen.setdefault(jr.judge, None)
        return list(seen)


def explain_item(err: dict) -> str:
    """The message for one validation error of an :class:`Item`."""
    kind, got = err["type"], err.get("input")
    if kind in ("greater_than_equal", "less_than_equal", "int_type") and err["loc"][-1] == "rating":
        return f"rating must be an integer from 1 to 5 (got {got!r})"
    if kind == "too_short" and err["loc"] and err["loc"][0] == "attributes":
        return "needs at least one attribute"
    return explain_error(err, "README 'Input data'")


def _attributes_cell(value: str) -> Any:
    if not value.lstrip().startswith("["):
        return [a.strip() for a in value.split(";") if a.strip()]
    return json_cell(value)


def _mention_cell(value: str) -> bool:
    low = value.strip().lower()
    if low not in ("true", "false", "1", "0", "yes", "no"):
        raise CellError(f"must be true or false (got {value!r})")
    return low in ("true", "1", "yes")


CSV_CELLS = {"attributes": _attributes_cell, "human_ratings": json_cell, "judge_ratings": json_cell,
             "meta": json_cell, "mention": _mention_cell}


def first_items(dataset: Dataset, limit: int | None) -> Dataset:
    """The first ``limit`` items of a dataset (in file order); all of them when ``limit`` is None.
    The dataset's path and sha256 stay those of the whole file (the card records the limit)."""
    if limit is None or limit >= len(dataset.items):
        return dataset
    return Dataset(dataset.path, dataset.sha256, dataset.items[:limit])


def load_items(path: str | Path) -> Dataset:
    """Read and validate a JSONL or CSV file of judged pairs.

    Raises :class:`InputError` (exit code 2) for an unreadable file, bad JSON, a missing or
    mistyped field, a rating outside 1-5, a duplicate id, or a file with no rows.
    """
    path = Path(path)
    text, sha256 = read_text(path)
    items: list[Item] = []
    for lineno, item in validated_rows(Item, read_rows(path, text, CSV_CELLS), path, explain_item):
        annotators = [r.annotator for r in item.human_ratings]
        dup = {a for a in annotators if annotators.count(a) > 1}
        if dup:
            raise InputError(path, lineno, "human_ratings", f"annotator {sorted(dup)[0]!r} rates this item twice")
        judges = [r.judge for r in item.judge_ratings]
        dupj = {j for j in judges if judges.count(j) > 1}
        if dupj:
            raise InputError(path, lineno, "judge_ratings", f"judge {sorted(dupj)[0]!r} rates this item twice")
        items.append(item)
    return Dataset(path=str(path), sha256=sha256, items=tuple(items))


@dataclass(frozen=True)
class MentionFlag:
    flagged: bool
    spans: tuple[tuple[int, int], ...]  # char offsets [start, end) into the text
    source: str  # "offline" here; "user" / "llm:<judge>" set elsewhere

    def span_texts(self, text: str) -> list[str]:
        return [text[s:e] for s, e in self.spans]


ITEMS_FILE = "items.jsonl"


ITEMS_FORMAT = 1


def write_items_jsonl(path: Path, dataset: Dataset, flags: dict[str, MentionFlag]) -> None:
    header = {"judge_audit_items": ITEMS_FORMAT, "dataset": {"path": dataset.path, "sha256": dataset.sha256},
              "n_items": len(dataset.items)}
    lines = ["# " + json.dumps(header, ensure_ascii=False)]
    for item in dataset.items:
        flag = flags.get(item.id)
        lines.append(json.dumps({
            "item": item.model_dump(mode="json"),
            "mention_flag": None if flag is None else {"flagged": bool(flag.flagged), "spans": [list(s) for s in flag.spans],
                                                       "source": flag.source},
        }, ensure_ascii=False))
    atomic_write(path, "\n".join(lines) + "\n")


def read_items_jsonl(path: Path) -> tuple[Dataset, dict[str, MentionFlag]]:
    """The run's items and flags from items.jsonl; InputError (file, line) when it is not one."""
    from pydantic import ValidationError

    header, items, flags = None, [], {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, None, None, f"cannot read: {exc}") from None
    # split on newlines only: str.splitlines() would also split inside a JSON string holding U+2028 etc.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            if line.startswith("#"):
                if header is None:
                    header = json.loads(line[1:])
                continue
            row = json.loads(line)
            item = Item.model_validate(row["item"])
            f = row.get("mention_flag")
            if f is not None:
                flags[item.id] = MentionFlag(bool(f["flagged"]), tuple((int(a), int(b)) for a, b in f["spans"]),
                                             str(f["source"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, ValidationError) as exc:
            raise InputError(path, lineno, None, f"not a judge-audit items.jsonl line ({type(exc).__name__})") from None
        items.append(item)
    if not isinstance(header, dict) or header.get("judge_audit_items") != ITEMS_FORMAT:
        raise InputError(path, 1, None, "not a judge-audit items.jsonl (missing its header line)")
    ds = header.get("dataset") or {}
    return Dataset(str(ds.get("path", "")), str(ds.get("sha256", "")), tuple(items)), flags
