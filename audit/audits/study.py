"""``judge-audit study``: audit the ratings of an existing judge study, and of judges called on it.

load (native JSONL/CSV, or a public layout via :mod:`audit.data.layouts`) -> select judges and
items (``--limit``) -> call the named judges that are not in the study on its items (pairwise form:
:mod:`audit.audits.study_calls`) -> measure (:mod:`audit.stats.study`) -> write ``results.json`` and a
flat CSV (``ratings.csv`` for the absolute form, ``verdicts.csv`` for the pairwise form).
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
    config: Path | None = None  # judge config for the judges to call
    both_orders: bool = False  # called judges: judge every item in both presentation orders
    limit: int | None = None  # only the first N items
    cache_dir: Path | None = None
    use_cache: bool = True
    average_over: str | None = None  # absolute form: "cluster" or "system" (statistics within groups, averaged)
    confidence_threshold: float = 0.8  # pairwise form: calibration's high/low split of the judges' confidence


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


def load_study(opts: StudyOptions, *, calls: bool = False) -> AbsoluteStudy | PairwiseStudy:
    """The study, its first ``opts.limit`` items when limited. ``calls``: judges will be called, so a
    pairwise study without verdicts of its own is fine."""
    form = resolve_form(opts.form, opts.layout)
    if opts.layout == "hanna":
        study = load_hanna(opts.data, opts.scale)
    elif opts.layout == "llmbar":
        study = load_llmbar(opts.data)
    else:
        study = (load_absolute(opts.data, opts.scale) if form == "absolute"
                 else load_pairwise(opts.data, allow_no_verdicts=calls))
    return limited(study, opts.limit)


def limited(study: AbsoluteStudy | PairwiseStudy, limit: int | None) -> AbsoluteStudy | PairwiseStudy:
    """The first ``limit`` items of the study (in file order), with their ratings or verdicts."""
    if limit is None:
        return study
    if isinstance(study, AbsoluteStudy):
        keep = list(dict.fromkeys(study.ratings["item_id"]))[:limit]
        return AbsoluteStudy(study.path, study.sha256, study.scale,
                             study.ratings[study.ratings["item_id"].isin(keep)].reset_index(drop=True))
    keep = list(study.items["item_id"])[:limit]
    return PairwiseStudy(study.path, study.sha256, study.items[study.items["item_id"].isin(keep)].reset_index(drop=True),
                         study.verdicts[study.verdicts["item_id"].isin(keep)].reset_index(drop=True),
                         {k: v for k, v in study.texts.items() if k in set(keep)},
                         study.annotations[study.annotations["item_id"].isin(keep)].reset_index(drop=True))


def split_judges(study: AbsoluteStudy | PairwiseStudy, judges: list[str]) -> tuple[list[str], list[str]]:
    """(judges of the study, judges to call): a named judge that is not in the study is called on
    its items (pairwise form, with the prompt and both responses in the data)."""
    to_call = [j for j in judges if j not in study.judges]
    if to_call and isinstance(study, AbsoluteStudy):
        raise ConfigError(f"judge {to_call[0]!r} is not in {study.path}; calling judges is supported on pairwise "
                          f"studies (judges in the study: {', '.join(study.judges[:12])})")
    if to_call and not study.callable_items():
        raise ConfigError(f"judge {to_call[0]!r} is not in {study.path}, and its items lack the prompt and both "
                          "responses a judge would need to be called")
    return [j for j in judges if j in study.judges], to_call


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


def measure_study(study: AbsoluteStudy | PairwiseStudy, judges: list[str], seed: int,
                  average_over: str | None = None, confidence_threshold: float = 0.8) -> dict:
    from audit.stats.study import absolute_results, pairwise_results

    if isinstance(study, AbsoluteStudy):
        return absolute_results(study.ratings, study.scale, seed=seed, judges=judges, average_over=average_over)
    if average_over:
        raise ConfigError("--average-over applies to absolute studies (--form absolute)")
    return pairwise_results(study.items, study.verdicts, seed=seed, judges=judges, annotations=study.annotations,
                            confidence_threshold=confidence_threshold)


def verdict_table(study: PairwiseStudy, judges: list[str]) -> pd.DataFrame:
    """verdicts.csv: one row per verdict with the label, whether it is correct and which slot won."""
    from audit.stats.study import judge_verdicts

    frames = [judge_verdicts(study.items, study.verdicts, j) for j in judges]
    df = pd.concat(frames, ignore_index=True)
    return pd.DataFrame({"item_id": df["item_id"], "cluster": df["cluster"], "judge": df["judge"],
                         "swap": df["swap"], "winner": df["verdict"], "label": df["label_cat"],
                         "correct": df["correct"], "first_slot": df["first_slot"], "confidence": df["confidence"]})


def _called_judges(study: PairwiseStudy, names: list[str], opts: StudyOptions, log, on_result) -> tuple[PairwiseStudy, list, int]:
    """The study with the verdicts of the judges called on it, their specs, and the calls made."""
    from audit.audits.common import opened_cache, require_credentials
    from audit.audits.study_calls import call_judges, with_called
    from audit.engine.config import load_judge_config, resolve_judge

    specs = load_judge_config(opts.config)
    called = [resolve_judge(n, specs) for n in names]
    require_credentials(*called, out=opts.out)
    n_items = len(study.callable_items())
    log(f"judging {n_items} items of {study.path} with {', '.join(s.name for s in called)} "
        f"({n_items * (2 if opts.both_orders else 1)} calls per judge)")
    with opened_cache(opts.cache_dir, opts.use_cache) as cache:
        rows = call_judges(study, called, cache, both_orders=opts.both_orders, seed=opts.seed, on_result=on_result)
    return with_called(study, rows), called, len(rows)


def run_study(opts: StudyOptions, log=lambda s: None, on_result=None) -> StudyOutcome:
    """Load, select, call the named judges that are not in the study, measure and write; returns the
    results and the written paths."""
    from audit.audits.card import audit_card, judges_card
    from audit.data.files import clean_json, output_dir, replacing, write_json
    from audit.data.results import versioned

    if opts.limit is not None and opts.limit < 1:
        raise ConfigError(f"--limit must be at least 1 (got {opts.limit})")
    study = load_study(opts, calls=bool(opts.judges))
    imported, to_call = split_judges(study, opts.judges) if opts.judges else ([], [])
    study, judges = select(study, imported, opts.exclude_systems) if (imported or not to_call) else (study, [])
    called, n_calls = [], 0
    if to_call:
        study, called, n_calls = _called_judges(study, to_call, opts, log, on_result)
        judges = judges + to_call
    if isinstance(study, AbsoluteStudy) and study.ratings.empty:
        raise InputError(study.path, None, None, "no items left after --exclude-system")
    results = measure_study(study, judges, opts.seed, opts.average_over, opts.confidence_threshold)
    from audit.audits.study_calls import task_of
    from audit.engine.prompts import template_hash

    card_judges = {**{j: {"model": None, "source": "imported"} for j in judges if j not in to_call},
                   **{name: {**entry, "source": "called", "prompt": {"name": task_of(spec)[0],
                                                                     "sha256": template_hash(task_of(spec)[0])}}
                      for spec, (name, entry) in zip(called, judges_card(called).items())}}
    results["audit_card"] = audit_card(
        "judge-audit", dataset={"path": study.path, "sha256": study.sha256, "layout": opts.layout},
        templates=tuple(dict.fromkeys(task_of(s)[0] for s in called)),
        settings={"form": results["form"], "judges": judges, "excluded_systems": list(opts.exclude_systems),
                  "seed": opts.seed, "model_calls": n_calls, "limit": opts.limit, "both_orders": opts.both_orders,
                  **({"average_over": opts.average_over} if opts.average_over else {}),
                  **({"confidence_threshold": opts.confidence_threshold} if isinstance(study, PairwiseStudy) else {}),
                  **({"called_judges": card_judges} if called else {})},
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
