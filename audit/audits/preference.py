"""The whole audit, stage by stage: load -> flag -> judge -> measure -> write outputs.

The CLI parses options into :class:`RunOptions` and calls :func:`run_audit`; nothing here prints
except through the ``log`` callback.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from audit.audits.common import (CallOptions, bundled, choose_judges, opened_cache, provenance, require_credentials,
                                 with_prompts, with_temperatures)
from audit.audits.juries import jury_entry, jury_judgments, split_juries
from audit.engine.config import family_of, load_families, load_judge_config, load_juries, resolve_judge
from audit.engine.cache import ResultCache
from audit.engine.config import JudgeSpec
from audit.data.items import MentionFlag
from audit.audits.flagging import flag_items
from audit.data.judgments import Judgment, imported_judgments
from audit.audits.judging import plan_calls, run_judges
from audit.data.items import Dataset, first_items, load_items
from audit.audits.card import audit_card as card_of, judge_fingerprints
from audit.stats.bootstrap import DEFAULT_REPS
from audit.data.files import carried_sections, clean_json, output_dir, write_json
from audit.data.results import versioned
from audit.data.items import ITEMS_FILE, write_items_jsonl
from audit.data.judgments import write_judgments_csv
from audit.audits.results import Habit, build_results


def bundled_example() -> Path:
    return bundled("example.jsonl")


@dataclass
class RunOptions(CallOptions):
    flagger: str = "offline"
    measure_habits: bool = False
    limit: int | None = None  # only the first N items of the data
    confidence_threshold: float = 0.8  # judges.J.calibration: high = confidence >= this


@dataclass
class RunOutcome:
    results: dict
    judgments: list[Judgment]
    paths: dict[str, Path]
    dataset: Dataset | None = None  # the loaded items (judge-audit check pairs judges on them)
    flags: dict[str, MentionFlag] | None = None  # item id -> explicit-mention flag


def audit_card(dataset: Dataset, called: list[JudgeSpec], opts: RunOptions, judgments: list[Judgment]) -> dict:
    return card_of(
        "judge-audit", packages=("litellm", "instructor", "llama-cpp-python", "xllamacpp"),
        dataset={"path": dataset.path, "sha256": dataset.sha256, "n_items": len(dataset.items)},
        templates=("judge_preference", "flagger_mention", "generator_personalized"), called=called, judgments=judgments,
        settings={"seed": opts.seed, "samples": opts.samples, "both_orders": opts.both_orders, "flagger": opts.flagger,
                  **({"limit": opts.limit} if opts.limit is not None else {})},
        n_resamples=DEFAULT_REPS)


def measure_habits(dataset: Dataset, called: list[JudgeSpec], cache: ResultCache, seed: int) -> dict[str, Habit]:
    """Each called judge writes personalized answers for the dataset's prompts; flag them offline."""
    from audit.text.mention import flag_offline
    from audit.engine.judge import run_structured
    from audit.engine.prompts import render_messages

    out = {}
    msgs = [render_messages("generator_personalized", attributes=it.attributes, prompt=it.prompt) for it in dataset.items]
    for spec in called:
        results = run_structured(spec, msgs, None, cache, seed=seed)
        k = n = 0
        for item, res in zip(dataset.items, results):
            if res.value is None:
                continue
            n += 1
            k += flag_offline(res.value["text"], item.attributes).flagged
        out[spec.name] = Habit(k, n, "measured")
    return out


