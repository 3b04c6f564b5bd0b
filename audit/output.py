"""Write a run's outputs: results.json (every number), judgments.csv (one row per judge call),
items.jsonl (the items and their mention flags), report.html.

``judge-audit report --from DIR`` re-renders from these files without any model call.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, fields
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
    paths = {"results": out / "results.json", "judgments": out / "judgments.csv", "items": out / ITEMS_FILE,
             "report": out / "report.html"}
    _atomic_write(paths["results"], json.dumps(_clean(results), indent=2, allow_nan=False) + "\n")
    write_judgments_csv(paths["judgments"], judgments)
    write_items_jsonl(paths["items"], dataset, flags)
    _atomic_write(paths["report"], render_html(results, judgments, dataset, flags))
    return paths


# --- items.jsonl: what `judge-audit report --from DIR` needs besides results.json and judgments.csv ---
#
# The items (prompt, attributes, both answers, human ratings) and each item's explicit-mention flag
# with its spans. Saved with the run, so re-rendering needs neither the original data file (which may
# have moved, changed, or never left the machine that ran the audit) nor the flagger: an LLM
# flagger's spans could not be recomputed without calling it again.
# Line 1: "# " + JSON header {"judge_audit_items": 1, "dataset": {"path", "sha256"}, "n_items"};
# then one {"item": {...input fields...}, "mention_flag": {"flagged", "spans", "source"}} per line.

ITEMS_FILE = "items.jsonl"
ITEMS_FORMAT = 1


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (no half-written file)."""
    _atomic_write(Path(path), text)


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
    _atomic_write(Path(path), "\n".join(lines) + "\n")


def read_items_jsonl(path: Path) -> tuple[Dataset, dict[str, MentionFlag]]:
    """The run's items and flags from items.jsonl; InputError (file, line) when it is not one."""
    from pydantic import ValidationError

    from .errors import InputError
    from .load import Item

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


def read_results(path: Path) -> dict:
    """A `judge-audit run` results.json; InputError (exit 2) when missing or of another kind."""
    from .errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, None, "not found: give the output folder of a finished `judge-audit run`")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(path, exc.lineno, None, f"invalid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, None, None, f"cannot read: {exc}") from None
    if not isinstance(results, dict) or not isinstance(results.get("judges"), dict) or "humans" not in results:
        raise InputError(path, None, "judges", "not the results.json of a `judge-audit run` (no judges/humans)")
    return results


@dataclass
class RunFiles:
    results: dict
    judgments: list[Judgment]
    dataset: Dataset
    flags: dict[str, MentionFlag]


def read_run(folder: Path) -> RunFiles:
    """Everything `judge-audit report --from` needs, from a finished run's folder; no model call.

    Items and flags come from items.jsonl. A folder without it (written by an older version) falls
    back to the dataset named in the audit card, which must be unchanged (same sha256), and to the
    offline flagger (only when the run used it).
    """
    from .errors import InputError

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, None, None, "not a folder: give the output folder of a finished `judge-audit run`")
    results = read_results(folder / "results.json")
    csv_path = folder / "judgments.csv"
    if not csv_path.is_file():
        raise InputError(csv_path, None, None, "not found: the run's judgments.csv must be beside its results.json")
    try:
        judgments = read_judgments_csv(csv_path)
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(csv_path, None, None, f"not a judge-audit judgments.csv ({type(exc).__name__}: {exc})") from None
    card = results.get("audit_card") or {}
    want = (card.get("dataset") or {}).get("sha256")
    items_path = folder / ITEMS_FILE
    if items_path.is_file():
        dataset, flags = read_items_jsonl(items_path)
        if want and dataset.sha256 and dataset.sha256 != want:
            raise InputError(items_path, 1, "dataset.sha256",
                             f"belongs to another run (dataset sha256 {dataset.sha256[:12]}…, results.json says {want[:12]}…)")
    else:
        dataset, flags = _dataset_from_card(folder, card)
    ids = {it.id for it in dataset.items}
    if len(dataset.items) != results.get("n_items", len(dataset.items)):
        raise InputError(items_path if items_path.is_file() else folder, None, None,
                         f"has {len(dataset.items)} items but results.json counts {results.get('n_items')}")
    stray = next((j.item_id for j in judgments if j.item_id not in ids), None)
    if stray is not None:
        raise InputError(csv_path, None, "item_id", f"item {stray!r} is not among the run's items")
    return RunFiles(results, judgments, dataset, flags)


def _dataset_from_card(folder: Path, card: dict) -> tuple[Dataset, dict[str, MentionFlag]]:
    from .errors import InputError
    from .flag import flag_items
    from .load import load_items

    ds = card.get("dataset") or {}
    path, sha = ds.get("path"), ds.get("sha256")
    where = folder / ITEMS_FILE
    if not path:
        raise InputError(where, None, None, "not found, and results.json names no dataset to read the items from")
    data = Path(path)
    if not data.is_file():
        raise InputError(where, None, None, f"not found, and the run's dataset {path} has moved or is gone: "
                                            "re-run `judge-audit run` (cached judgments cost nothing)")
    dataset = load_items(data)
    if sha and dataset.sha256 != sha:
        raise InputError(data, None, None, f"changed since the run (sha256 {dataset.sha256[:12]}…, the run read "
                                           f"{sha[:12]}…): re-run `judge-audit run` to audit the new data")
    if card.get("flagger", "offline") != "offline":
        raise InputError(where, None, None, f"not found, and the run's mention flags came from the LLM flagger "
                                            f"{card['flagger']!r}: re-run `judge-audit run` (cached calls cost nothing)")
    return dataset, flag_items(dataset.items)
