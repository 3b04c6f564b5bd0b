"""``judge-audit counterfactual``: does the judge reward the mere naming of an attribute?

load -> flag (offline rules: the edit needs spans) -> variants (:mod:`audit.text.variants`;
optionally rewritten by a model and checked) -> judge originals and variants the same way ->
measure (:mod:`audit.stats.counterfactual`) -> write outputs.

Every variant is judged exactly like its original: same prompt template, same generic answer, the
same seeded presentation order(s) (drawn from the *original* item's id, so ``--both-orders`` and
``--samples`` pair up call for call), through the same engine and cache. The original answers'
calls are the calls ``judge-audit run`` makes with the same options, so they come from the cache
when that run was made first.

Outputs in ``--out``: ``variants.jsonl`` (the variants in the input format of ``judge-audit run``,
so people can rate them too), ``counterfactual_judgments.csv``, ``results.json`` (section
``counterfactual``, merged into an existing results.json) and ``counterfactual.html``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from pydantic import BaseModel, Field

from audit.audits.common import CallOptions, bundled, opened_cache, require_credentials, with_prompts, with_temperatures
from audit.engine.config import load_judge_config, resolve_judge
from audit.stats import measure
from audit.stats.estimate import finite
from audit.text.edits import ABLATED, INJECTED, Skip, Variant, text_changes
from audit.text.injection import INJECTION_TEMPLATES
from audit.text.variants import build_variants, check_rewrite, variant_id, variant_item
from audit.stats.counterfactual import causal_effect, observational_minus_causal
from audit.errors import ConfigError
from audit.data.items import MentionFlag
from audit.text.mention import flag_offline
from audit.data.items import Dataset, Item

N_EXAMPLES = 3  # side-by-side examples per kind in results.json and the report
FEW_PAIRS = 10


class RewrittenAnswer(BaseModel):
    """What a rewriter must return: the whole answer with only the mentions removed."""

    answer: str = Field(description="the whole answer with only the listed mentions removed")


@dataclass
class CounterfactualOptions(CallOptions):
    rewriter: str | None = None
    n_resamples: int = measure.DEFAULT_REPS


@dataclass
class CounterfactualOutcome:
    results: dict  # the whole results.json written (with the "counterfactual" section)
    judgments: list
    variants: list[Variant]
    skipped: list[Skip]
    paths: dict[str, Path]


# --- the model rewrite (optional) ----------------------------------------------------------------


def rewrite_ablations(variants: list[Variant], items: dict[str, Item], spec, cache, *, seed: int = 0) -> list[Variant]:
    """Ask ``spec`` to remove the mentions of every ablation variant's original, keep each rewrite
    that passes :func:`audit.text.variants.check_rewrite`, else keep the deterministic deletion
    and record why in its ``notes``."""
    from audit.engine.judge import run_structured
    from audit.engine.prompts import render_messages

    todo = [v for v in variants if v.kind == ABLATED]
    if not todo:
        return variants
    msgs = [render_messages("rewrite_mention", attributes=items[v.item_id].attributes,
                            mentions=[v.original[s:e] for s, e in v.mention_spans], answer=v.original) for v in todo]
    results = run_structured(spec, msgs, RewrittenAnswer, cache, seed=seed)
    done: dict[str, Variant] = {}
    for v, res in zip(todo, results):
        if res.value is None:
            why = f"the call failed ({res.error})"
        else:
            text = res.value["answer"].strip()
            why = check_rewrite(v.original, text, items[v.item_id].attributes, v.mention_spans)
            if why is None:
                done[v.item_id] = replace(v, text=text, changes=text_changes(v.original, text),
                                          method=f"rewrite:{spec.name}")
                continue
        done[v.item_id] = replace(v, notes=v.notes + (f"rewrite by {spec.name} rejected: {why}; "
                                                      f"deterministic deletion ({v.method}) used",))
    return [done.get(v.item_id, v) if v.kind == ABLATED else v for v in variants]


# --- judging ---------------------------------------------------------------------------------------


def planned_pairs(pairs: list[tuple[Item, Item]], specs, *, samples: int, both_orders: bool, seed: int) -> list:
    """(shown item, Call) for every call: each shown item is judged in the presentation order(s)
    drawn for its original's id (``plan_calls``), so a variant and its original pair up call for call."""
    from audit.engine.judge import Call
    from audit.engine.prompts import judge_prompt
    from audit.audits.judging import judge_messages, plan_calls

    out, rendered = [], {}
    for spec in specs:
        for shown, original in pairs:
            for _, order, sample in plan_calls([original], samples=samples, both_orders=both_orders, seed=seed):
                msgs = rendered.get((shown.id, order, spec.prompt))
                if msgs is None:
                    msgs = rendered[(shown.id, order, spec.prompt)] = judge_messages(shown, order, spec.prompt)
                out.append((shown, Call(spec, msgs, judge_prompt(spec.prompt).response_model, order, sample)))
    return out


