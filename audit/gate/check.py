"""``judge-audit check``: run the audit (through :func:`audit.audits.preference.run_audit`, so on the cache),
pair the new judge with its baseline on the same items, run the relevance audit and the
counterfactual test when the policy gates them, and apply the policy (:mod:`audit.gate.policy`).

The baseline is a judge name (judged in the same run, on the same items) or a saved audit:
``DIR``, ``DIR/results.json`` or ``DIR/results.json#JUDGE``; a saved audit needs its
``judgments.csv`` beside ``results.json`` for the per-item pairing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from audit.data.judgments import Judgment
from audit.errors import ConfigError, InputError
from audit.gate.baseline import compare_with_baseline, item_table
from audit.gate.checks import (Check, GateReport, counterfactual_checks, evaluate, relevance_checks,
                               unmeasured_checks)
from audit.gate.policy import (AUDIT_KEYS, COUNTERFACTUAL_KEYS, COUNTERFACTUAL_KINDS, DRIFT_KEYS, EXTRACTION_KEYS,
                               RELEVANCE_KEYS, Policy)
from audit.stats.tables import items_frame


@dataclass
class CheckOptions:
    judge: str
    policy: Policy
    data: Path | None = None
    baseline: str | None = None
    config: Path | None = None
    out: Path = Path("judge-audit-out")
    flagger: str = "offline"
    seed: int = 0
    cache_dir: Path | None = None
    relevance_data: Path | None = None  # relevance pairs for max_over_selection_ratio / min_relevance_f1
    drift_from: Path | None = None  # a saved run of the judge: max_judge_shift / require_same_fingerprint against it
    extraction_data: Path | None = None  # extracted attributes with human labels for the stage-1 thresholds


@dataclass
class SavedBaseline:
    name: str
    results_path: Path
    results: dict
    judgments: list[Judgment] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.name} (saved {self.results_path})"


@dataclass
class CheckOutcome:
    report: GateReport
    results: dict  # the audit's results.json dict ({} when only relevance / counterfactual thresholds ran)
    paths: dict[str, Path]  # the audit's outputs; counterfactual_* and relevance_* for those stages
    stages: list = field(default_factory=list)  # the outcomes of the audits run (their pages are drawn by render)


def parse_baseline(text: str) -> tuple[str, Path | None, str | None]:
    """("judge", None, name) or ("saved", results.json path, judge name or None)."""
    if "#" in text:
        path_part, _, name = text.rpartition("#")
        if Path(path_part).exists():
            p = Path(path_part)
            return "saved", (p / "results.json" if p.is_dir() else p), (name or None)
    p = Path(text)
    if p.exists():
        return "saved", (p / "results.json" if p.is_dir() else p), None
    if text.split("#")[0].endswith(".json"):
        raise ConfigError(f"--baseline {text}: file not found (give a judge name, or a saved results.json / audit folder)")
    return "judge", None, text


def load_saved_baseline(path: Path, name: str | None) -> SavedBaseline:
    """A saved audit's results.json and the baseline judge's rows of the judgments.csv beside it."""
    from audit.data.files import load_json
    from audit.data.judgments import read_judgments_csv

    if not path.is_file():
        raise InputError(path, None, None, "baseline results.json not found")
    results = load_json(path)
    judges = results.get("judges") if isinstance(results, dict) else None
    if not isinstance(judges, dict) or not judges:
        raise InputError(path, None, "judges", "not a judge-audit results.json (no judges)")
    if name is None:
        if len(judges) != 1:
            raise ConfigError(f"--baseline {path}: it audits {len(judges)} judges ({', '.join(judges)}); "
                              f"name one as {path}#JUDGE")
        name = next(iter(judges))
    elif name not in judges:
        raise ConfigError(f"--baseline {path}#{name}: no judge {name!r} in it (judges: {', '.join(judges)})")
    csv_path = path.with_name("judgments.csv")
    if not csv_path.is_file():
        raise InputError(csv_path, None, None, "a saved baseline needs the judgments.csv written beside its results.json "
                                               "(judge-audit run / check write both) to pair the judges item by item")
    try:
        rows = [j for j in read_judgments_csv(csv_path) if j.judge == name]
    except (KeyError, ValueError) as exc:
        raise InputError(csv_path, None, None, f"not a judge-audit judgments.csv ({type(exc).__name__}: {exc})") from None
    return SavedBaseline(name, path, results, rows)


def _sourced(checks: list[Check], policy: Policy) -> list[Check]:
    """The checks with ``source`` = where their limit came from (policy file or option), as for every other check."""
    return [replace(c, source=policy.sources.get(c.name.split(":")[0], c.source)) for c in checks]


def _relevance_judge_callable(opts: CheckOptions, path: Path) -> None:
    """Raise ConfigError (before any call) when the judge has no labels in the relevance data and cannot be called."""
    from audit.engine.config import load_judge_config, resolve_judge

    try:
        resolve_judge(opts.judge, load_judge_config(opts.config))
    except ConfigError as exc:
        raise ConfigError(f"{path}: judge {opts.judge!r} has no judge_labels in it and cannot be called to label the "
                          f"pairs ({exc})") from None


def _relevance_stage(opts: CheckOptions, policy: Policy, rel_dataset, log, on_result, notes: list[str]):
    """The relevance checks, and the relevance audit they ran on (None when not measured)."""
    if rel_dataset is None:
        checks = []
        for key in (k for k in RELEVANCE_KEYS if getattr(policy, k) is not None):
            checks += unmeasured_checks(key, policy, "not measured: give --relevance-data FILE (attribute/prompt "
                                                     "pairs with human relevance labels)")
        return checks, None
    from audit.audits.relevance import RelevanceOptions, run_relevance

    called = [] if opts.judge in rel_dataset.imported_judges else [opts.judge]
    rel = run_relevance(RelevanceOptions(data=opts.relevance_data, judges=called, config=opts.config,
                                         out=opts.out, seed=opts.seed, baselines=(), cache_dir=opts.cache_dir),
                        log=log, on_result=on_result)
    section = rel.results["relevance"]
    entry = section["judges"][opts.judge]
    notes.append(f"relevance checks on {rel_dataset.path}: {entry['n_pairs_labelled']} of {section['n_pairs']} "
                 f"pairs labelled by {opts.judge} ({entry['source']}), {section['n_users']} users")
    notes += [f"{opts.judge} (relevance): {w}" for w in entry.get("warnings") or []]
    return _sourced(relevance_checks(section, policy, judges=[opts.judge]), policy), rel


def _counterfactual_stage(opts: CheckOptions, policy: Policy, dataset, imported: set[str], both_orders: bool, log,
                          on_result, notes: list[str]):
    """The counterfactual checks, and the counterfactual test they ran on (None when not measured)."""
    names = tuple(f"max_counterfactual_effect:{k}" for k in COUNTERFACTUAL_KINDS)
    if opts.judge in imported:
        return unmeasured_checks(
            "max_counterfactual_effect", policy,
            f"not measured: judge {opts.judge!r} is imported from the data; the counterfactual test re-judges "
            "edited answers, so it needs a judge that can be called", names), None
    from audit.audits.counterfactual import CounterfactualOptions, run_counterfactual

    cf = run_counterfactual(CounterfactualOptions(data=opts.data, judges=[opts.judge], config=opts.config,
                                                  out=opts.out, seed=opts.seed, both_orders=both_orders,
                                                  cache_dir=opts.cache_dir),
                            log=log, on_result=on_result)
    section = cf.results["counterfactual"]
    entry = section["judges"][opts.judge]
    notes.append(f"counterfactual test on {dataset.path}: {entry['n_pairs'].get('ablation', 0)} ablation and "
                 f"{entry['n_pairs'].get('injection', 0)} injection pairs rated by {opts.judge} "
                 f"(variants in {cf.paths['variants']})")
    notes += [f"{opts.judge} (counterfactual): {w}" for w in entry.get("warnings") or []]
    return _sourced(counterfactual_checks(section, policy, judges=[opts.judge]), policy), cf


def _baseline_stage(opts: CheckOptions, policy: Policy, outcome, items: pd.DataFrame, saved: SavedBaseline | None,
                    base_name: str | None, notes: list[str]) -> tuple[list[Check], str]:
    """The paired comparison with the baseline judge (judged in the same run, or a saved audit)."""
    if saved is not None:
        base_pair, label = (saved.name, saved.judgments), saved.label
        theirs = ((saved.results.get("audit_card") or {}).get("dataset") or {}).get("sha256")
        if theirs and theirs != outcome.dataset.sha256:
            notes.append(f"the baseline was audited on a different data file (sha256 {theirs[:12]}... vs "
                         f"{outcome.dataset.sha256[:12]}...); compared on the items both have")
    else:
        base_pair, label = (base_name, outcome.judgments), base_name
    frame = item_table(items, (opts.judge, outcome.judgments), base_pair)
    common = frame.dropna(subset=["new", "base", "human_mean"])
    notes.append(f"baseline comparison on {len(common)} items rated by both judges and by humans "
                 f"({common['cluster'].nunique()} users)")
    return compare_with_baseline(frame, policy, label), label


def _baseline_of(opts: CheckOptions) -> tuple[SavedBaseline | None, str | None]:
    if not opts.baseline:
        return None, None
    kind, path, name = parse_baseline(opts.baseline)
    if kind == "saved":
        return load_saved_baseline(path, name), None
    if name == opts.judge:
        raise ConfigError(f"--baseline {name!r} is the judge being checked; name the incumbent judge")
    return None, name


def _extraction_stage(opts: CheckOptions, policy: Policy, log, on_result, notes: list[str]):
    """The stage-1 checks and the extraction audit they ran on (None when no --extraction-data)."""
    from audit.gate.checks import section_checks

    if opts.extraction_data is None:
        checks = []
        for key in (k for k in EXTRACTION_KEYS if getattr(policy, k) is not None):
            checks += unmeasured_checks(key, policy, "not measured: give --extraction-data FILE (extracted attributes "
                                                     "with human accept / uncertain / reject labels)")
        return checks, None
    from audit.audits.extraction import ExtractionOptions, run_extraction
    from audit.data.extraction import load_extraction

    imported = load_extraction(opts.extraction_data).imported_judges
    ext = run_extraction(ExtractionOptions(data=opts.extraction_data, judges=[] if opts.judge in imported else [opts.judge],
                                           config=opts.config, out=Path(opts.out) / "extraction", seed=opts.seed,
                                           cache_dir=opts.cache_dir), log=log, on_result=on_result)
    if opts.judge not in ext.results["judges"]:
        raise ConfigError(f"verifier {opts.judge!r} was not audited on {opts.extraction_data}")
    entry = ext.results["judges"][opts.judge]
    notes.append(f"stage-1 checks on {opts.extraction_data}: {entry['n_with_human_label']} of {ext.results['n_items']} "
                 f"attributes labelled by {opts.judge} ({entry['source']}) and people")
    notes += [f"{opts.judge} (extraction): {w}" for w in entry.get("warnings") or []]
    return _sourced(section_checks(ext.results, "extraction", policy, judges=[opts.judge]), policy), ext


def _drift_source(opts: CheckOptions):
    """The saved run of ``--drift-from`` (read before any call); a drift key without it is a usage error."""
    from audit.audits.saved import read_run

    if opts.drift_from is None:
        raise ConfigError("max_judge_shift and require_same_fingerprint compare with a saved run: give --drift-from RUN "
                          "(the output folder of an earlier `judge-audit run` or `check` of this judge)")
    previous = read_run(opts.drift_from)
    if opts.judge not in (previous.results.get("judges") or {}):
        raise ConfigError(f"judge {opts.judge!r} is not in {opts.drift_from} (judges there: "
                          f"{', '.join(previous.results.get('judges') or {})})")
    return previous


def _drift_stage(opts: CheckOptions, policy: Policy, outcome, previous, paths: dict[str, Path]) -> list[Check]:
    """Compare the judge with its saved run (:func:`audit.audits.drift.compare`), write the comparison into
    results.json (``drift``), and check ``max_judge_shift`` and ``require_same_fingerprint``."""
    from audit.audits.drift import compare
    from audit.audits.saved import RunFiles
    from audit.data.files import load_json, write_json
    from audit.gate.checks import fingerprint_check, threshold_check

    current = RunFiles(outcome.results, outcome.judgments, outcome.dataset, outcome.flags)
    d = compare(previous, current, opts.judge, seed=opts.seed)
    section = {"from": str(opts.drift_from), "judges": {opts.judge: d}}
    outcome.results["drift"] = section
    on_disk = load_json(paths["results"])  # with the relevance / counterfactual sections merged by their stages
    write_json(paths["results"], {**on_disk, "drift": section})
    checks = []
    if policy.max_judge_shift is not None:
        checks.append(threshold_check("max_judge_shift", d["judge_shift"], policy.max_judge_shift,
                                      policy.sources.get("max_judge_shift", "")))
    if policy.require_same_fingerprint:
        checks.append(fingerprint_check(d, str(opts.drift_from), policy.sources.get("require_same_fingerprint", "")))
    return checks


def _read_inputs(opts: CheckOptions, relevance: bool, items: bool):
    """(relevance pairs, items): every input read and checked before the first call."""
    from audit.audits.common import bundled
    from audit.data.items import load_items

    rel_dataset = None
    if relevance and opts.relevance_data is not None:
        from audit.data.relevance import load_pairs

        rel_dataset = load_pairs(opts.relevance_data)
        if opts.judge not in rel_dataset.imported_judges:
            _relevance_judge_callable(opts, opts.relevance_data)
    return rel_dataset, (load_items(opts.data or bundled("example.jsonl")) if items else None)


def run_check(opts: CheckOptions, log: Callable[[str], None] = lambda s: None, on_result=None,
              progress: Callable[[], Any] | None = None) -> CheckOutcome:
    """Run the stages the policy needs, then apply it. Raises AuditError subclasses.

    - the audit of ``judge-audit run`` (through :func:`audit.audits.preference.run_audit`) for the
      thresholds of :data:`audit.gate.policy.AUDIT_KEYS` and for ``--baseline``;
    - the relevance audit of ``opts.relevance_data`` (imported ``judge_labels`` need no call) for
      :data:`audit.gate.policy.RELEVANCE_KEYS`; without relevance data those checks FAIL ("not measured");
    - the counterfactual test of the judge on ``opts.data`` for ``max_counterfactual_effect``; a judge
      imported from the data cannot re-judge edited answers, so for it the check FAILS ("not measured").

    Every check decides on the estimate and CI its audit wrote to results.json. Every call goes
    through the result cache. ``progress``: a factory of a fresh ``on_result`` callback per stage
    (else ``on_result`` is used for every stage). The audits' outcomes are returned in ``stages``
    so the caller can draw their pages.
    """
    from audit.audits.preference import RunOptions, run_audit

    def stage_progress():
        return progress() if progress is not None else on_result

    saved, base_name = _baseline_of(opts)
    policy = opts.policy
    if not policy.thresholds() and not opts.baseline and not policy.require_same_fingerprint:
        raise ConfigError("nothing to check: give --policy FILE, a threshold option (e.g. --max-inflation 0.5) or --baseline")
    run_drift = policy.gates(DRIFT_KEYS) or policy.require_same_fingerprint
    previous = _drift_source(opts) if run_drift else None
    run_main = policy.gates(AUDIT_KEYS) or bool(opts.baseline) or run_drift
    run_cf = policy.gates(COUNTERFACTUAL_KEYS)
    run_rel = policy.gates(RELEVANCE_KEYS)
    notes: list[str] = []
    if opts.relevance_data is not None and not run_rel:
        notes.append(f"--relevance-data {opts.relevance_data} not used: no relevance threshold is set "
                     f"({', '.join(RELEVANCE_KEYS)})")

    rel_dataset, dataset = _read_inputs(opts, run_rel, run_main or run_cf)
    imported = set(dataset.imported_judges) if dataset is not None else set()
    both_orders = policy.needs_both_orders(with_baseline=bool(opts.baseline))

    checks: list[Check] = []
    results: dict = {}
    paths: dict[str, Path] = {}
    stages: list = []
    label = None
    if run_main:
        to_call = [n for n in (opts.judge, base_name) if n and n not in imported]
        run_opts = RunOptions(data=opts.data, judges=to_call, config=opts.config, out=opts.out, flagger=opts.flagger,
                              seed=opts.seed, both_orders=both_orders, cache_dir=opts.cache_dir)
        outcome = run_audit(run_opts, log=log, on_result=stage_progress())
        stages.append(outcome)
        results, paths = outcome.results, dict(outcome.paths)
        if opts.judge not in results["judges"]:  # e.g. the data has imported judges and --judge names none of them
            raise ConfigError(f"judge {opts.judge!r} was not audited (judges in the audit: {', '.join(results['judges'])})")
        notes += [f"{opts.judge}: {w}" for w in results["judges"][opts.judge].get("warnings") or []]
        position_note = None
        if opts.judge in imported and both_orders:
            position_note = f"judge {opts.judge!r} is imported from the data: its ratings have no presentation order"
        checks = evaluate(results, opts.judge, policy, position_note=position_note)

    cf_checks: list[Check] = []
    if run_cf:
        cf_checks, cf = _counterfactual_stage(opts, policy, dataset, imported, both_orders, log, stage_progress(), notes)
        if cf is not None:
            stages.append(cf)
            paths |= {f"counterfactual_{k}": v for k, v in cf.paths.items()}
            paths.setdefault("results", cf.paths["results"])
    rel_checks: list[Check] = []
    if run_rel:
        rel_checks, rel = _relevance_stage(opts, policy, rel_dataset, log, stage_progress(), notes)
        if rel is not None:
            stages.append(rel)
            paths |= {f"relevance_{k}": v for k, v in rel.paths.items()}
            paths.setdefault("results", rel.paths["results"])
    checks += rel_checks + cf_checks
    if policy.gates(EXTRACTION_KEYS):
        ext_checks, ext = _extraction_stage(opts, policy, log, stage_progress(), notes)
        checks += ext_checks
        if ext is not None:
            stages.append(ext)
            paths |= {f"extraction_{k}": v for k, v in ext.paths.items()}
            if run_main:  # the stage-1 numbers beside the run's, for one results.json to read
                from audit.data.files import load_json, write_json

                write_json(paths["results"], {**load_json(paths["results"]), "extraction": ext.results})
                results["extraction"] = ext.results
            paths.setdefault("results", ext.paths["results"])
    elif opts.extraction_data is not None:
        notes.append(f"--extraction-data {opts.extraction_data} not used: no stage-1 threshold is set "
                     f"({', '.join(EXTRACTION_KEYS)})")

    if run_drift:
        checks += _drift_stage(opts, policy, outcome, previous, paths)

    if opts.baseline:
        items = items_frame(outcome.dataset, outcome.flags)
        base_checks, label = _baseline_stage(opts, policy, outcome, items, saved, base_name, notes)
        checks += base_checks

    report = GateReport(opts.judge, tuple(checks), policy, data=str(dataset.path) if dataset is not None else None,
                        baseline=label, notes=tuple(notes),
                        relevance_data=str(rel_dataset.path) if rel_dataset is not None else None)
    return CheckOutcome(report, results, paths, stages)
