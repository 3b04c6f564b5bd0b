"""``judge-audit relevance``: load pairs -> judge -> baselines -> measure -> write outputs.

Every number comes from :mod:`audit.stats.relevance`; this module only selects rows for it and
assembles the ``relevance`` section of results.json (see README, "Relevance audit"). Outputs in
``--out``: ``results.json`` (the section is merged into an existing results.json of ``judge-audit
run`` so ``judge-audit check`` sees both), ``relevance_judgments.csv`` and ``relevance.html``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from audit.audits.common import (AuditOptions, bundled, opened_cache, provenance, raters_beside_annotators,
                                 require_credentials)
from audit.stats import relevance as rm
from audit.errors import ConfigError
from audit.data.relevance import (JUDGMENT_COLUMNS, TASK, Pair, RelevanceDataset, RelevanceJudgment, imported_labels,
                                  load_pairs)
from audit.engine.judge import Call, CallResult, raise_if_unavailable, run_calls
from audit.engine.prompts import render_messages
from audit.engine.schemas import RelevanceVerdict

BASELINES = ("bm25", "embedding")
FEW_PAIRS = 10


def bundled_relevance_example() -> Path:
    return bundled("relevance_example.jsonl")


@dataclass
class RelevanceOptions(AuditOptions):
    ties: str = "irrelevant"
    baselines: tuple[str, ...] = BASELINES
    n_resamples: int = rm.N_RESAMPLES


@dataclass
class RelevanceOutcome:
    results: dict  # the whole results.json written (with the "relevance" section)
    judgments: list[RelevanceJudgment]
    paths: dict[str, Path]
    dataset: RelevanceDataset


def parse_baselines(text: str | None) -> tuple[str, ...]:
    """``bm25,embedding`` (default), a subset, or ``none``."""
    if text is None:
        return BASELINES
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["none"]:
        return ()
    bad = [n for n in names if n not in BASELINES]
    if bad or not names:
        raise ConfigError(f"--baselines: unknown baseline {bad[0] if bad else text!r} (use bm25, embedding or none)")
    return tuple(dict.fromkeys(names))


# --- tables ----------------------------------------------------------------------------------


def pair_frame(dataset: RelevanceDataset, ties: str) -> pd.DataFrame:
    """One row per pair: ids, cluster, human counts k (relevant) and m (labels), the majority label."""
    rows = [{"pair_id": p.id, "user_id": p.user_id, "cluster": p.cluster, "attribute": p.attribute, "prompt": p.prompt,
             "k": sum(h.relevant for h in p.human_labels), "m": len(p.human_labels)} for p in dataset.pairs]
    df = pd.DataFrame(rows)
    df["majority"] = rm.majority_label(df["k"], df["m"], ties)
    df["tie"] = (df["m"] > 0) & (2 * df["k"] == df["m"])
    return df


def judge_table(judgments: list[RelevanceJudgment]) -> pd.DataFrame:
    """pair x judge table of labels (1.0 / 0.0, NaN where the call failed or was not made)."""
    ok = [(j.pair_id, j.judge, float(j.relevant)) for j in judgments if j.status in ("ok", "imported") and j.relevant is not None]
    if not ok:
        return pd.DataFrame()
    df = pd.DataFrame(ok, columns=["pair_id", "judge", "relevant"])
    return df.pivot_table(index="pair_id", columns="judge", values="relevant", aggfunc="first")


def label_long(dataset: RelevanceDataset, table: pd.DataFrame, judges: list[str]) -> pd.DataFrame:
    """Long table pair_id, rater, relevant (bool) of every human and judge label."""
    rows = [(p.id, h.annotator, h.relevant) for p in dataset.pairs for h in p.human_labels]
    for name in judges:
        if name in table:
            rows.extend((pid, name, bool(v)) for pid, v in table[name].dropna().items())
    return pd.DataFrame(rows, columns=["pair_id", "rater", "relevant"])


# --- measures on one set of labels ------------------------------------------------------------


def _scores_of(labels: np.ndarray, frame: pd.DataFrame, *, seed: int, n_resamples: int) -> dict:
    """Selection rate, over-selection ratio and P/R/F1 of 0/1 ``labels`` (NaN = none) on ``frame``'s pairs."""
    has = ~np.isnan(labels)
    sub, lab = frame[has], labels[has] == 1
    prf = rm.precision_recall_f1(lab, sub["majority"].to_numpy(float), sub["cluster"].to_numpy(),
                                 seed=seed, n_resamples=n_resamples)
    return {
        "n_pairs_labelled": int(has.sum()),
        "selection_rate": rm.selection_rate(lab).to_dict(),
        "over_selection_ratio": rm.over_selection_ratio(lab, sub["k"].to_numpy(), sub["m"].to_numpy(),
                                                        sub["cluster"].to_numpy(), seed=seed,
                                                        n_resamples=n_resamples).to_dict(),
        "precision": prf["precision"].to_dict(),
        "recall": prf["recall"].to_dict(),
        "f1": prf["f1"].to_dict(),
        "confusion": rm.confusion(lab, sub["majority"].to_numpy(float)),
    }


