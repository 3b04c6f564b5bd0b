"""Write a run's outputs: results.json (every number), judgments.csv (one row per judge call),
items.jsonl (the items and their mention flags), report.html.

``judge-audit report --from DIR`` re-renders from these files without any model call.

Also the writing every command shares (``relevance``, ``counterfactual``, ``study``, ``check``):
atomic writes (:func:`atomic_write`, :func:`replacing`), :func:`write_json` / :func:`clean_json`,
:func:`write_csv`, :func:`merged_results` (a section merged into an existing results.json),
:func:`carried_sections` (the sections a new run keeps),
:func:`load_json`, and the audit-card pieces (:func:`package_version`, :func:`utc_timestamp`,
:func:`command_line`, :func:`judges_card`, :func:`call_counts`, :func:`card_header`).
"""

from __future__ import annotations

import csv
import json
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, Iterator

from .errors import ConfigError, InputError
from .flag import MentionFlag
from .judge import Judgment
from .load import Dataset

JUDGMENT_COLUMNS = [f.name for f in fields(Judgment)]


def clean_json(obj):
    """``obj`` as plain JSON values: NaN/inf become null (JSON has none), numpy scalars Python
    numbers, tuples lists, keys strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return clean_json(obj.item())
    return obj


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``; when the block ends without an error it replaces ``path``
    (one rename: readers never see a half-written file)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    yield tmp
    os.replace(tmp, path)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename (no half-written file)."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, doc) -> None:
    """``doc`` as indented JSON (cleaned by :func:`clean_json`), written atomically."""
    atomic_write(path, json.dumps(clean_json(doc), indent=2, allow_nan=False) + "\n")


def write_csv(path: Path, columns: list[str], rows: Iterable[dict]) -> None:
    """A CSV file with a header row of ``columns`` and one line per dict, written atomically."""
    with replacing(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)


def merged_results(path: Path, key: str, section: dict) -> dict:
    """The results.json to write: an existing one (e.g. from ``judge-audit run``) with its section
    ``key`` replaced, so ``judge-audit check`` and ``report`` see every stage; a file there that is
    not a results.json is a ConfigError (nothing is overwritten)."""
    doc: dict = {}
    if path.exists():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: exists but is not a judge-audit results.json ({exc}); choose another --out") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"{path}: exists but is not a judge-audit results.json; choose another --out")
    doc[key] = section
    return doc


def carried_sections(path: Path, dataset_sha256: str) -> tuple[dict, list[str]]:
    """The sections that other commands merged into the results.json at ``path`` which a new
    ``judge-audit run`` into the same folder keeps, and a note for each one it drops.

    ``relevance`` (its own dataset, named in its own audit card) is always kept; ``counterfactual``
    only when it was made from this run's dataset (same SHA-256), else it is dropped with a note.
    A missing or unreadable file carries nothing (the run writes a fresh one)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, []
    if not isinstance(doc, dict):
        return {}, []
    kept: dict = {}
    notes: list[str] = []
    if isinstance(doc.get("relevance"), dict):
        kept["relevance"] = doc["relevance"]
    cf = doc.get("counterfactual")
    if isinstance(cf, dict):
        made_from = ((cf.get("audit_card") or {}).get("dataset") or {}).get("sha256")
        if made_from == dataset_sha256:
            kept["counterfactual"] = cf
        else:
            notes.append(f"{path}: dropped its counterfactual section, made from another dataset "
                         f"(sha256 {str(made_from)[:12]}…); run `judge-audit counterfactual` again for this one")
    return kept, notes


def load_json(path: Path):
    """The JSON in ``path``; InputError (file, line) when it is not JSON or cannot be read."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(path, exc.lineno, None, f"invalid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, None, None, f"cannot read: {exc}") from None


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
                cost_usd=num("cost_usd"), error=row["error"] or None))
    return out


def output_dir(out: str | Path) -> Path:
    """Create the output folder; an impossible path is a one-line usage error (exit 2)."""
    from .errors import ConfigError

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output folder {out}: {exc.strerror}") from None
    return out


def write_outputs(out: Path, results: dict, judgments: list[Judgment], dataset: Dataset,
                  flags: dict[str, MentionFlag]) -> dict[str, Path]:
    from .report import render_html

    out = output_dir(out)
    paths = {"results": out / "results.json", "judgments": out / "judgments.csv", "items": out / ITEMS_FILE,
             "report": out / "report.html"}
    write_json(paths["results"], results)
    write_judgments_csv(paths["judgments"], judgments)
    write_items_jsonl(paths["items"], dataset, flags)
    atomic_write(paths["report"], render_html(results, judgments, dataset, flags))
    return paths


# --- audit card pieces: what every command records about how its numbers were made ---


def package_version(pkg: str) -> str | None:
    """The installed version of ``pkg`` (None when it is not installed)."""
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def card_header(tool: str, packages: tuple[str, ...] = ()) -> dict:
    """The first fields of every audit card: the tool and its version, ``<package>_version`` of each
    of ``packages`` (None when not installed), the Python version and the date (UTC)."""
    import platform

    from . import __version__

    return {"tool": tool, "tool_version": __version__,
            **{f"{p.replace('-', '_')}_version": package_version(p) for p in packages},
            "python": platform.python_version(), "date": utc_timestamp()}


def utc_timestamp() -> str:
    """Now, in UTC, ISO 8601 to the second."""
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def command_line() -> str | None:
    """The command as typed (``judge-audit ...``), None when there is no argv."""
    import sys

    return " ".join(["judge-audit", *sys.argv[1:]]) if sys.argv else None


def judges_card(specs) -> dict:
    """Name -> what was called (model, api_base, mode, params) for every called judge spec."""
    return {s.name: {"model": s.model, "api_base": s.api_base, "mode": s.mode, "params": s.params} for s in specs}


def call_counts(judgments) -> dict:
    """Calls made (imported rows are not calls), cache hits, failures and the cost of this run's uncached calls."""
    calls = [j for j in judgments if j.status != "imported"]
    costs = [j.cost_usd for j in calls if not j.cached and j.cost_usd is not None]
    return {"calls": len(calls), "cache_hits": sum(1 for j in calls if j.cached),
            "failures": sum(1 for j in calls if j.status == "failed"),
            "cost_usd_this_run": sum(costs) if costs else None}


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
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, None, "not found: give the output folder of a finished `judge-audit run`")
    results = load_json(path)
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
