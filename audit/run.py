"""The whole audit, stage by stage: load -> flag -> judge -> measure -> write outputs.

The CLI parses options into :class:`RunOptions` and calls :func:`run_audit`; nothing here prints
except through the ``log`` callback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .cache import ResultCache
from .config import JudgeSpec, check_credentials, load_judge_config, resolve_judge
from .errors import ConfigError
from .flag import MentionFlag, flag_items
from .judge import Judgment, imported_judgments, plan_calls, run_judges, with_temperature
from .load import Dataset, load_items
from .output import call_counts, card_header, carried_sections, command_line, judges_card, write_outputs
from .prompts import template_hash
from .results import Habit, build_results


def bundled_example() -> Path:
    from .assets import asset_dir

    return Path(str(asset_dir("fixtures").joinpath("example.jsonl")))


@dataclass
class RunOptions:
    data: Path | None = None
    judges: list[str] = field(default_factory=list)
    config: Path | None = None
    out: Path = Path("judge-audit-out")
    flagger: str = "offline"
    seed: int = 0
    samples: int = 1
    both_orders: bool = False
    measure_habits: bool = False
    cache_dir: Path | None = None
    use_cache: bool = True
    temperature: float | None = None  # overrides the called judges' temperature (part of the cache key)
    workers: int | None = None  # worker processes for provider calls (None: automatic, 0: in-process)


@dataclass
class RunOutcome:
    results: dict
    judgments: list[Judgment]
    paths: dict[str, Path]
    dataset: Dataset | None = None  # the loaded items (judge-audit check pairs judges on them)
    flags: dict[str, MentionFlag] | None = None  # item id -> explicit-mention flag


def choose_judges(dataset: Dataset, requested: list[str], specs: dict[str, JudgeSpec]) -> tuple[list[JudgeSpec], list[str]]:
    """(judges to call, judges imported from the data).

    No --judges: the judges whose ratings are already in the data; if there are none, ``local``.
    With --judges: those are called, and imported judges in the data are audited too.
    """
    imported = dataset.imported_judges
    if not requested:
        return ([], imported) if imported else ([resolve_judge("local", specs)], [])
    clash = [n for n in requested if n in imported]
    if clash:
        raise ConfigError(
            f"judge {clash[0]!r} already has imported ratings in {dataset.path}; "
            f"omit it from --judges to audit those ratings, or call it under another name via --config"
        )
    return [resolve_judge(n, specs) for n in requested], imported


def audit_card(dataset: Dataset, called: list[JudgeSpec], opts: RunOptions, judgments: list[Judgment]) -> dict:
    return {
        **card_header("judge-audit", ("litellm", "instructor", "llama-cpp-python")),
        "dataset": {"path": dataset.path, "sha256": dataset.sha256, "n_items": len(dataset.items)},
        "prompt_templates": {t: template_hash(t) for t in ("judge_preference", "flagger_mention", "generator_personalized")},
        "judges": judges_card(called),
        "seed": opts.seed, "samples": opts.samples, "both_orders": opts.both_orders, "flagger": opts.flagger,
        **call_counts(judgments),
        "command": command_line(),
    }


def measure_habits(dataset: Dataset, called: list[JudgeSpec], cache: ResultCache, seed: int) -> dict[str, Habit]:
    """Each called judge writes personalized answers for the dataset's prompts; flag them offline."""
    from .flag import flag_offline
    from .judge import run_structured
    from .prompts import render_messages

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
    dataset = load_items(opts.data or bundled_example())
    specs = load_judge_config(opts.config)
    called, imported = choose_judges(dataset, opts.judges, specs)
    called = [with_temperature(s, opts.temperature) for s in called]
    flagger_spec = resolve_judge(opts.flagger, specs) if opts.flagger != "offline" else None
    for spec in called + ([flagger_spec] if flagger_spec else []):
        check_credentials(spec)  # before any spending

    cache = ResultCache(opts.cache_dir, enabled=opts.use_cache)
    try:
        flags: dict[str, MentionFlag] = flag_items(dataset.items, flagger_spec, cache, seed=opts.seed)
        n_calls = len(plan_calls(dataset.items, samples=opts.samples, both_orders=opts.both_orders, seed=opts.seed))
        if called:
            log(f"judging {len(dataset.items)} items with {', '.join(s.name for s in called)} ({n_calls} calls per judge)")
        judgments = imported_judgments(dataset.items) + run_judges(
            list(dataset.items), called, cache, seed=opts.seed, samples=opts.samples,
            both_orders=opts.both_orders, on_result=on_result, workers=opts.workers)
        habits = measure_habits(dataset, called, cache, opts.seed) if opts.measure_habits else None
    finally:
        cache.close()

    judge_models = {s.name: s.model for s in called} | {n: n for n in imported}
    judge_sources = {s.name: "called" for s in called} | {n: "imported" for n in imported}
    card = audit_card(dataset, called, opts, judgments)
    results = build_results(dataset, flags, judgments, judge_models=judge_models, judge_sources=judge_sources,
                            measured_habits=habits, card=card, seed=opts.seed)
    # relevance / counterfactual sections merged into this folder's results.json earlier survive the new run
    carried, notes = carried_sections(Path(opts.out) / "results.json", dataset.sha256)
    for note in notes:
        log(note)
    results = {**results, **carried}
    paths = write_outputs(opts.out, results, judgments, dataset, flags)
    return RunOutcome(results, judgments, paths, dataset, flags)


def dry_run(opts: RunOptions) -> list:
    """The calls and estimated cost per judge of ``run_audit(opts)``, without calling anything."""
    from .cost import plan_judging

    dataset = load_items(opts.data or bundled_example())
    called, _ = choose_judges(dataset, opts.judges, load_judge_config(opts.config))
    called = [with_temperature(s, opts.temperature) for s in called]
    cache = ResultCache(opts.cache_dir, enabled=opts.use_cache)
    try:
        return plan_judging(list(dataset.items), called, cache, samples=opts.samples, both_orders=opts.both_orders,
                            seed=opts.seed)
    finally:
        cache.close()