def _warnings(name: str, labels: np.ndarray, rows: list[RelevanceJudgment]) -> list[str]:
    warns = []
    failed = sum(1 for r in rows if r.status == "failed")
    if failed:
        warns.append(f"{failed} of {len(rows)} calls failed (see relevance_judgments.csv, column error)")
    got = labels[~np.isnan(labels)]
    if len(got) >= 5 and (got.all() or not got.any()):
        warns.append(f"constant: it marked {'every' if got.all() else 'no'} pair relevant; "
                     "its precision, recall and kappa say little")
    if len(got) < FEW_PAIRS:
        warns.append(f"only {len(got)} labelled pairs: estimates are very uncertain")
    return warns


def _baseline_entry(bs, frame: pd.DataFrame, calib: np.ndarray, *, seed: int, n_resamples: int) -> dict:
    from audit.audits.baselines import best_threshold

    entry: dict[str, Any] = {"available": bs.scores is not None, "params": bs.params,
                             "split": {"rule": f"users ordered by sha256('{seed}:' + user); the first half calibrates "
                                               "the threshold, the other half evaluates it",
                                       "n_calibration_pairs": int(calib.sum()), "n_evaluation_pairs": int((~calib).sum()),
                                       "n_calibration_users": int(frame.loc[calib, "cluster"].nunique()),
                                       "n_evaluation_users": int(frame.loc[~calib, "cluster"].nunique())}}
    if bs.scores is None:
        entry["reason"] = bs.reason
        return entry
    thr, calib_f1, reason = best_threshold(bs.scores[calib], frame.loc[calib, "majority"].to_numpy(float))
    entry.update(threshold=thr, calibration_f1=calib_f1,
                 threshold_rule="maximises F1 against the human majority on the calibration half; relevant = score >= threshold")
    if thr is None:
        entry.update(available=False, reason=f"no threshold: {reason}")
        return entry
    labels = np.where(bs.scores >= thr, 1.0, 0.0)
    evaluation = frame[~calib]
    entry.update(_scores_of(labels[~calib], evaluation, seed=seed, n_resamples=n_resamples))
    entry["evaluated_on"] = "evaluation half"
    entry["scores"] = {"min": float(np.min(bs.scores)), "max": float(np.max(bs.scores)),
                       "share_zero": float(np.mean(bs.scores == 0))}
    return entry