def run_audit(opts: RunOptions, log: Callable[[str], None] = lambda s: None, on_result=None) -> RunOutcome:
    dataset = first_items(load_items(opts.data or bundled_example()), opts.limit)
    specs = load_judge_config(opts.config)
    requested, juries = split_juries(opts.judges, load_juries(opts.config, specs))
    called, imported = choose_judges(dataset, requested, specs)
    prompted = with_prompts(with_temperatures(called, opts.temperature), opts.prompt)
    renamed = {a.name: b.name for a, b in zip(called, prompted)}  # --prompt renames judges (and jury members)
    juries = [dataclasses.replace(j, members=tuple(renamed.get(m, m) for m in j.members)) for j in juries]
    called = prompted
    flagger_spec = resolve_judge(opts.flagger, specs) if opts.flagger != "offline" else None
    require_credentials(*called, flagger_spec, out=opts.out)

    with opened_cache(opts.cache_dir, opts.use_cache) as cache:
        flags: dict[str, MentionFlag] = flag_items(dataset.items, flagger_spec, cache, seed=opts.seed)
        n_calls = len(plan_calls(dataset.items, samples=opts.samples, both_orders=opts.both_orders, seed=opts.seed))
        if called:
            log(f"judging {len(dataset.items)} items with {', '.join(s.name for s in called)} ({n_calls} calls per judge)")
        judgments = imported_judgments(dataset.items) + run_judges(
            list(dataset.items), called, cache, seed=opts.seed, samples=opts.samples,
            both_orders=opts.both_orders, on_result=on_result, workers=opts.workers, batch=opts.batch, wait=opts.wait,
            log=log)
        habits = measure_habits(dataset, called, cache, opts.seed) if opts.measure_habits else None
    for jury in juries:  # built from the members' judgments: no call
        judgments += jury_judgments(jury, judgments)

    judge_models, judge_sources = provenance(called, imported)
    judge_models.update({j.name: j.describe() for j in juries})
    judge_sources.update({j.name: "jury" for j in juries})
    card = audit_card(dataset, called, opts, judgments)
    card["fingerprints"] = judge_fingerprints(called, judgments, imported)
    if juries:
        card["juries"] = {j.name: {"members": list(j.members), "aggregate": j.aggregate} for j in juries}
    fams = load_families(opts.config)
    judge_families = {s.name: s.family or family_of([s.name, s.model], fams) for s in called}
    judge_families.update({n: family_of([n], fams) for n in imported})
    gen_families = {it.generator: family_of([it.generator], fams) for it in dataset.items}
    results = build_results(dataset, flags, judgments, judge_models=judge_models, judge_sources=judge_sources,
                            measured_habits=habits, card=card, seed=opts.seed, families=(judge_families, gen_families),
                            confidence_threshold=opts.confidence_threshold)
    clusters = {it.id: it.user_id or it.id for it in dataset.items}
    for jury in juries:
        results["judges"][jury.name]["jury"] = jury_entry(jury, judgments, clusters, seed=opts.seed)
    for name, fp in card["fingerprints"].items():
        results["judges"][name]["fingerprint"] = fp
    # relevance / counterfactual sections merged into this folder's results.json earlier survive the new run
    carried, notes = carried_sections(Path(opts.out) / "results.json", dataset.sha256)
    for note in notes:
        log(note)
    results = versioned(clean_json({**results, **carried}))
    paths = write_run_files(opts.out, results, judgments, dataset, flags)
    return RunOutcome(results, judgments, paths, dataset, flags)


def write_run_files(out: Path, results: dict, judgments: list[Judgment], dataset: Dataset,
                    flags: dict[str, MentionFlag]) -> dict[str, Path]:
    """results.json, judgments.csv and items.jsonl (report.html is drawn from them by
    :func:`audit.render.outputs.publish`)."""
    out = output_dir(out)
    paths = {"results": out / "results.json", "judgments": out / "judgments.csv", "items": out / ITEMS_FILE}
    write_json(paths["results"], results)
    write_judgments_csv(paths["judgments"], judgments)
    write_items_jsonl(paths["items"], dataset, flags)
    return paths


def dry_run(opts: RunOptions) -> list:
    """The calls and estimated cost per judge of ``run_audit(opts)``, without calling anything."""
    from audit.audits.judging import plan_judging

    dataset = first_items(load_items(opts.data or bundled_example()), opts.limit)
    specs = load_judge_config(opts.config)
    requested, _ = split_juries(opts.judges, load_juries(opts.config, specs))
    called, _ = choose_judges(dataset, requested, specs)
    specs_called = with_prompts(with_temperatures(called, opts.temperature), opts.prompt)
    with opened_cache(opts.cache_dir, opts.use_cache) as cache:
        plans = plan_judging(list(dataset.items), specs_called, cache, samples=opts.samples, both_orders=opts.both_orders,
                             seed=opts.seed)
    from audit.engine.batch import BATCH_DISCOUNT, unsupported

    for plan, spec in zip(plans, specs_called):
        if opts.batch or spec.batch:
            why = unsupported(spec)
            plan.batch = why or "batch"
            if why is None and plan.cost_usd is not None:
                plan.batch_cost_usd = plan.cost_usd * BATCH_DISCOUNT
    return plans
