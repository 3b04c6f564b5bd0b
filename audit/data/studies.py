"""Load an existing judge study (ratings already made, no model call) in one of two forms.

* **absolute** — each item (one response) is rated on a 1..N scale by several humans and several
  judges, on one or more criteria (e.g. HANNA: stories rated 1–5 on six criteria).
* **pairwise** — each item is two responses and a binary human preference (``label`` 1, 2 or
  ``"tie"``), with judge verdicts, optionally in both presentation orders (e.g. LLMBar).

(A 5-point pairwise preference is the native format of ``judge-audit run``; see docs/FORMATS.md.)

Both load from JSONL (one object per line; blank and ``#`` lines are comments) or CSV (same column
names; list-valued columns hold JSON). Every problem becomes one
:class:`~audit.errors.InputError` naming the file, the line and the field. The loaded study is a
set of tidy pandas DataFrames that :mod:`audit.stats.study` measures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictFloat, StrictStr

from audit.data.labels import plurality
from audit.errors import InputError
from audit.data.rows import explain_error, first_repeat, json_cell, read_rows, read_text, validated_rows

FORMS = ("absolute", "pairwise")
TIE = "tie"

NonEmptyStr = Annotated[StrictStr, Field(min_length=1)]
Score = Annotated[StrictFloat, Field(allow_inf_nan=False)]  # strict: an int is fine, "4" and true are not


def _winner(value):
    """1, 2 or "tie" exactly (not "1", 2.0 or true): a preference is a category, not a number."""
    if value is None or value == TIE and isinstance(value, str):
        return value
    if type(value) is int and value in (1, 2):
        return value
    raise ValueError(f'must be 1, 2 or "tie" (got {value!r})')


def _label(value):
    if value is None:
        raise ValueError('must be 1, 2 or "tie" (got null)')
    return _winner(value)


Winner = Annotated[int | str | None, BeforeValidator(_winner)]  # a verdict: null = no usable answer
Label = Annotated[int | str, BeforeValidator(_label)]  # the human preference


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- absolute form ----------------------------------------------------------------------------


class HumanScore(_Strict):
    annotator: NonEmptyStr
    criterion: NonEmptyStr
    rating: Score


class JudgeScore(_Strict):
    judge: NonEmptyStr
    criterion: NonEmptyStr
    rating: Score  # may be fractional (e.g. the mean of several samples)


class RatedItem(_Strict):
    """One response rated by humans and judges (absolute form)."""

    id: NonEmptyStr
    cluster: NonEmptyStr | None = None  # resampling unit (e.g. the prompt); default: the item
    system: NonEmptyStr | None = None  # what produced the response (for --exclude-system)
    text: StrictStr | None = None
    human_ratings: list[HumanScore] = []
    judge_ratings: list[JudgeScore] = []
    meta: dict[str, Any] = {}


# --- pairwise form ----------------------------------------------------------------------------


Confidence = Annotated[StrictFloat, Field(ge=0, le=1, allow_inf_nan=False)]


class PairVerdict(_Strict):
    """One judge verdict. ``winner`` is in the item's own numbering (1 = response_1), whatever the
    order shown; ``swap`` = true means response_2 was shown first. null = no usable verdict.
    ``confidence``: the judge's stated certainty (or probability) that its verdict is right, in [0, 1]."""

    judge: NonEmptyStr
    winner: Winner
    swap: StrictBool = False
    confidence: Confidence | None = None


class HumanLabel(_Strict):
    """One annotator's preference on a pair."""

    annotator: NonEmptyStr
    label: Label


class PairItem(_Strict):
    """Two responses to one prompt, the human preference and judge verdicts (pairwise form)."""

    id: NonEmptyStr
    cluster: NonEmptyStr | None = None
    prompt: StrictStr | None = None
    response_1: StrictStr | None = None
    response_2: StrictStr | None = None
    label: Label | None = None  # absent: the plurality of human_labels ("tie" when the top is shared)
    human_labels: list[HumanLabel] = []
    verdicts: list[PairVerdict] = []
    meta: dict[str, Any] = {}




# --- the loaded study ---------------------------------------------------------------------------

RATING_COLUMNS = ["item_id", "cluster", "system", "kind", "rater", "criterion", "rating"]
ITEM_COLUMNS = ["item_id", "cluster", "label"]
VERDICT_COLUMNS = ["item_id", "judge", "swap", "winner", "confidence"]
ANNOTATION_COLUMNS = ["item_id", "cluster", "annotator", "label"]