def build_relevance_results(dataset: RelevanceDataset, judgments: list[RelevanceJudgment], *,
                            judge_models: dict[str, str], judge_sources: dict[str, str], ties: str = "irrelevant",
                            baseline_scores: list | None = None, seed: int = 0, n_resamples: int = rm.N_RESAMPLES,
                            card: dict | None = None) -> dict:
    """The ``relevance`` section of results.json (every number of the relevance audit)."""
    frame = pair_frame(dataset, ties)
    table = judge_table(judgments)
    humans = frame[frame["m"] > 0]
    calib = None
    if baseline_scores:
        from audit.audits.baselines import split_clusters

        calib = split_clusters(frame["cluster"].tolist(), seed)

    judges = {}
    for name in judge_models:
        rows = [j for j in judgments if j.judge == name]
        col = table[name].reindex(frame["pair_id"]).to_numpy(float) if name in table else np.full(len(frame), np.nan)
        entry = {"model": judge_models[name], "source": judge_sources[name],
                 "n_calls": sum(1 for r in rows if r.status != "imported"),
                 "n_failed": sum(1 for r in rows if r.status == "failed"),
                 "n_cached": sum(1 for r in rows if r.cached)}
        entry.update(_scores_of(col, frame, seed=seed, n_resamples=n_resamples))
        if calib is not None:  # the judge on the baselines' evaluation half, for a like-for-like comparison
            ev = _scores_of(col[~calib], frame[~calib], seed=seed, n_resamples=n_resamples)
            entry["evaluation_half"] = {k: ev[k] for k in ("n_pairs_labelled", "precision", "recall", "f1", "over_selection_ratio")}
        entry["warnings"] = _warnings(name, col, rows)
        judges[name] = entry

    annotators = dataset.annotators
    per_annotator = {}
    for a in annotators:
        labs = [h.relevant for p in dataset.pairs for h in p.human_labels if h.annotator == a]
        per_annotator[a] = rm.selection_rate(labs).to_dict()
    defined = humans["majority"].dropna()
    long = label_long(dataset, table, list(judge_models))
    groups = {a: "human" for a in annotators} | {j: "judge" for j in judge_models if j in table}
    agreement = rm.kappa_summary(long, groups, dict(zip(frame["pair_id"], frame["cluster"])),
                                 seed=seed, n_resamples=n_resamples)

    baselines = {}
    for bs in baseline_scores or []:
        baselines[bs.name] = _baseline_entry(bs, frame, calib, seed=seed, n_resamples=n_resamples)

    return {
        "task": "relevance: should this user attribute change the response to this prompt in any way?",
        "n_pairs": int(len(frame)),
        "n_users": int(frame["user_id"].nunique()),
        "n_clusters": int(frame["cluster"].nunique()),
        "n_pairs_with_human_labels": int(len(humans)),
        "ties": {"rule": ties, "n_tied": int(frame["tie"].sum()),
                 "description": {"irrelevant": "a tie (half the annotators say relevant) counts as not relevant",
                                 "relevant": "a tie counts as relevant",
                                 "exclude": "tied pairs are left out of precision, recall and F1"}[ties]},
        "humans": {
            "n_annotators": len(annotators),
            "n_labels": int(humans["m"].sum()),
            "selection_rate": rm.human_selection_rate(humans["k"], humans["m"]).to_dict(),
            "majority_selection_rate": rm.selection_rate(defined.to_numpy() == 1).to_dict(),
            "n_majority_relevant": int((defined == 1).sum()),
            "per_annotator": per_annotator,
        },
        "judges": judges,
        "baselines": baselines,
        "agreement": agreement,
        "settings": {"seed": seed, "n_resamples": n_resamples, "ties": ties, "confidence": 0.95},
        "audit_card": card or {},
    }


# --- outputs ---------------------------------------------------------------------------------


def write_relevance_outputs(out: Path, section: dict, judgments: list[RelevanceJudgment],
                            dataset: RelevanceDataset) -> tuple[dict, dict[str, Path]]:
    """results.json (the section merged in) and relevance_judgments.csv; relevance.html is drawn from
    them by :func:`audit.render.outputs.publish`."""
    from audit.data.files import clean_json, merged_results, output_dir, write_csv, write_json
    from audit.data.results import versioned

    out = output_dir(out)
    paths = {"results": out / "results.json", "judgments": out / "relevance_judgments.csv"}
    doc = versioned(clean_json(merged_results(paths["results"], "relevance", section)))
    write_json(paths["results"], doc)
    write_csv(paths["judgments"], JUDGMENT_COLUMNS, (j.to_row() for j in judgments))
    return doc, paths