def judge_pairs(pairs: list[tuple[Item, Item]], specs, cache, *, seed: int = 0, samples: int = 1,
                both_orders: bool = False, on_result=None, workers: int | None = None) -> list:
    """Judge every shown item with every judge (cached); raise JudgeUnavailable when a judge could not
    be used at all (as :func:`audit.engine.judge.run_judges`)."""
    from audit.audits.judging import run_planned

    if not specs:
        return []
    planned = planned_pairs(pairs, specs, samples=samples, both_orders=both_orders, seed=seed)
    return run_planned(planned, specs, cache, seed=seed, on_result=on_result, workers=workers)


# --- results ---------------------------------------------------------------------------------------


def _examples(variants: list[Variant], items: dict[str, Item], table: pd.DataFrame, judges: list[str]) -> list[dict]:
    """Up to N_EXAMPLES variants per kind, those whose ratings moved most (mean |change| over judges)."""
    out = []
    for kind in (ABLATED, INJECTED):
        scored = []
        for v in (v for v in variants if v.kind == kind):
            vid = variant_id(v.item_id, kind)
            ratings = {}
            for j in judges:
                o = table[j].get(v.item_id) if j in table else None
                w = table[j].get(vid) if j in table else None
                ratings[j] = {"original": finite(o), "variant": finite(w)}
            moves = [abs(r["original"] - r["variant"]) for r in ratings.values()
                     if r["original"] is not None and r["variant"] is not None]
            scored.append((-(sum(moves) / len(moves)) if moves else 0.0, v.item_id, v, ratings))
        for _, _, v, ratings in sorted(scored, key=lambda t: (t[0], t[1]))[:N_EXAMPLES]:
            item = items[v.item_id]
            out.append({"item_id": v.item_id, "variant_id": variant_id(v.item_id, kind), "kind": kind,
                        "method": v.method, "prompt": item.prompt, "attributes": list(item.attributes),
                        "original": v.original, "variant": v.text, "changes": [c.to_dict() for c in v.changes],
                        "attribute": v.attribute, "template": v.template, "ratings": ratings})
    return out


def _judge_warnings(rows: list, n_pairs: dict[str, int]) -> list[str]:
    warns = []
    failed = sum(1 for r in rows if r.status == "failed")
    if failed:
        warns.append(f"{failed} of {len(rows)} calls failed (see counterfactual_judgments.csv, column error)")
    for kind, n in n_pairs.items():
        if 0 < n < FEW_PAIRS:
            warns.append(f"only {n} {kind} pairs: the {kind} effect is very uncertain")
    return warns


