"""``judge-audit drift``: did the judge change between saved runs? Reads run folders (results.json,
judgments.csv, items.jsonl) and makes no model call.

For every judge in two runs A and B: the fingerprints and the fields that differ, the decomposition
of the score change into the judge's shift on anchor items and the system's change
(:func:`audit.stats.drift.decompose`), each run's inflation and agreement with people and their
change, and the items whose verdict direction flipped. Over three or more runs: each run's judge
shift against the first, on an EWMA control chart (:func:`audit.stats.drift.ewma_chart`).
Writes ``drift.json`` (the contract: docs/DRIFT.md); the CLI draws ``drift.html``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audit.audits.card import FINGERPRINT_FIELDS
from audit.audits.saved import RunFiles, read_run
from audit.errors import ConfigError
from audit.stats import drift as D
from audit.stats.tables import judge_item_ratings

DEFAULT_DRIFT_OUT = "judge-audit-drift"


@dataclass
class DriftOptions:
    runs: list[Path]
    judges: list[str] = field(default_factory=list)  # default: every judge in the runs
    out: Path = Path(DEFAULT_DRIFT_OUT)
    seed: int = 0


@dataclass
class DriftOutcome:
    results: dict
    paths: dict[str, Path]


def item_key(item) -> tuple:
    """What must be identical for an item to be an anchor: the request, the attributes, both answers."""
    return (item.prompt, tuple(item.attributes), item.generic, item.personalized)


def fingerprint(run: RunFiles, judge: str) -> dict | None:
    """The judge's fingerprint recorded by the run (None for runs made before fingerprints existed)."""
    entry = (run.results.get("judges") or {}).get(judge) or {}
    return entry.get("fingerprint") or ((run.results.get("audit_card") or {}).get("fingerprints") or {}).get(judge)


def fingerprint_diff(a: dict | None, b: dict | None) -> list[str] | None:
    """The fingerprint fields whose values differ (None when either run has no fingerprint)."""
    if a is None or b is None:
        return None
    keys = [k for k in FINGERPRINT_FIELDS if k in a or k in b] + sorted((set(a) | set(b)) - set(FINGERPRINT_FIELDS))
    return [k for k in keys if a.get(k) != b.get(k)]


def _humans(run: RunFiles) -> dict[str, float]:
    return {it.id: float(np.mean([r.rating for r in it.human_ratings])) for it in run.dataset.items if it.human_ratings}


def compare(a: RunFiles, b: RunFiles, judge: str, *, seed: int = 0) -> dict:
    """Everything ``drift.json`` says about one judge between runs A and B."""
    ra, rb = judge_item_ratings(a.judgments), judge_item_ratings(b.judgments)
    col_a = ra[judge].dropna() if judge in ra else None
    col_b = rb[judge].dropna() if judge in rb else None
    items_a = {it.id: it for it in a.dataset.items}
    items_b = {it.id: it for it in b.dataset.items}
    common = [i for i in items_b if i in items_a and col_a is not None and col_b is not None
              and i in col_a.index and i in col_b.index]
    before = np.array([col_a[i] for i in common], float)
    after = np.array([col_b[i] for i in common], float)
    anchor = np.array([item_key(items_a[i]) == item_key(items_b[i]) for i in common], bool)
    clusters = [items_b[i].user_id or i for i in common]
    out: dict = D.decompose(after - before, anchor, clusters, seed=seed)
    fa, fb = fingerprint(a, judge), fingerprint(b, judge)
    diff = fingerprint_diff(fa, fb)
    out["fingerprint_diff"] = diff
    out["fingerprints"] = {"a": fa, "b": fb}
    out["comparable"] = diff == [] if diff is not None else None
    if diff is None:
        missing = " and ".join(x for x, f in (("A", fa), ("B", fb)) if f is None)
        out["fingerprint_note"] = (f"run {missing} recorded no fingerprint for {judge!r} (made before judge-audit recorded "
                                   "them): whether the judge itself changed cannot be told from its provenance")
    out["n_common_items"] = len(common)
    out["n_items_a"], out["n_items_b"] = int(len(col_a) if col_a is not None else 0), int(len(col_b) if col_b is not None else 0)
    ha, hb = _humans(a), _humans(b)
    both = [k for k, i in enumerate(common) if i in ha and i in hb]
    ja, jb = (a.results.get("judges") or {}).get(judge, {}), (b.results.get("judges") or {}).get(judge, {})
    inf_change = D.paired_change([after[k] - hb[common[k]] for k in both], [before[k] - ha[common[k]] for k in both],
                                 [clusters[k] for k in both], seed=seed,
                                 what="change of inflation: mean over items people rated in both runs of "
                                      "(J_B - H_B) - (J_A - H_A)").to_dict()
    infl = [(ja.get("inflation") or {}).get("estimate"), (jb.get("inflation") or {}).get("estimate")]
    sp = [(ja.get("spearman") or {}).get("estimate"), (jb.get("spearman") or {}).get("estimate")]
    out["people"] = {
        "inflation_a": ja.get("inflation"), "inflation_b": jb.get("inflation"), "inflation_change": inf_change,
        "spearman_a": sp[0], "spearman_b": sp[1],
        "spearman_change": None if None in sp else sp[1] - sp[0],
        "closer_to_people": None if None in infl else abs(infl[1]) < abs(infl[0]),
    }
    out["flips"] = D.flips(common, before, after, anchor)
    return out