def audit_card(dataset: RelevanceDataset, called: list, opts: RelevanceOptions, judgments: list[RelevanceJudgment]) -> dict:
    from audit.audits.card import audit_card as card_of

    return card_of(
        "judge-audit relevance", packages=("litellm", "instructor", "sentence-transformers"),
        dataset={"path": dataset.path, "sha256": dataset.sha256, "n_pairs": len(dataset.pairs)},
        templates=("relevance",), called=called, judgments=judgments,
        settings={"seed": opts.seed, "ties": opts.ties, "baselines": list(opts.baselines), "n_resamples": opts.n_resamples})


def run_relevance(opts: RelevanceOptions, log: Callable[[str], None] = lambda s: None, on_result=None) -> RelevanceOutcome:
    """Load, judge (called judges; imported labels need no call), score baselines, measure, write."""
    from audit.audits.baselines import score_baselines

    if opts.ties not in rm.TIE_RULES:
        raise ConfigError(f"--ties must be one of {', '.join(rm.TIE_RULES)} (got {opts.ties!r})")
    dataset = load_pairs(opts.data or bundled_relevance_example())
    called, imported = raters_beside_annotators(dataset, opts.judges, opts.config)
    require_credentials(*called, out=opts.out)

    with opened_cache(opts.cache_dir, opts.use_cache) as cache:
        if called:
            log(f"judging {len(dataset.pairs)} pairs with {', '.join(s.name for s in called)} "
                f"({len(dataset.pairs)} calls per judge)")
        judgments = imported_labels(dataset.pairs) + judge_pairs(list(dataset.pairs), called, cache, seed=opts.seed,
                                                                 on_result=on_result)
        scores = []
        if opts.baselines:
            if "embedding" in opts.baselines:
                log("baselines: scoring with " + ", ".join(opts.baselines))
            scores = score_baselines([p.attribute for p in dataset.pairs], [p.prompt for p in dataset.pairs],
                                     opts.baselines, cache)

    judge_models, judge_sources = provenance(called, imported)
    card = audit_card(dataset, called, opts, judgments)
    section = build_relevance_results(dataset, judgments, judge_models=judge_models, judge_sources=judge_sources,
                                      ties=opts.ties, baseline_scores=scores, seed=opts.seed,
                                      n_resamples=opts.n_resamples, card=card)
    doc, paths = write_relevance_outputs(opts.out, section, judgments, dataset)
    return RelevanceOutcome(doc, judgments, paths, dataset)


def relevance_messages(pair: Pair) -> list[dict[str, str]]:
    return render_messages(TASK, attribute=pair.attribute, prompt=pair.prompt)


def relevance_row(spec, pair: Pair, res: CallResult) -> RelevanceJudgment:
    row = RelevanceJudgment(pair.id, spec.name, spec.model, None, None, "failed", res.cached, res.latency_s,
                            res.tokens_in, res.tokens_out, res.cost_usd, res.error)
    if res.value is not None:
        row.relevant, row.reason, row.status = bool(res.value["relevant"]), res.value["reason"], "ok"
    return row


def judge_pairs(pairs: list[Pair], specs: list, cache, *, seed: int = 0, on_result=None) -> list[RelevanceJudgment]:
    """Ask every judge about every pair (cached). Raises JudgeUnavailable when a judge failed on every pair."""
    if not specs or not pairs:
        return []
    todo = [(spec, pair) for spec in specs for pair in pairs]
    results, unavailable = run_calls([Call(spec, relevance_messages(pair), RelevanceVerdict) for spec, pair in todo],
                                     cache, seed=seed, on_result=on_result, workers=0)
    rows = [relevance_row(spec, pair, res) for (spec, pair), res in zip(todo, results)]
    raise_if_unavailable(specs, rows, unavailable)
    return rows
