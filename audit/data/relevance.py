"""Relevance audit, stages 1 and 3: load (attribute, prompt) pairs and ask judges whether the
attribute should change the answer.

Input: one row per pair -- ``id``, ``user_id``, ``attribute``, ``prompt``, ``human_labels``
(list of ``{"annotator", "relevant": bool}``), optional imported ``judge_labels`` (list of
``{"judge", "relevant": bool}``) and ``meta``. JSONL (``#`` lines and blank lines are comments) or
CSV (list columns hold JSON; ``relevant`` values may be true/false). Validation errors become one
:class:`~audit.errors.InputError` naming the file, the line and the field.

Each called judge answers through instructor with a :class:`RelevanceVerdict`; every call goes
through :class:`audit.engine.judge.Engine`, so it is cached, retried and paced like a preference call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Iterable

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from audit.errors import InputError
from audit.data.rows import explain_error, first_repeat, json_cell, read_rows, read_text, validated_rows

NonEmptyStr = Annotated[StrictStr, Field(min_length=1)]
TASK = "relevance"  # prompts/relevance.{system,user}.j2


class HumanLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    annotator: NonEmptyStr
    relevant: StrictBool


class JudgeLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    judge: NonEmptyStr
    relevant: StrictBool


class Pair(BaseModel):
    """One (user attribute, new prompt) pair with its human and imported judge labels."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: NonEmptyStr
    user_id: StrictStr | None = None
    attribute: NonEmptyStr
    prompt: NonEmptyStr
    human_labels: list[HumanLabel] = []
    judge_labels: list[JudgeLabel] = []
    meta: dict[str, Any] = {}

    @property
    def cluster(self) -> str:
        """Resampling unit: the user when known, else the pair."""
        return self.user_id or self.id


@dataclass(frozen=True)
class RelevanceDataset:
    path: str
    sha256: str
    pairs: tuple[Pair, ...]

    @property
    def imported_judges(self) -> list[str]:
        seen: dict[str, None] = {}
        for pair in self.pairs:
            for jl in pair.judge_labels:
                seen.setdefault(jl.judge, None)
        return list(seen)

    @property
    def annotators(self) -> list[str]:
        return sorted({h.annotator for p in self.pairs for h in p.human_labels})


# --- loading -----------------------------------------------------------------------------------

_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _labels_cell(value: str) -> Any:
    """A JSON list of labels; in CSV cells, "true"/"false" strings are accepted for ``relevant``
    (JSON booleans stay as they are)."""
    labels = json_cell(value)
    if isinstance(labels, list):
        for lab in labels:
            if isinstance(lab, dict) and isinstance(lab.get("relevant"), str) and lab["relevant"].lower() in _BOOL_TEXT:
                lab["relevant"] = _BOOL_TEXT[lab["relevant"].lower()]
    return labels


CSV_CELLS = {"human_labels": _labels_cell, "judge_labels": _labels_cell, "meta": json_cell}


def explain_pair(err: dict) -> str:
    """The message for one validation error of a :class:`Pair`."""
    if err["type"] == "bool_type" and err["loc"] and err["loc"][-1] == "relevant":
        return f"relevant must be true or false (got {err.get('input')!r})"
    if err["type"] == "missing" and err["loc"] and err["loc"][0] in ("attribute", "prompt", "id"):
        return "required field is missing (see README 'Relevance audit')"
    return explain_error(err, "README 'Relevance audit'")


def load_pairs(path: str | Path) -> RelevanceDataset:
    """Read and validate a JSONL or CSV file of (attribute, prompt) pairs.

    Raises :class:`InputError` (exit code 2) for an unreadable file, bad JSON, a missing or
    mistyped field, a label that is not true/false, a duplicate id, an annotator or judge labelling
    a pair twice, or a file with no rows.
    """
    path = Path(path)
    text, sha256 = read_text(path)
    pairs: list[Pair] = []
    annotator_line: dict[str, int] = {}
    judge_line: dict[str, int] = {}
    for lineno, pair in validated_rows(Pair, read_rows(path, text, CSV_CELLS), path, explain_pair):
        for field, names in (("human_labels", [h.annotator for h in pair.human_labels]),
                             ("judge_labels", [j.judge for j in pair.judge_labels])):
            repeat = first_repeat(names)
            if repeat:
                who = "annotator" if field == "human_labels" else "judge"
                raise InputError(path, lineno, field, f"{who} {names[repeat[0]]!r} labels this pair twice")
        for h in pair.human_labels:
            annotator_line.setdefault(h.annotator, lineno)
        for j in pair.judge_labels:
            if j.judge in annotator_line:
                raise InputError(path, lineno, "judge_labels", f"{j.judge!r} is both an annotator (line "
                                 f"{annotator_line[j.judge]}) and a judge")
            judge_line.setdefault(j.judge, lineno)
        clash = sorted(a for a in annotator_line if a in judge_line)
        if clash:
            raise InputError(path, lineno, "human_labels", f"{clash[0]!r} is both a judge (line "
                             f"{judge_line[clash[0]]}) and an annotator")
        pairs.append(pair)
    return RelevanceDataset(path=str(path), sha256=sha256, pairs=tuple(pairs))


# --- judging -----------------------------------------------------------------------------------


@dataclass
class RelevanceJudgment:
    """One row of relevance_judgments.csv: one judge call (or one imported label)."""

    pair_id: str
    judge: str
    model: str
    relevant: bool | None
    reason: str | None
    status: str  # ok | failed | imported
    cached: bool = False
    latency_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    error: str | None = None

    def to_row(self) -> dict:
        return asdict(self)


JUDGMENT_COLUMNS = [f.name for f in fields(RelevanceJudgment)]


def imported_labels(pairs: Iterable[Pair]) -> list[RelevanceJudgment]:
    """Judge labels already in the data, as rows (no model call)."""
    return [RelevanceJudgment(p.id, jl.judge, jl.judge, jl.relevant, None, "imported")
            for p in pairs for jl in p.judge_labels]


