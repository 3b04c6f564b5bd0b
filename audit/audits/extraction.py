"""``judge-audit extraction`` (stage 1): load extracted attributes -> ask the verifiers (imported labels
need no call) -> measure (:mod:`audit.stats.extraction`) -> write ``results.json`` (its own, with
top-level ``humans``, ``judges``, ``kappa`` and the audit card), ``extraction_judgments.csv``; the CLI
draws ``extraction.html``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from audit.audits.common import (AuditOptions, bundled, opened_cache, provenance, raters_beside_annotators,
                                 require_credentials)
from audit.data.extraction import (JUDGMENT_COLUMNS, TASK, ExtractedAttribute, ExtractionDataset, ExtractionJudgment,
                                   imported_verdicts, load_extraction)
from audit.data.labels import is_tie
from audit.engine.judge import Call, CallResult, raise_if_unavailable, run_calls
from audit.engine.prompts import render_messages
from audit.engine.schemas import ExtractionVerdict

DEFAULT_EXTRACTION_OUT = "judge-audit-extraction"


def bundled_extraction_example() -> Path:
    return bundled("extraction_example.jsonl")


@dataclass
class ExtractionOptions(AuditOptions):
    out: Path = Path(DEFAULT_EXTRACTION_OUT)


@dataclass
class ExtractionOutcome:
    results: dict
    judgments: list[ExtractionJudgment]
    paths: dict[str, Path]
    dataset: ExtractionDataset


def verifier_task(spec) -> str:
    """The verifier prompt of a judge: ``extraction_verifier``, or a shipped variant for ``NAME@variant``."""
    from audit.engine.prompts import task_variant

    return task_variant(TASK, spec.prompt)


def verifier_messages(item: ExtractedAttribute, task: str = TASK) -> list[dict[str, str]]:
    return render_messages(task, conversation=item.conversation, attribute=item.attribute)


def verdict_row(spec, item: ExtractedAttribute, res: CallResult) -> ExtractionJudgment:
    row = ExtractionJudgment(item.id, spec.name, spec.model, None, None, "failed", res.cached, res.latency_s,
                             res.tokens_in, res.tokens_out, res.cost_usd, res.error)
    if res.value is not None:
        row.label, row.rationale, row.status = res.value["label"], res.value["rationale"], "ok"
    return row


def verify(items: list[ExtractedAttribute], specs: list, cache, *, seed: int = 0, on_result=None) -> list[ExtractionJudgment]:
    """Ask every verifier about every item (cached); JudgeUnavailable when a verifier failed on all."""
    if not specs or not items:
        return []
    todo = [(spec, it) for spec in specs for it in items]
    tasks = {spec.name: verifier_task(spec) for spec in specs}
    results, unavailable = run_calls([Call(spec, verifier_messages(it, tasks[spec.name]), ExtractionVerdict)
                                      for spec, it in todo], cache, seed=seed, on_result=on_result, workers=0)
    rows = [verdict_row(spec, it, res) for (spec, it), res in zip(todo, results)]
    raise_if_unavailable(specs, rows, unavailable)
    return rows


def frames(dataset: ExtractionDataset, judgments: list[ExtractionJudgment]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(items, verdicts, annotations) as :func:`audit.stats.extraction.extraction_results` reads them."""
    items = pd.DataFrame([{"item_id": it.id, "cluster": it.cluster, "source": it.source, "category": it.category,
                           "human_label": it.human_label, "n_annotators": len(it.human_labels),
                           "tie": is_tie([h.label for h in it.human_labels])} for it in dataset.items])
    verdicts = pd.DataFrame([{"item_id": j.item_id, "judge": j.judge, "label": j.label} for j in judgments],
                            columns=["item_id", "judge", "label"])
    annotations = pd.DataFrame([{"item_id": it.id, "annotator": h.annotator, "label": h.label}
                                for it in dataset.items for h in it.human_labels], columns=["item_id", "annotator", "label"])
    return items, verdicts, annotations


def run_extraction(opts: ExtractionOptions, log: Callable[[str], None] = lambda s: None, on_result=None) -> ExtractionOutcome:
    """Load, verify (called verifiers), measure and write results.json and extraction_judgments.csv."""
    from audit.audits.card import audit_card
    from audit.data.files import clean_json, output_dir, write_csv, write_json
    from audit.engine.prompts import template_hash
    from audit.data.results import versioned
    from audit.stats.extraction import extraction_results

    dataset = load_extraction(opts.data or bundled_extraction_example())
    called, imported = raters_beside_annotators(dataset, opts.judges, opts.config, role="verifier")
    tasks = [verifier_task(s) for s in called]  # an unknown prompt variant stops here, before any call
    require_credentials(*called, out=opts.out)
    with opened_cache(opts.cache_dir, opts.use_cache) as cache:
        if called:
            log(f"verifying {len(dataset.items)} attributes with {', '.join(s.name for s in called)} "
                f"({len(dataset.items)} calls per verifier)")
        judgments = imported_verdicts(dataset.items) + verify(list(dataset.items), called, cache, seed=opts.seed,
                                                              on_result=on_result)
    models, sources = provenance(called, imported)
    names = list(dict.fromkeys([*imported, *(s.name for s in called)]))
    items, verdicts, annotations = frames(dataset, judgments)
    results = extraction_results(items, verdicts, annotations, names, seed=opts.seed)
    for name in names:
        results["judges"][name] = {"model": models.get(name, name), "source": sources.get(name, "imported"),
                                   **results["judges"][name]}
    results["audit_card"] = audit_card(
        "judge-audit extraction", packages=("litellm", "instructor"),
        dataset={"path": dataset.path, "sha256": dataset.sha256, "n_items": len(dataset.items)},
        templates=tuple(dict.fromkeys([TASK, *tasks])), called=called, judgments=judgments, settings={"seed": opts.seed},
        prompts={s.name: {"name": t, "sha256": template_hash(t), "source": "shipped"} for s, t in zip(called, tasks)},
        n_resamples=results["bootstrap"]["n_reps"])
    results = versioned(clean_json(results))
    out = output_dir(opts.out)
    paths = {"results": out / "results.json", "judgments": out / "extraction_judgments.csv"}
    write_json(paths["results"], results)
    write_csv(paths["judgments"], JUDGMENT_COLUMNS, (j.to_row() for j in judgments))
    return ExtractionOutcome(results, judgments, paths, dataset)
