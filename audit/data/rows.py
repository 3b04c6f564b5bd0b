"""Read input rows from JSONL or CSV with their line numbers, and turn validation errors into one
:class:`~audit.errors.InputError` naming the file, the line and the field.

Shared by every loader (:mod:`audit.data.items`, :mod:`audit.data.relevance`, :mod:`audit.data.studies`); each
keeps its own pydantic models, its CSV cell conversions and its extra checks.

JSONL: one JSON object per line; blank lines and lines starting with ``#`` are comments; lines
end at ``\\n`` only. CSV: a header row; an empty cell is a field not given; ``cells`` names the
columns whose text is converted (e.g. JSON lists) -- a converter raises :class:`CellError` with
the message for the user.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from audit.errors import InputError

M = TypeVar("M", bound=BaseModel)
Explain = Callable[[dict], str]


class CellError(ValueError):
    """A CSV cell that cannot be converted; the message is shown to the user."""


def read_text(path: Path) -> tuple[str, str]:
    """(text, sha256) of a UTF-8 file (a BOM is dropped); an unreadable file becomes InputError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, None, None, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, None, None, "is a directory, expected a .jsonl or .csv file") from None
    except OSError as exc:
        raise InputError(path, None, None, f"cannot read file: {exc.strerror}") from None
    try:
        return data.decode("utf-8-sig"), hashlib.sha256(data).hexdigest()
    except UnicodeDecodeError as exc:
        raise InputError(path, None, None, f"not UTF-8 text (byte {exc.start})") from None


def rows_jsonl(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) of every non-comment line."""
    # JSONL lines end at "\n" only: str.splitlines() would also split inside strings at U+2028 etc.
    for lineno, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            row = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(path, lineno, None, f"invalid JSON (column {exc.colno}): {exc.msg}") from None
        yield lineno, row


def json_cell(value: str) -> Any:
    """A CSV cell holding JSON (a list or an object)."""
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise CellError(f"invalid JSON in cell: {exc.msg}") from None


def rows_csv(path: Path, text: str, cells: Mapping[str, Callable[[str], Any]]) -> Iterator[tuple[int, dict]]:
    """(line number of the record's last physical line, dict) of every CSV record.

    Empty cells are absent fields; a column in ``cells`` is converted by its function, any other
    column stays text.
    """
    reader = csv.DictReader(text.splitlines(keepends=True))
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
            convert = cells.get(key)
            if convert is None:
                out[key] = value
                continue
            try:
                out[key] = convert(value)
            except CellError as exc:
                raise InputError(path, lineno, key, str(exc)) from None
        yield lineno, out


def read_rows(path: Path, text: str, cells: Mapping[str, Callable[[str], Any]] | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, row) of a ``.csv`` file (by its suffix) or else of a JSONL file."""
    if path.suffix.lower() == ".csv":
        return rows_csv(path, text, cells or {})
    return rows_jsonl(path, text)


def first_repeat(names: Iterable[str]) -> tuple[int, int] | None:
    """(index of the first name that occurs again, index of its first occurrence), or None: the one
    "a rater labels this item twice" rule of every loader with per-rater labels."""
    seen: dict[str, int] = {}
    for k, name in enumerate(names):
        if name in seen:
            return k, seen[name]
        seen[name] = k
    return None


def field_name(loc: tuple) -> str:
    """A pydantic error location as the user writes it: ``human_ratings[1].rating``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(row)"


def explain_error(err: dict, docs: str) -> str:
    """The message for one pydantic error (the cases every loader shares); ``docs`` is where the
    format is described, named in the message for an unknown field."""
    kind, got = err["type"], err.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return f"unknown field (check the spelling; see {docs})"
    if kind == "string_too_short":
        return "must not be empty"
    msg = err["msg"]
    return f"{msg} (got {got!r})" if got is not None and not isinstance(got, (dict, list)) else msg


def validate_row(model: type[M], row: Any, path: Path, line: int, explain: Explain) -> M:
    """``row`` as ``model``; anything else is an InputError with the first error's field and message."""
    if not isinstance(row, dict):
        raise InputError(path, line, None, f"expected a JSON object, got {type(row).__name__}")
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(path, line, field_name(err["loc"]), explain(err)) from None


def validated_rows(model: type[M], rows: Iterable[tuple[int, Any]], path: Path, explain: Explain) -> Iterator[tuple[int, M]]:
    """(line number, validated row) of every row; a repeated ``id`` is an InputError, and so is a
    file without rows (raised when the rows are exhausted)."""
    first_line: dict[str, int] = {}
    for lineno, row in rows:
        obj = validate_row(model, row, path, lineno, explain)
        if obj.id in first_line:
            raise InputError(path, lineno, "id", f"duplicate id {obj.id!r} (first on line {first_line[obj.id]})")
        first_line[obj.id] = lineno
        yield lineno, obj
    if not first_line:
        raise InputError(path, None, None, "no rows (the file is empty or holds only comments)")
