"""Stage 1: load judged pairs from JSONL or CSV and validate every field.

One row per judged pair (see README, "Input data"). Validation errors become one
:class:`~audit.errors.InputError` naming the file, the line and the field.

JSONL: one JSON object per line; blank lines and lines starting with ``#`` are comments.
CSV: a header row with the same column names; list-valued columns (``attributes``,
``human_ratings``, ``judge_ratings``) hold JSON (``attributes`` may also be ``a; b; c``),
``mention`` holds true/false or is empty.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from .errors import InputError

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


def _field_name(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(row)"


def _explain(err: dict) -> str:
    kind, got = err["type"], err.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; see README 'Input data')"
    if kind in ("greater_than_equal", "less_than_equal") and err["loc"][-1] == "rating":
        return f"rating must be an integer from 1 to 5 (got {got!r})"
    if kind == "int_type" and err["loc"][-1] == "rating":
        return f"rating must be an integer from 1 to 5 (got {got!r})"
    if kind == "too_short" and err["loc"] and err["loc"][0] == "attributes":
        return "needs at least one attribute"
    if kind == "string_too_short":
        return "must not be empty"
    msg = err["msg"]
    return f"{msg} (got {got!r})" if got is not None and not isinstance(got, (dict, list)) else msg


def _validate(row: Any, path: Path, line: int) -> Item:
    if not isinstance(row, dict):
        raise InputError(path, line, None, f"expected a JSON object, got {type(row).__name__}")
    try:
        return Item.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(path, line, _field_name(err["loc"]), _explain(err)) from None


def _rows_jsonl(path: Path, text: str):
    # JSONL lines end at "\n" only: str.splitlines() would also split inside strings at U+2028 etc.
    for lineno, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            row = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(path, lineno, None, f"invalid JSON: {exc.msg} at column {exc.colno}") from None
        yield lineno, row


_JSON_COLUMNS = ("attributes", "human_ratings", "judge_ratings", "meta")


def _rows_csv(path: Path, text: str):
    reader = csv.DictReader(text.splitlines(keepends=True))
    if not reader.fieldnames:
        return
    for row in reader:
        lineno = reader.line_num  # last physical line of the record
        if None in row:
            raise InputError(path, lineno, None, "more cells than header columns")
        out: dict[str, Any] = {}
        for key, value in row.items():
            if value is None:
                raise InputError(path, lineno, key, "missing cell (fewer cells than header columns)")
            if value == "":
                continue  # empty cell = field not given
            if key in _JSON_COLUMNS:
                if key == "attributes" and not value.lstrip().startswith("["):
                    out[key] = [a.strip() for a in value.split(";") if a.strip()]
                    continue
                try:
                    out[key] = json.loads(value)
                except json.JSONDecodeError as exc:
                    raise InputError(path, lineno, key, f"invalid JSON in cell: {exc.msg}") from None
            elif key == "mention":
                low = value.strip().lower()
                if low not in ("true", "false", "1", "0", "yes", "no"):
                    raise InputError(path, lineno, key, f"must be true or false (got {value!r})")
                out[key] = low in ("true", "1", "yes")
            else:
                out[key] = value
        yield lineno, out


def load_items(path: str | Path) -> Dataset:
    """Read and validate a JSONL or CSV file of judged pairs.

    Raises :class:`InputError` (exit code 2) for an unreadable file, bad JSON, a missing or
    mistyped field, a rating outside 1-5, a duplicate id, or a file with no rows.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, None, None, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, None, None, "is a directory, expected a .jsonl or .csv file") from None
    except OSError as exc:
        raise InputError(path, None, None, f"cannot read file: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, None, None, f"not UTF-8 text (byte {exc.start})") from None

    rows = _rows_csv(path, text) if path.suffix.lower() == ".csv" else _rows_jsonl(path, text)
    items: list[Item] = []
    first_line: dict[str, int] = {}
    for lineno, row in rows:
        item = _validate(row, path, lineno)
        if item.id in first_line:
            raise InputError(path, lineno, "id", f"duplicate id {item.id!r} (first on line {first_line[item.id]})")
        first_line[item.id] = lineno
        annotators = [r.annotator for r in item.human_ratings]
        dup = {a for a in annotators if annotators.count(a) > 1}
        if dup:
            raise InputError(path, lineno, "human_ratings", f"annotator {sorted(dup)[0]!r} rates this item twice")
        judges = [r.judge for r in item.judge_ratings]
        dupj = {j for j in judges if judges.count(j) > 1}
        if dupj:
            raise InputError(path, lineno, "judge_ratings", f"judge {sorted(dupj)[0]!r} rates this item twice")
        items.append(item)
    if not items:
        raise InputError(path, None, None, "no rows (the file is empty or holds only comments)")
    return Dataset(path=str(path), sha256=hashlib.sha256(data).hexdigest(), items=tuple(items))
