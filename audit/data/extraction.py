"""Stage 1 of personalization: attributes a model extracted from a user's conversation, labelled by
people (and verifiers) as accept, uncertain or reject (``judge-audit extraction``).

Input: one row per extracted attribute -- ``id``, ``user_id`` (optional, the bootstrap cluster),
``conversation`` (the text it was extracted from), ``attribute``, ``source`` (optional: "real",
"synthetic", ...), ``human_labels`` (list of ``{"annotator", "label"}``), ``category`` (optional: the
humans' failure category, e.g. "overgeneralization"), ``judge_labels`` (optional imported verifier
labels ``{"judge", "label"}``), ``meta``. JSONL or CSV (list columns hold JSON), validated like every
input: one :class:`~audit.errors.InputError` naming the file, the line and the field.

An item's human label is the plurality of its ``human_labels``, and "uncertain" when two labels share
the top count (:func:`human_label`); an item without human labels has none and is left out of every
comparison with people.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from audit.data.labels import plurality
from audit.data.rows import explain_error, first_repeat, json_cell, read_rows, read_text, validated_rows
from audit.errors import InputError

NonEmptyStr = Annotated[StrictStr, Field(min_length=1)]
LABELS = ("accept", "uncertain", "reject")
PROBLEM = ("uncertain", "reject")  # a "problematic" attribute (the paper's stage-1 failure rate)
TIE_LABEL = "uncertain"
TASK = "extraction_verifier"  # prompts/extraction_verifier.{system,user}.j2
Label = Literal["accept", "uncertain", "reject"]


class ExtractionHumanLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    annotator: NonEmptyStr
    label: Label


class ExtractionJudgeLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    judge: NonEmptyStr
    label: Label


class ExtractedAttribute(BaseModel):
    """One attribute extracted from one conversation, with its human and imported verifier labels."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: NonEmptyStr
    user_id: StrictStr | None = None
    conversation: NonEmptyStr
    attribute: NonEmptyStr
    source: NonEmptyStr | None = None
    human_labels: list[ExtractionHumanLabel] = []
    category: NonEmptyStr | None = None
    judge_labels: list[ExtractionJudgeLabel] = []
    meta: dict[str, Any] = {}

    @property
    def cluster(self) -> str:
        """Resampling unit: the user when known, else the item."""
        return self.user_id or self.id

    @property
    def human_label(self) -> str | None:
        return human_label([h.label for h in self.human_labels])


def human_label(labels: list[str]) -> str | None:
    """The plurality of ``labels``; "uncertain" when two labels share the top count; None without labels."""
    return plurality(labels, tie=TIE_LABEL)


@dataclass(frozen=True)
class ExtractionDataset:
    path: str
    sha256: str
    items: tuple[ExtractedAttribute, ...]

    @property
    def imported_judges(self) -> list[str]:
        return list(dict.fromkeys(j.judge for it in self.items for j in it.judge_labels))

    @property
    def annotators(self) -> list[str]:
        return sorted({h.annotator for it in self.items for h in it.human_labels})


CSV_CELLS = {"human_labels": json_cell, "judge_labels": json_cell, "meta": json_cell}


def _explain(err: dict) -> str:
    if err["type"] == "literal_error" and err["loc"] and err["loc"][-1] == "label":
        return f"label must be one of {', '.join(LABELS)} (got {err.get('input')!r})"
    return explain_error(err, "README 'Stage 1: attribute extraction'")


def load_extraction(path: str | Path) -> ExtractionDataset:
    """Read and validate a JSONL or CSV file of extracted attributes.

    Raises :class:`InputError` (exit code 2) for an unreadable file, bad JSON, a missing, unknown or
    mistyped field, a label other than accept / uncertain / reject, a duplicate id, an annotator or
    verifier labelling an item twice, a name used both as annotator and as verifier, or no rows.
    """
    path = Path(path)
    text, sha256 = read_text(path)
    items: list[ExtractedAttribute] = []
    annotators: set[str] = set()
    judges: set[str] = set()
    for lineno, item in validated_rows(ExtractedAttribute, read_rows(path, text, CSV_CELLS), path, _explain):
        for field, key, who, names in (("human_labels", "annotator", "annotator", [h.annotator for h in item.human_labels]),
                                       ("judge_labels", "judge", "verifier", [j.judge for j in item.judge_labels])):
            repeat = first_repeat(names)
            if repeat:
                k, first = repeat
                raise InputError(path, lineno, f"{field}[{k}].{key}",
                                 f"{who} {names[k]!r} labels this item twice (first is {field}[{first}])")
        annotators |= {h.annotator for h in item.human_labels}
        judges |= {j.judge for j in item.judge_labels}
        both = sorted(annotators & judges)
        if both:
            raise InputError(path, lineno, "judge_labels", f"{both[0]!r} is both an annotator and a verifier")
        items.append(item)
    return ExtractionDataset(str(path), sha256, tuple(items))


# --- the verifier's verdicts ---------------------------------------------------------------------


@dataclass
class ExtractionJudgment:
    """One row of extraction_judgments.csv: one verifier call (or one imported label)."""

    item_id: str
    judge: str
    model: str
    label: str | None
    rationale: str | None
    status: str  # ok | failed | imported
    cached: bool = False
    latency_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    error: str | None = None

    def to_row(self) -> dict:
        return asdict(self)


JUDGMENT_COLUMNS = [f.name for f in fields(ExtractionJudgment)]


def imported_verdicts(items: Iterable[ExtractedAttribute]) -> list[ExtractionJudgment]:
    """Verifier labels already in the data, as rows (no model call)."""
    return [ExtractionJudgment(it.id, j.judge, j.judge, j.label, None, "imported") for it in items for j in it.judge_labels]
