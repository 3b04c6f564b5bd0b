"""Read a finished run back (results.json, judgments.csv, items.jsonl) so reports and gates run
again without any model call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audit.audits.flagging import flag_items
from audit.data.files import load_json
from audit.data.items import ITEMS_FILE, Dataset, MentionFlag, load_items, read_items_jsonl
from audit.data.judgments import Judgment, read_judgments_csv
from audit.errors import InputError


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