@dataclass(frozen=True)
class AbsoluteStudy:
    """Long table of ratings: one row per (item, rater, criterion); ``kind`` is "human" or "judge"."""

    path: str
    sha256: str
    scale: tuple[float, float]
    ratings: pd.DataFrame  # RATING_COLUMNS

    @property
    def judges(self) -> list[str]:
        return list(dict.fromkeys(self.ratings.loc[self.ratings["kind"] == "judge", "rater"]))

    @property
    def criteria(self) -> list[str]:
        return list(dict.fromkeys(self.ratings["criterion"]))


@dataclass(frozen=True)
class PairwiseStudy:
    """Items (id, cluster, human label), verdicts (one row per judge call) and the individual
    annotators' labels (``annotations``; empty when the data gives only ``label``)."""

    path: str
    sha256: str
    items: pd.DataFrame  # ITEM_COLUMNS
    verdicts: pd.DataFrame  # VERDICT_COLUMNS
    texts: dict = field(default_factory=dict)  # item id -> (prompt, response_1, response_2), when the data has them
    annotations: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ANNOTATION_COLUMNS))

    @property
    def judges(self) -> list[str]:
        return list(dict.fromkeys(self.verdicts["judge"]))

    def callable_items(self) -> list[str]:
        """Ids of the items a judge can be called on (the prompt and both responses are known)."""
        return [i for i in self.items["item_id"] if all(x is not None for x in self.texts.get(i, (None,)))]


# --- reading ----------------------------------------------------------------------------------