def build_counterfactual_results(dataset: Dataset, flags: dict[str, MentionFlag], variants: list[Variant],
                                 skipped: list[Skip], judgments: list, *, judge_models: dict[str, str],
                                 seed: int = 0, n_boot: int = measure.DEFAULT_REPS, settings: dict | None = None,
                                 card: dict | None = None) -> dict:
    """The ``counterfactual`` section of results.json (every number from :mod:`audit.stats.counterfactual`
    and :mod:`audit.stats.measure`, on one shared cluster bootstrap seeded with ``seed``)."""
    from audit.stats.bootstrap import ClusterBootstrap
    from audit.stats.tables import items_frame, judge_item_ratings

    items = items_frame(dataset, flags)
    by_id = {it.id: it for it in dataset.items}
    cluster = dict(zip(items["item_id"], items["cluster"]))
    table = judge_item_ratings(judgments)
    boot = ClusterBootstrap(items["cluster"], n_reps=n_boot, seed=seed)
    humans = items[items["human_mean"].notna()]

    judges: dict[str, dict] = {}
    for name in judge_models:
        rows = [r for r in judgments if r.judge == name]
        col = table[name] if name in table else pd.Series(dtype=float)
        entry: dict[str, Any] = {"model": judge_models[name], "n_calls": len(rows),
                                 "n_failed": sum(1 for r in rows if r.status == "failed"),
                                 "n_cached": sum(1 for r in rows if r.cached)}
        pairs_n = {}
        effects = {}
        for kind in (ABLATED, INJECTED):
            ids, w, o = [], [], []
            for v in (v for v in variants if v.kind == kind):
                orig, var = col.get(v.item_id), col.get(variant_id(v.item_id, kind))
                if orig is None or var is None or not (math.isfinite(orig) and math.isfinite(var)):
                    continue
                ids.append(v.item_id)
                w.append(orig if kind == ABLATED else var)
                o.append(var if kind == ABLATED else orig)
            pairs_n[kind] = len(ids)
            clusters = [cluster[i] for i in ids]
            effects[kind] = (ids, w, o, clusters)
            entry[f"{kind}_effect"] = causal_effect(w, o, kind=kind, clusters=clusters, boot=boot).to_dict()
        rated = items.merge(col.rename("judge").dropna(), left_on="item_id", right_index=True)
        entry["n_originals_rated"] = int(len(rated))
        entry["observational_mention_delta"] = measure.mention_delta(
            rated["judge"], rated["mention"], clusters=rated["cluster"].to_numpy(), boot=boot).to_dict()
        for kind, (ids, w, o, clusters) in effects.items():
            entry[f"observational_minus_{kind}"] = observational_minus_causal(
                rated["judge"], rated["mention"], rated["cluster"], w, o, clusters, kind=kind, boot=boot).to_dict()
        entry["n_pairs"] = pairs_n
        entry["warnings"] = _judge_warnings(rows, pairs_n)
        judges[name] = entry

    for kind in (ABLATED, INJECTED):  # Holm (1979) across judges, one family per kind
        adjusted = measure.holm({n: j[f"{kind}_effect"].get("p_value") for n, j in judges.items()})
        for n, j in judges.items():
            if "p_value" in j[f"{kind}_effect"]:
                j[f"{kind}_effect"]["p_value_holm"] = adjusted[n]
                j[f"{kind}_effect"]["holm_family"] = f"{kind}_effect across {len(judges)} judges"

    def counts(kind: str) -> dict:
        mine = [v for v in variants if v.kind == kind]
        methods: dict[str, int] = {}
        for v in mine:
            methods[v.method] = methods.get(v.method, 0) + 1
        notes = [{"item_id": v.item_id, "note": n} for v in mine for n in v.notes]
        gone = [{"item_id": s.item_id, "reason": s.reason} for s in skipped if s.kind == kind]
        return {"n_variants": len(mine), "methods": methods, "n_skipped": len(gone), "skipped": gone, "notes": notes}

    return {
        "question": "does the judge reward the mere naming of an attribute? "
                    "effect = rating(answer with the mention) - rating(the same answer without it)",
        "scale": "1 = generic much better, 3 = no difference, 5 = personalized much better",
        "n_items": len(dataset.items),
        "n_mention": int(items["mention"].sum()),
        "flagger": "offline rules (audit.text.mention.flag_offline): the edits need the mention spans",
        "ablation": counts(ABLATED),
        "injection": counts(INJECTED),
        "humans": {
            "n_items": int(len(humans)),
            "mention_delta": measure.mention_delta(humans["human_mean"], humans["mention"],
                                                   clusters=humans["cluster"].to_numpy(), boot=boot).to_dict(),
            "note": "observational: people rated the original answers only (rate variants.jsonl to measure theirs)",
        },
        "judges": judges,
        "examples": _examples(variants, by_id, table, list(judge_models)),
        "settings": {"seed": seed, "templates": [t for _, t in INJECTION_TEMPLATES], **(settings or {})},
        "bootstrap": {"n_resamples": boot.n_reps, "seed": seed, "n_clusters": boot.n_clusters,
                      "cluster": "user_id when given, else the item id", "ci": "percentile, 95%"},
        "audit_card": card or {},
    }


# --- outputs ----------------------------------------------------------------------------------------


def variants_jsonl(dataset: Dataset, variants: list[Variant]) -> str:
    """variants.jsonl: a provenance header, then one item per variant (input format of ``judge-audit run``)."""
    by_id = {it.id: it for it in dataset.items}
    head = [
        f"# judge-audit counterfactual variants of {dataset.path} (sha256 {dataset.sha256[:12]}).",
        "# Each personalized answer is an original answer EDITED BY judge-audit (not written by its generator):",
        "# '#ablated' = an explicit attribute mention deleted, '#injected' = one templated mention inserted;",
        "# meta.counterfactual records the original id, the kind, the method and every changed span.",
        "# The originals' human and judge ratings are removed (they rated the other text); 'mention' is what the variant is.",
    ]
    lines = [json.dumps(variant_item(by_id[v.item_id], v).model_dump(mode="json"), ensure_ascii=False) for v in variants]
    return "\n".join(head + lines) + "\n"


def write_counterfactual_outputs(out: Path, section: dict, judgments: list, dataset: Dataset,
                                 variants: list[Variant]) -> tuple[dict, dict[str, Path]]:
    """variants.jsonl, counterfactual_judgments.csv and results.json (the section merged in);
    counterfactual.html is drawn from them by :func:`audit.render.outputs.publish`."""
    from audit.data.files import atomic_write, clean_json, merged_results, output_dir, write_json
    from audit.data.results import versioned
    from audit.data.judgments import write_judgments_csv

    out = output_dir(out)
    paths = {"variants": out / "variants.jsonl", "judgments": out / "counterfactual_judgments.csv",
             "results": out / "results.json"}
    doc = versioned(clean_json(merged_results(paths["results"], "counterfactual", section)))
    atomic_write(paths["variants"], variants_jsonl(dataset, variants))
    write_judgments_csv(paths["judgments"], judgments)
    write_json(paths["results"], doc)
    return doc, paths