def _judges(runs: list[RunFiles], wanted: list[str]) -> list[str]:
    present = [set(r.results.get("judges") or {}) for r in runs]
    shared = [j for j in (runs[-1].results.get("judges") or {}) if all(j in p for p in present)]
    if wanted:
        missing = [j for j in wanted if j not in shared]
        if missing:
            raise ConfigError(f"judge {missing[0]!r} is not in every run (judges in all of them: "
                              f"{', '.join(shared) or 'none'})")
        return wanted
    if not shared:
        raise ConfigError("no judge appears in every run: nothing to compare")
    return shared


def run_info(folder: Path, run: RunFiles) -> dict:
    card = run.results.get("audit_card") or {}
    return {"path": str(folder), "date": card.get("date"), "dataset_sha256": (card.get("dataset") or {}).get("sha256"),
            "signature": card.get("signature"), "n_items": len(run.dataset.items)}


def run_drift(opts: DriftOptions) -> DriftOutcome:
    """Compare the runs (first vs last for ``judges``; every run vs the first for ``series``) and
    write drift.json."""
    from audit import __version__
    from audit.data.files import clean_json, output_dir, write_json

    if len(opts.runs) < 2:
        raise ConfigError("drift needs at least two run folders (the output folders of `judge-audit run`)")
    runs = [read_run(Path(r)) for r in opts.runs]
    names = _judges(runs, opts.judges)
    results: dict = {"kind": "drift", "tool_version": __version__,
                     "runs": [run_info(Path(p), r) for p, r in zip(opts.runs, runs)],
                     "settings": {"seed": opts.seed, "min_total_for_share": D.MIN_TOTAL, "ewma_lambda": D.EWMA_LAMBDA,
                                  "ewma_L": D.EWMA_L, "anchor": "request, attributes and both answers identical"},
                     "judges": {j: compare(runs[0], runs[-1], j, seed=opts.seed) for j in names}}
    if len(runs) >= 3:
        results["series"] = {}
        for j in names:
            per = [compare(runs[0], r, j, seed=opts.seed)["judge_shift"] for r in runs[1:]]
            shifts = [0.0] + [p["estimate"] for p in per]
            chart = D.ewma_chart(shifts, [None] + [p.get("se") for p in per])
            results["series"][j] = {"shifts": shifts, "n_anchors": [None] + [p["n_anchors"] for p in per],
                                    "ci": [None] + [p.get("ci") for p in per], "chart": chart,
                                    "first_outside_run": (None if chart["first_outside"] is None
                                                          else str(opts.runs[chart["first_outside"]]))}
    results = clean_json(results)
    out = output_dir(opts.out)
    paths = {"drift": out / "drift.json"}
    write_json(paths["drift"], results)
    return DriftOutcome(results, paths)