def _label_cell(value: str) -> Any:
    """``label`` in a CSV cell: JSON (1, 2, "tie") or the bare word tie (validated with the row)."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


CSV_CELLS = {"human_ratings": json_cell, "judge_ratings": json_cell, "verdicts": json_cell, "meta": json_cell,
             "label": _label_cell, "human_labels": json_cell}


def _explain(err: dict) -> str:
    if err["type"] == "value_error":
        return str(err.get("ctx", {}).get("error", err["msg"]))
    if err["type"] == "finite_number":
        return "must be a finite number"
    if err["type"] in ("greater_than_equal", "less_than_equal") and err["loc"][-1] == "confidence":
        return f"must be a number from 0 to 1 (got {err.get('input')!r})"
    return explain_error(err, "docs/FORMATS.md")


def _validated(model: type[BaseModel], path: Path, text: str) -> list[tuple[int, Any]]:
    return list(validated_rows(model, read_rows(path, text, CSV_CELLS), path, _explain))


def parse_scale(text: str) -> tuple[float, float]:
    """"1-5" -> (1.0, 5.0). Raises ValueError with a readable message."""
    lo, sep, hi = str(text).partition("-")
    try:
        low, high = float(lo), float(hi)
    except ValueError:
        raise ValueError(f"scale must look like 1-5 (got {text!r})") from None
    if not sep or not low < high:
        raise ValueError(f"scale must be MIN-MAX with MIN < MAX (got {text!r})")
    return low, high


# --- the two loaders --------------------------------------------------------------------------


def absolute_from_items(items: list[tuple[int, RatedItem]], path: str | Path, sha256: str,
                        scale: tuple[float, float] = (1, 5), *, keep_judge_out_of_scale: bool = False) -> AbsoluteStudy:
    """Check ranges and duplicates of validated rows and build the long ratings table.

    A rating outside ``scale`` is an error, except a judge rating when ``keep_judge_out_of_scale``
    (converters of published data that code failures as out-of-scale values; the measures count
    and report them).
    """
    low, high = scale
    rows = []
    for lineno, item in items:
        seen: dict[tuple, int] = {}
        for field, kind, scores in (("human_ratings", "human", item.human_ratings),
                                    ("judge_ratings", "judge", item.judge_ratings)):
            for k, s in enumerate(scores):
                rater = s.annotator if kind == "human" else s.judge
                where = f"{field}[{k}]"
                if not low <= s.rating <= high and not (kind == "judge" and keep_judge_out_of_scale):
                    raise InputError(path, lineno, where + ".rating",
                                     f"rating {s.rating!r} is outside the scale {low:g}-{high:g} (set --scale)")
                key = (kind, rater, s.criterion)
                if key in seen:
                    raise InputError(path, lineno, where,
                                     f"{kind} {rater!r} rates criterion {s.criterion!r} twice on this item")
                seen[key] = k
                rows.append((item.id, item.cluster or item.id, item.system, kind, rater, s.criterion, float(s.rating)))
    df = pd.DataFrame(rows, columns=RATING_COLUMNS)
    if not (df["kind"] == "human").any():
        raise InputError(path, None, "human_ratings", "no human ratings in the file: nothing to audit against")
    return AbsoluteStudy(str(path), sha256, (float(low), float(high)), df)


def load_absolute(path: str | Path, scale: tuple[float, float] = (1, 5)) -> AbsoluteStudy:
    """Read and validate an absolute-form study (JSONL or CSV; see docs/FORMATS.md).

    Raises :class:`InputError` (exit code 2) for an unreadable file, bad JSON, a missing, unknown or
    mistyped field, a rating outside ``scale``, a rater rating the same criterion of an item twice,
    a duplicate id, or a file without any human rating.
    """
    path = Path(path)
    text, sha = read_text(path)
    return absolute_from_items(_validated(RatedItem, path, text), path, sha, scale)


def pairwise_from_items(items: list[tuple[int, PairItem]], path: str | Path, sha256: str, *,
                        allow_no_verdicts: bool = False) -> PairwiseStudy:
    """Check duplicates of validated rows and build the item and verdict tables."""
    item_rows, verdict_rows, texts, annotation_rows = [], [], {}, []
    for lineno, item in items:
        texts[item.id] = (item.prompt, item.response_1, item.response_2)
        label = _item_label(item, path, lineno)
        annotation_rows += [(item.id, item.cluster or item.id, h.annotator, h.label) for h in item.human_labels]
        seen: dict[tuple, int] = {}
        for k, v in enumerate(item.verdicts):
            key = (v.judge, v.swap)
            if key in seen:
                order = "swapped" if v.swap else "original"
                raise InputError(path, lineno, f"verdicts[{k}]",
                                 f"judge {v.judge!r} has two verdicts in the {order} order (first is verdicts[{seen[key]}])")
            seen[key] = k
            verdict_rows.append((item.id, v.judge, v.swap, v.winner,
                                 None if v.confidence is None else float(v.confidence)))
        item_rows.append((item.id, item.cluster or item.id, label))
    if not verdict_rows and not allow_no_verdicts:
        raise InputError(path, None, "verdicts", "no judge verdicts in the file: nothing to audit")
    # object columns keep 1, 2, "tie" and None as they are (no float coercion of 1 -> 1.0)
    verdicts = pd.DataFrame({c: pd.Series(list(v), dtype=object)
                             for c, v in zip(VERDICT_COLUMNS, zip(*verdict_rows) if verdict_rows else [()] * 5)})
    verdicts["swap"] = verdicts["swap"].astype(bool)
    items_df = pd.DataFrame({c: pd.Series(list(v), dtype=object) for c, v in zip(ITEM_COLUMNS, zip(*item_rows))})
    return PairwiseStudy(str(path), sha256, items_df, verdicts, texts, annotation_frame(annotation_rows))


def annotation_frame(rows: list[tuple]) -> pd.DataFrame:
    """ANNOTATION_COLUMNS from (item id, cluster, annotator, label) tuples; labels kept as 1, 2, "tie"."""
    return pd.DataFrame({c: pd.Series(list(v), dtype=object)
                         for c, v in zip(ANNOTATION_COLUMNS, zip(*rows) if rows else [()] * 4)})


def _item_label(item: PairItem, path, lineno: int):
    """The item's human label: ``label`` when given, else the plurality of ``human_labels``."""
    names = [h.annotator for h in item.human_labels]
    repeat = first_repeat(names)
    if repeat:
        k, first = repeat
        raise InputError(path, lineno, f"human_labels[{k}].annotator",
                         f"annotator {names[k]!r} labels this item twice (first is human_labels[{first}])")
    if item.label is not None:
        return item.label
    if not item.human_labels:
        given = "label" in item.model_fields_set  # "label": null
        raise InputError(path, lineno, "label", ('must be 1, 2 or "tie" (got null)' if given else "required field is missing")
                         + " (give label, or human_labels to take their plurality)")
    return plurality([h.label for h in item.human_labels], tie=TIE)


def load_pairwise(path: str | Path, *, allow_no_verdicts: bool = False) -> PairwiseStudy:
    """Read and validate a pairwise-form study with a binary human label (see docs/FORMATS.md).

    Raises :class:`InputError` for an unreadable file, bad JSON, a missing, unknown or mistyped
    field, a label or winner other than 1, 2, "tie" (or null for a winner), two verdicts of one judge
    in the same order on one item, a duplicate id, or a file with no verdicts.
    """
    path = Path(path)
    text, sha = read_text(path)
    return pairwise_from_items(_validated(PairItem, path, text), path, sha, allow_no_verdicts=allow_no_verdicts)