def audit_card(dataset: Dataset, called: list, opts: CounterfactualOptions, judgments: list) -> dict:
    from audit.audits.card import audit_card as card_of

    templates = ("judge_preference", "rewrite_mention") if opts.rewriter else ("judge_preference",)
    return card_of(
        "judge-audit counterfactual", packages=("litellm", "instructor"),
        dataset={"path": dataset.path, "sha256": dataset.sha256, "n_items": len(dataset.items)},
        templates=templates, called=called, judgments=judgments, n_resamples=opts.n_resamples,
        settings={"seed": opts.seed, "samples": opts.samples, "both_orders": opts.both_orders,
                  "rewriter": opts.rewriter})


def run_counterfactual(opts: CounterfactualOptions, log: Callable[[str], None] = lambda s: None,
                       on_result=None) -> CounterfactualOutcome:
    """Load, build variants (and optionally rewrite them), judge originals and variants, measure, write."""
    from audit.data.items import load_items

    dataset = load_items(opts.data or bundled("example.jsonl"))
    specs = load_judge_config(opts.config)
    names = opts.judges or ["local"]  # imported ratings cannot rate the variants: a judge must be called
    clash = [n for n in names if n in dataset.imported_judges]
    if clash:
        raise ConfigError(f"judge {clash[0]!r} has imported ratings in {dataset.path}; the variants need new "
                          f"judgments: call it under another name via --config")
    if dataset.imported_judges:
        log(f"note: imported ratings of {', '.join(dataset.imported_judges)} are not used (the variants need new judgments)")
    called = with_prompts(with_temperatures([resolve_judge(n, specs) for n in names], opts.temperature), opts.prompt)
    rewriter = resolve_judge(opts.rewriter, specs) if opts.rewriter else None

    ids = {it.id for it in dataset.items}
    for it in dataset.items:
        for kind in (ABLATED, INJECTED):
            if variant_id(it.id, kind) in ids:
                raise ConfigError(f"{dataset.path}: item id {variant_id(it.id, kind)!r} is taken; the variant of "
                                  f"{it.id!r} needs it (rename that item)")
    flags = {it.id: flag_offline(it.personalized, it.attributes) for it in dataset.items}
    variants, skipped = build_variants(dataset.items, seed=opts.seed)
    if not variants:
        reasons = "; ".join(sorted({s.reason for s in skipped}))[:300]
        raise ConfigError(f"{dataset.path}: no item gave a counterfactual variant ({reasons})")
    items = {it.id: it for it in dataset.items}
    n_abl = sum(v.kind == ABLATED for v in variants)
    log(f"variants: {n_abl} ablations, {len(variants) - n_abl} injections, {len(skipped)} items skipped")
    require_credentials(*called, rewriter, out=opts.out)  # before any spending (and after every check of the data)

    with opened_cache(opts.cache_dir, opts.use_cache) as cache:
        if rewriter is not None and n_abl:
            log(f"rewriting {n_abl} ablations with {rewriter.name} (each checked to change only the mention)")
            variants = rewrite_ablations(variants, items, rewriter, cache, seed=opts.seed)
        pairs = [(it, it) for it in dataset.items]
        pairs += [(variant_item(items[v.item_id], v), items[v.item_id]) for v in variants]
        per = len(planned_pairs(pairs[:1], [called[0]], samples=opts.samples, both_orders=opts.both_orders,
                                seed=opts.seed)) if pairs else 0
        log(f"judging {len(dataset.items)} originals and {len(variants)} variants with "
            f"{', '.join(s.name for s in called)} ({len(pairs) * per} calls per judge)")
        judgments = judge_pairs(pairs, called, cache, seed=opts.seed, samples=opts.samples,
                                both_orders=opts.both_orders, on_result=on_result, workers=opts.workers)

    settings = {"samples": opts.samples, "both_orders": opts.both_orders, "temperature": opts.temperature,
                "rewriter": rewriter.name if rewriter else None}
    section = build_counterfactual_results(dataset, flags, variants, skipped, judgments,
                                           judge_models={s.name: s.model for s in called}, seed=opts.seed,
                                           n_boot=opts.n_resamples, settings=settings,
                                           card=audit_card(dataset, called, opts, judgments))
    doc, paths = write_counterfactual_outputs(opts.out, section, judgments, dataset, variants)
    return CounterfactualOutcome(doc, judgments, variants, skipped, paths)
