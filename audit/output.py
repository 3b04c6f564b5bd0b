"""Write a run's outputs: results.json (every number), judgments.csv (one row per judge call), report.html.

``judge-audit report --from DIR`` re-renders from these files without any model call.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import fields
from pathlib import Path

from .flag import MentionFlag
from .judge import Judgment
from .load import Dataset

JUDGMENT_COLUMNS = [f.name for f in fields(Judgment)]


def _clean(obj):
    """JSON has no NaN/inf: write null instead."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _clean(obj.item())
    return obj


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_judgments_csv(path: Path, judgments: list[Judgment]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=JUDGMENT_COLUMNS)
        writer.writeheader()
        for j in judgments:
            writer.writerow(j.to_row())
    os.replace(tmp, path)


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
                cost_usd=num("cost_usd"), error=row["error"] or None))
    return out


def write_outputs(out: Path, results: dict, judgments: list[Judgment], dataset: Dataset,
                  flags: dict[str, MentionFlag]) -> dict[str, Path]:
    from .report import render_html

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": out / "results.json", "judgments": out / "judgments.csv", "report": out / "report.html"}
    _atomic_write(paths["results"], json.dumps(_clean(results), indent=2, allow_nan=False) + "\n")
    write_judgments_csv(paths["judgments"], judgments)
    _atomic_write(paths["report"], render_html(results, judgments, dataset, flags))
    return paths
