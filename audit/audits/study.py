"""``judge-audit study``: audit the ratings of an existing judge study, with no model call.

load (native JSONL/CSV, or a public layout via :mod:`audit.data.layouts`) -> select judges and
items -> measure (:mod:`audit.stats.study`) -> write ``results.json`` and a flat CSV
(``ratings.csv`` for the absolute form, ``verdicts.csv`` for the pairwise form).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from audit.errors import ConfigError, InputError
from audit.data.studies import FORMS, AbsoluteStudy, PairwiseStudy, load_absolute, load_pairwise
from audit.data.layouts import LAYOUTS, load_hanna, load_llmbar

DEFAULT_STUDY_OUT = "judge-audit-study"


@dataclass
class StudyOptions:
    data: Path
    form: str | None = None
    layout: str = "native"
    scale: tuple[float, float] = (1.0, 5.0)
    judges: list[str] = field(default_factory=list)
    exclude_systems: list[str] = field(default_factory=list)
    out: Path = Path(DEFAULT_STUDY_OUT)
    seed: int = 0


@dataclass
class StudyOutcome:
    results: dict
    paths: dict[str, Path]


def resolve_form(form: str | None, layout: str) -> str:
    """The study form: given, or implied by the layout; a contradiction is a ConfigError."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    implied = LAYOUTS[layout]
    if form is None:
        if implied is None:
            raise ConfigError("--form is required with --layout native: absolute (rated responses) or pairwise (two responses)")
        return implied
    if form not in FORMS:
        raise ConfigError(f"unknown form {form!r}: use absolute or pairwise")
    if implied is not None and form != implied:
        raise ConfigError(f"--layout {layout} holds a {implied} study, not {form}")
    return form


def load_study(opts: StudyOptions) -> AbsoluteStudy | PairwiseStudy:
    form = resolve_form(opts.form, opts.layout)
    if opts.layout == "hanna":
        return load_hanna(opts.data, opts.scale)
    if opts.layout == "llmbar":
        return load_llmbar(opts.data)
    return load_absolute(opts.data, opts.scale) if form == "absolute" else load_pairwise(opts.data)


def select(study: AbsoluteStudy | PairwiseStudy, judges: list[str], exclude_systems: list[str]):
    """Keep the named judges (all when none are named) and drop items of excluded systems."""
    available = study.judges
    unknown = [j for j in judges if j not in available]
    if unknown:
        shown = ", ".join(available[:12]) + (", ..." if len(available) > 12 else "")
        raise ConfigError(f"judge {unknown[0]!r} is not in {study.path} (judges: {shown})")
    chosen = judges or available
    if isinstance(study, PairwiseStudy):
        if exclude_systems:
            raise ConfigError("--exclude-system applies to absolute-form studies (items with a 'system')")
        return study, chosen
    ratings = study.ratings
    if exclude_systems:
        known = set(ratings["system"].dropna())
        missing = [s for s in exclude_systems if s not in known]
        if missing:
            raise ConfigError(f"no items of system {missing[0]!r} in {study.path} (systems: {', '.join(sorted(known))})")
        ratings = ratings[~ratings["system"].isin(exclude_systems)]
    ratings = ratings[(ratings["kind"] == "human") | ratings["rater"].isin(chosen)]
    return AbsoluteStudy(study.path, study.sha256, study.scale, ratings.reset_index(drop=True)), chosen


def measure_study(study: AbsoluteStudy | PairwiseStudy, judges: list[str], seed: int) -> dict:
    from audit.stats.study import absolute_results, pairwise_results

    if isinstance(study, AbsoluteStudy):
        return absolute_results(study.ratings, study.scale, seed=seed, judges=judges)
    return pairwise_results(study.items, study.verdicts, seed=seed, judges=judges)


def verdict_table(study: PairwiseStudy, judges: list[str]) -> pd.DataFrame:
    """verdicts.csv: one row per verdict with the label, whether it is correct and which slot won."""
    from audit.stats.study import judge_verdicts

    frames = [judge_verdicts(study.items, study.verdicts, j) for j in judges]
    df = pd.concat(frames, ignore_index=True)
    return pd.DataFrame({"item_id": df["item_id"], "cluster": df["cluster"], "judge": df["judge"],
                         "swap": df["swap"], "winner": df["verdict"], "label": df["label_cat"],
                         "correct": df["correct"], "first_slot": df["first_slot"]})


def run_study(opts: StudyOptions) -> StudyOutcome:
    """Load, select, measure and write; returns the results and the written paths."""
    from audit.audits.card import audit_card
    from audit.data.files import clean_json, output_dir, replacing, write_json
    from audit.data.results import versioned

    study = load_study(opts)
    study, judges = select(study, opts.judges, opts.exclude_systems)
    if isinstance(study, AbsoluteStudy) and study.ratings.empty:
        raise InputError(study.path, None, None, "no items left after --exclude-system")
    results = measure_study(study, judges, opts.seed)
    results["audit_card"] = audit_card(
        "judge-audit", dataset={"path": study.path, "sha256": study.sha256, "layout": opts.layout},
        settings={"form": results["form"], "judges": judges, "excluded_systems": list(opts.exclude_systems),
                  "seed": opts.seed, "model_calls": 0},
        n_resamples=(results.get("bootstrap") or {}).get("n_reps"))
    results = versioned(clean_json(results))
    out = output_dir(opts.out)
    paths = {"results": out / "results.json"}
    write_json(paths["results"], results)
    if isinstance(study, AbsoluteStudy):
        kind, table = "ratings", study.ratings
    else:
        kind, table = "verdicts", verdict_table(study, judges)
    paths[kind] = out / f"{kind}.csv"
    with replacing(paths[kind]) as tmp:
        table.to_csv(tmp, index=False)
    return StudyOutcome(results, paths)
