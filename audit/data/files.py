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
from pathlib import Path
from typing import Iterable, Iterator

from audit.errors import ConfigError, InputError


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


def output_dir(out: str | Path) -> Path:
    """Create the output folder; an impossible path is a one-line usage error (exit 2)."""
    from audit.errors import ConfigError

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output folder {out}: {exc.strerror}") from None
    return out


# --- audit card pieces: what every command records about how its numbers were made ---


# --- items.jsonl: what `judge-audit report --from DIR` needs besides results.json and judgments.csv ---
#
# The items (prompt, attributes, both answers, human ratings) and each item's explicit-mention flag
# with its spans. Saved with the run, so re-rendering needs neither the original data file (which may
# have moved, changed, or never left the machine that ran the audit) nor the flagger: an LLM
# flagger's spans could not be recomputed without calling it again.
# Line 1: "# " + JSON header {"judge_audit_items": 1, "dataset": {"path", "sha256"}, "n_items"};
# then one {"item": {...input fields...}, "mention_flag": {"flagged", "spans", "source"}} per line.


