"""Render report.html: one self-contained page (figures, styles and script inline; no network).

Safety: every string from the data or a model (prompts, answers, attributes, rationales, judge
and annotator names) is untrusted. It reaches the page only through Jinja's autoescape, or inside
the one JSON data block, where ``<``, ``>``, ``&`` (and U+2028/9) are written as ``\\u003c``...,
so no text can close the block; the page's script reads that block with ``JSON.parse`` and never
builds HTML from data. Figures are SVG documents inside ``<img>`` (they can run nothing). The
Content-Security-Policy allows exactly the page's own style and script, by SHA-256 hash, and
images from ``data:`` URLs; nothing else (no network, no injected handler) can run or load.

``render_html(results, judgments, dataset, flags)`` renders; ``report_context`` builds the view
model (pure, no I/O; figures from :mod:`audit.render.figures`); ``report_text(folder, fmt)`` is
``judge-audit report --from`` (reads the run's files through :func:`audit.data.files.read_run`).
Only results.json, judgments.csv and items.jsonl are needed: no model is ever called here.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from types import SimpleNamespace as NS  # attribute access: Jinja reads these without a failed getattr

from markupsafe import Markup

from audit.render.html import asset, csp_hash, render_page
from audit.text.fmt import is_finite, num, p_text
from audit.data.items import MentionFlag
from audit.data.judgments import GENERIC_FIRST, PERSONALIZED_FIRST, Judgment
from audit.data.items import SCALE, Dataset
from audit.stats.tables import judge_item_ratings

LONG_ANSWER = 900  # characters: longer answers are folded (first lines shown, the rest behind "show all")
LONG_RATIONALE = 360


# --- number formatting (presentation only: the numbers are rounded here, never before) ----------

def _num(x: float, digits: int = 2, signed: bool = True) -> str:
    return num(x, digits, signed, minus=True)


def _pct_text(x: float) -> str:
    return num(x, 1, percent=True).replace(".0%", "%")


def fmt_estimate(est, *, signed: bool = True, pct: bool = False, missing: str = "not measured") -> dict:
    """One estimate as the page shows it: ``{text, ci, p, title, missing}`` (strings; None if absent).

    ``est`` is an Estimate dict from results.json (``estimate``, ``ci``, ``p_value``,
    ``p_value_holm``, ``n``, ``method``, ``reason``) or None. ``p`` prefers the Holm-adjusted
    p-value, and says so.
    """
    if not isinstance(est, dict) or not is_finite(est.get("estimate")):
        reason = est.get("reason") if isinstance(est, dict) else None
        return {"text": None, "ci": None, "p": None, "title": (est or {}).get("method", "") if isinstance(est, dict) else "",
                "missing": reason or missing}

    def f(x):
        return _pct_text(x) if pct else _num(x, signed=signed)

    ci = est.get("ci")
    ci_text = f"[{f(ci[0])}, {f(ci[1])}]" if ci and is_finite(ci[0]) and is_finite(ci[1]) else "no CI"
    shown_p = None
    if is_finite(est.get("p_value_holm")):
        shown_p = p_text(est["p_value_holm"], style="spaced") + " (Holm)"
    elif is_finite(est.get("p_value")):
        shown_p = p_text(est["p_value"], style="spaced")
    title = est.get("method", "")
    if est.get("n") is not None:
        title = f"n = {est['n']}. {title}"
    if is_finite(est.get("p_value")) and is_finite(est.get("p_value_holm")):
        title += f" Unadjusted p = {est['p_value']:.3g}; Holm-adjusted ({est.get('holm_family', 'across judges')})."
    return {"text": f(est["estimate"]), "ci": ci_text, "p": shown_p, "title": title, "missing": None}


def _excludes_zero(est, ref: float = 0.0) -> int:
    """+1 when the 95% CI lies above ``ref``, -1 below, 0 otherwise (or when unknown)."""
    if not isinstance(est, dict) or not is_finite(est.get("estimate")) or not est.get("ci"):
        return 0
    lo, hi = est["ci"]
    if not (is_finite(lo) and is_finite(hi)):
        return 0
    return 1 if lo > ref else -1 if hi < ref else 0


# --- the verdict table -------------------------------------------------------------------------

def _findings(j: dict) -> list[dict]:
    """Short badges, each following from a 95% CI that excludes its reference (never from a threshold of ours)."""
    out = []
    s = _excludes_zero(j.get("inflation"))
    if s > 0:
        out.append({"kind": "bad", "text": "inflates", "title": "inflation CI lies above 0: the judge likes personalized answers more than people do"})
    elif s < 0:
        out.append({"kind": "bad", "text": "deflates", "title": "inflation CI lies below 0: the judge likes personalized answers less than people do"})
    elif isinstance(j.get("inflation"), dict) and j["inflation"].get("estimate") is not None:
        out.append({"kind": "ok", "text": "no clear inflation", "title": "inflation CI includes 0"})
    s = _excludes_zero(j.get("excess_mention_uplift"))
    if s > 0:
        out.append({"kind": "bad", "text": "rewards mentions", "title": "excess mention uplift CI lies above 0: the judge rewards explicit attribute mentions more than people do"})
    elif s < 0:
        out.append({"kind": "bad", "text": "penalizes mentions", "title": "excess mention uplift CI lies below 0"})
    gap = ((j.get("agreement") or {}).get("ceiling_gap") or {}).get("kappa_quadratic")
    s = _excludes_zero(gap)
    if s < 0:
        out.append({"kind": "bad", "text": "below human ceiling", "title": "κ gap to the human ceiling: CI lies below 0"})
    elif s > 0:
        out.append({"kind": "ok", "text": "above human ceiling", "title": "κ gap to the human ceiling: CI lies above 0"})
    elif isinstance(gap, dict) and gap.get("estimate") is not None:
        out.append({"kind": "ok", "text": "at human ceiling", "title": "κ gap to the human ceiling: CI includes 0"})
    return out


def _not_measured(hint: str) -> dict:
    return {**fmt_estimate(None), "missing": "not measured", "hint": hint}


def _position_cell(j: dict) -> dict:
    pos = j.get("position")
    if isinstance(pos, dict) and pos.get("flip_rate"):
        cell = fmt_estimate(pos["flip_rate"], pct=True)
        cell["sub"] = f"{pos.get('n_flips', '?')} of {pos.get('n_pairs', '?')} pairs flip"
        return cell
    if j.get("source") == "imported":
        return _not_measured("imported ratings: no calls")
    return _not_measured("run with --both-orders")


def _usd(x) -> str:
    if x is None:
        return "unknown"
    return f"${x:.4f}" if x < 1 else f"${x:,.2f}"


def _cost_cell(j: dict) -> dict:
    cost = j.get("cost")
    if isinstance(cost, dict):
        parts = [f"{cost.get('calls', 0)} calls"]
        if cost.get("cached"):
            parts.append(f"{cost['cached']} cached")
        if cost.get("failures"):
            parts.append(f"{cost['failures']} failed")
        return {"text": ", ".join(parts), "sub": "cost unknown (no price)" if cost.get("cost_usd") is None else _usd(cost["cost_usd"])}
    if j.get("source") == "imported":
        return {"text": "imported", "sub": "no calls"}
    n = j.get("n_calls")
    return {"text": f"{n} calls" if n is not None else "–", "sub": "cost not recorded"}


def _warning(text: str) -> dict:
    """A warning as a short badge (``label``) plus its full text; ``loud`` for the engine's
    upper-case warnings (CONSTANT ANSWER, POSITION BIAS, INCONSISTENT)."""
    head = text.split(":", 1)[0].split(" (", 1)[0].strip()
    loud = head.isupper()
    label = head.lower() if loud else head
    if len(label) > 42:
        label = label[:40].rstrip() + "…"
    return {"text": text, "loud": loud, "label": label}


def _badges(warnings: list[dict]) -> list[dict]:
    """One badge per distinct label; its tooltip holds every full warning with that label."""
    out: dict[str, dict] = {}
    for w in warnings:
        if w["label"] in out:
            out[w["label"]]["text"] += "\n" + w["text"]
        else:
            out[w["label"]] = dict(w)
    return list(out.values())


def verdict_rows(results: dict) -> list[dict]:
    rows = []
    for i, (name, j) in enumerate((results.get("judges") or {}).items()):
        ag = j.get("agreement") or {}
        kappa = (ag.get("matched") or {}).get("kappa_quadratic") or ag.get("kappa_quadratic")
        rows.append({
            "name": name, "idx": i, "model": j.get("model"), "source": j.get("source"),
            "n_items": j.get("n_items_rated"),
            "inflation": fmt_estimate(j.get("inflation")),
            "mention_delta": fmt_estimate(j.get("mention_delta")),
            "excess": fmt_estimate(j.get("excess_mention_uplift"), missing="not measured"),
            "kappa": fmt_estimate(kappa, signed=False, missing="not measured"),
            "gap": fmt_estimate((ag.get("ceiling_gap") or {}).get("kappa_quadratic")),
            "spearman": fmt_estimate(j.get("spearman") or ag.get("spearman"), signed=False),
            "position": _position_cell(j),
            "cost": _cost_cell(j),
            "warnings": [_warning(w) for w in j.get("warnings") or []],
            "warning_badges": _badges([_warning(w) for w in j.get("warnings") or []]),
            "findings": _findings(j),
        })
    return rows


def humans_row(results: dict) -> dict:
    h = results.get("humans") or {}
    return {
        "n_annotators": h.get("n_annotators"),
        "n_items": results.get("n_items_with_human_ratings"),
        "mention_delta": fmt_estimate(h.get("mention_delta")),
        "ceiling": fmt_estimate((h.get("ceiling") or {}).get("kappa_quadratic"), signed=False,
                                missing="not measured — needs ≥ 2 annotators per item"),
        "ceiling_spearman": fmt_estimate((h.get("ceiling") or {}).get("spearman"), signed=False, missing="–"),
        "no_better": fmt_estimate(h.get("no_better_rate"), pct=True),
        "alpha": fmt_estimate(h.get("krippendorff_alpha"), signed=False),
        "icc": fmt_estimate(h.get("icc"), signed=False),
    }


AGREEMENT_METRICS = (("spearman", "Spearman ρ"), ("kendall", "Kendall τ"), ("kappa_quadratic", "κ quadratic"),
                     ("exact_agreement", "exact agreement"), ("sign_accuracy", "same preference"))


def agreement_table(results: dict) -> dict:
    ceiling = (results.get("humans") or {}).get("ceiling") or {}
    rows = []
    for i, (name, j) in enumerate((results.get("judges") or {}).items()):
        ag = j.get("agreement") or {}
        spread = (ag.get("spread") or {}).get("kappa_quadratic") or {}
        rows.append({
            "name": name, "idx": i,
            "cells": [fmt_estimate(ag.get(k), signed=False, missing="–") for k, _ in AGREEMENT_METRICS],
            "matched": fmt_estimate((ag.get("matched") or {}).get("kappa_quadratic"), signed=False, missing="–"),
            "gap": fmt_estimate((ag.get("ceiling_gap") or {}).get("kappa_quadratic"), missing="–"),
            "best_fit": ag.get("best_fit_annotator"),
            "spread": (f"κ from {spread['min']:.2f} ({spread.get('min_annotator')}) to {spread['max']:.2f} "
                       f"({spread.get('max_annotator')})") if spread.get("min") is not None else None,
        })
    mx = results.get("agreement") or {}
    return {
        "metrics": [label for _, label in AGREEMENT_METRICS],
        "ceiling": [fmt_estimate(ceiling.get(k), signed=False, missing="–") for k, _ in AGREEMENT_METRICS],
        "rows": rows,
        "measured": any(r["cells"][0]["text"] for r in rows) or bool(ceiling),
        "within_humans": fmt_estimate(mx.get("mean_within_humans"), signed=False, missing="–"),
        "within_judges": fmt_estimate(mx.get("mean_within_judges"), signed=False, missing="–"),
        "human_judge": fmt_estimate(mx.get("mean_human_judge"), signed=False, missing="–"),
    }


def engine_rows(results: dict) -> list[dict]:
    rows = []
    for i, (name, j) in enumerate((results.get("judges") or {}).items()):
        imported = j.get("source") == "imported"
        pos = j.get("position") if isinstance(j.get("position"), dict) else None
        sc = j.get("self_consistency") if isinstance(j.get("self_consistency"), dict) else None
        cost = j.get("cost") if isinstance(j.get("cost"), dict) else None
        raw = j.get("raw_answers") if isinstance(j.get("raw_answers"), dict) else None
        no_calls = "imported ratings: no calls"
        slot = fmt_estimate(pos.get("slot_a_preference"), pct=True) if pos else None
        rows.append({
            "name": name, "idx": i, "imported": imported,
            "flip": _position_cell(j),
            "slot": slot or _not_measured(no_calls if imported else "run with --both-orders"),
            "consistency": (fmt_estimate(sc.get("exact_agreement"), pct=True) | {"sub": f"{sc.get('samples')} samples, {sc.get('n_prompts')} prompts"}) if sc
            else _not_measured(no_calls if imported else "run with --samples K --temperature T"),
            "icc": fmt_estimate(sc.get("icc"), signed=False, missing="–") if sc else None,
            "raw": (f"{_pct_text(raw['share'])} of {raw['n']} answers are {raw['modal_raw_rating']}") if raw else None,
            "cost": cost,
            "tokens": (f"{_k(cost.get('tokens_in'))} in / {_k(cost.get('tokens_out'))} out") if cost else None,
            "latency": (f"{cost['latency_p50']:.2f} s / {cost['latency_p95']:.2f} s"
                        if cost and cost.get("latency_p50") is not None and cost.get("latency_p95") is not None else None),
            "usd": _usd(cost.get("cost_usd")) if cost else None,
        })
    return rows


def _k(x) -> str:
    if x is None:
        return "?"
    return f"{x / 1000:.1f}k" if x >= 1000 else str(int(x))


def generator_rows(results: dict) -> list[dict]:
    rows = []
    for g, s in (results.get("generators") or {}).items():
        rows.append({"name": g, "n_items": s.get("n_items"), "mean_human": s.get("mean_human_rating"),
                     "no_better": fmt_estimate(s.get("no_better_rate"), pct=True, missing="–"),
                     "mention_rate": fmt_estimate(s.get("mention_rate"), pct=True, missing="–")})
    return rows


# --- methods ----------------------------------------------------------------------------------

METHODS = (
    ("inflation", ("judges", "inflation"), "Inflation",
     "mean over items of (judge rating − the item's mean human rating); a judge's item rating is the mean of its "
     "judgments of that item (over presentation orders and samples). 0 = rates like people on average."),
    ("mention_delta", ("judges", "mention_delta"), "Mention Δ",
     "mean rating of items whose personalized answer explicitly names a user attribute minus the mean of the other "
     "items; computed for each judge and for people (mean human rating)."),
    ("excess", ("judges", "excess_mention_uplift"), "Excess mention uplift",
     "the judge's mention Δ minus people's mention Δ on the same items: how much more than people the judge rewards "
     "naming an attribute."),
    ("slope", ("judges", "mention_slope"), "Mention slope (within generator)",
     "slope of (judge − human) on the mention flag with generator fixed effects: the mention effect holding the "
     "writer fixed."),
    ("spearman", ("judges", "spearman"), "Spearman ρ with people",
     "rank correlation of the judge's item ratings with the mean human rating."),
    ("kappa", ("judges", "agreement", "kappa_quadratic"), "κ with people",
     "Cohen's kappa with quadratic weights between the judge's rounded item rating and the rounded human median."),
    ("ceiling", ("humans", "ceiling", "kappa_quadratic"), "Human ceiling",
     "each annotator's agreement with the other annotators (leave one annotator out), averaged; judges are scored "
     "on the very same targets ('matched') so the two are comparable."),
    ("alpha", ("humans", "krippendorff_alpha"), "Krippendorff's α", "inter-annotator reliability, ordinal metric."),
    ("no_better", ("humans", "no_better_rate"), "No-better rate",
     "share of items whose mean human rating is ≤ 3: people found the personalized answer no better than the generic one."),
    ("flip", ("judges", "position", "flip_rate"), "Position flip rate",
     "with --both-orders, share of (item, sample) pairs whose verdict (generic better / no difference / "
     "personalized better) changes when the two answers swap places."),
    ("slot", ("judges", "position", "slot_a_preference"), "Slot-A preference",
     "share of decisive verdicts that picked the answer shown first (50% without position bias)."),
    ("consistency", ("judges", "self_consistency", "exact_agreement"), "Self-consistency",
     "with --samples K, share of pairs of repeated samples of one prompt with the same rating."),
    ("habit", ("habit_bias",), "Habit vs bias",
     "Spearman correlation across models of the generator habit (share of its personalized answers naming an "
     "attribute) with its mention Δ as a judge."),
)


NOT_MEASURED_HINT = {"flip": " (run with --both-orders)", "slot": " (run with --both-orders)",
                     "consistency": " (run with --samples K --temperature T)",
                     "habit": " (needs ≥ 3 models that are both generators and judges, or --measure-habits)",
                     "ceiling": " (needs items rated by ≥ 2 annotators)", "alpha": " (needs items rated by ≥ 2 annotators)"}


def _first_method(results: dict, path: tuple[str, ...]) -> dict | None:
    if path[0] == "judges":
        for j in (results.get("judges") or {}).values():
            d = j
            for part in path[1:]:
                d = d.get(part) if isinstance(d, dict) else None
            if isinstance(d, dict) and d.get("method"):
                return d
        return None
    d = results
    for part in path:
        d = d.get(part) if isinstance(d, dict) else None
    return d if isinstance(d, dict) and d.get("method") else None


def method_rows(results: dict) -> list[dict]:
    rows = []
    for key, path, name, definition in METHODS:
        est = _first_method(results, path)
        test = est.get("method") if est else None
        if est and est.get("test"):
            test += f"; p: {est['test']}"
        holm = est.get("holm_family") if est else None
        rows.append({"key": key, "name": name, "definition": definition,
                     "test": test or "not measured in this run" + NOT_MEASURED_HINT.get(key, ""), "holm": f"Holm-adjusted across judges ({holm})" if holm else None})
    return rows


def card_rows(card, prefix: str = "") -> list[tuple[str, str]]:
    """The audit card flattened to (key, value text) rows: nested keys joined with dots."""
    rows = []
    if isinstance(card, dict):
        if not card and prefix:
            rows.append((prefix, "–"))
        for k, v in card.items():
            rows.extend(card_rows(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(card, list):
        rows.append((prefix, ", ".join(str(v) for v in card) if card else "–"))
    elif isinstance(card, bool):
        rows.append((prefix, "true" if card else "false"))
    else:
        rows.append((prefix, "–" if card is None else str(card)))
    return rows


# --- the items ---------------------------------------------------------------------------------

def highlight(text: str, flag: MentionFlag | None) -> list[tuple[str, bool]]:
    """Split ``text`` into (segment, is_mention) pieces; overlapping or out-of-range spans are clipped.
    The template escapes each piece."""
    if not flag or not flag.spans:
        return [(text, False)]
    pieces, pos = [], 0
    for start, end in sorted(flag.spans):
        start, end = max(start, pos), min(end, len(text))
        if end <= start:
            continue
        pieces.append((text[pos:start], False))
        pieces.append((text[start:end], True))
        pos = end
    pieces.append((text[pos:], False))
    return [p for p in pieces if p[0]]


ORDER_LABEL = {GENERIC_FIRST: "generic", PERSONALIZED_FIRST: "personalized", None: "– (imported)"}


def judge_item_means(judgments: list[Judgment]) -> dict[str, dict[str, float]]:
    """{item_id: {judge: mean rating}}: :func:`audit.stats.tables.judge_item_ratings` as nested dicts."""
    table = judge_item_ratings(judgments)
    return {str(item): {str(j): float(v) for j, v in row.items() if v == v}
            for item, row in table.to_dict("index").items()}


def item_views(dataset: Dataset, judgments: list[Judgment], flags: dict[str, MentionFlag],
               judges: list[str]) -> tuple[list[dict], list[dict]]:
    """(items for the template, rows for the page's JSON block), in dataset order.

    Items are namespaces (``it.id``, ``it.judgments`` ...): the template reads 40,000 of their
    fields for 1,000 items x 5 judges, and attribute access is Jinja's fast path.

    JSON rows: ``m`` mention (0/1), ``h`` mean human rating (or null), ``d`` per judge (in
    ``judges`` order) the judge's item rating minus ``h`` (null when either is missing), ``r``
    whether that judge rated the item at all.
    """
    by_item: dict[str, list[Judgment]] = {}
    for j in judgments:
        by_item.setdefault(j.item_id, []).append(j)
    means = judge_item_means(judgments)
    jidx = {name: i for i, name in enumerate(judges)}
    items, data = [], []
    for n, item in enumerate(dataset.items):
        flag = flags.get(item.id)
        h = item.mean_human
        m = means.get(item.id, {})
        diffs = [None if (judge not in m or h is None) else m[judge] - h for judge in judges]
        rows = sorted(by_item.get(item.id, []), key=lambda j: (jidx.get(j.judge, len(jidx)), j.sample, j.order or ""))
        judg = [NS(
            judge=j.judge, idx=jidx.get(j.judge, 0), order=ORDER_LABEL.get(j.order, j.order),
            sample=j.sample, rating=j.rating, raw=j.raw_rating, status=j.status, cached=j.cached,
            text=j.rationale or j.error or "", error=j.status == "failed",
            long=len(j.rationale or j.error or "") > LONG_RATIONALE,
        ) for j in rows]
        chips = [NS(judge=name, idx=jidx[name], rating=m[name], diff=None if h is None else m[name] - h)
                 for name in judges if name in m]
        valid = [abs(d) for d in diffs if d is not None]
        items.append(NS(**{
            "n": n, "id": item.id, "user_id": item.user_id, "generator": item.generator, "prompt": item.prompt,
            "attributes": item.attributes, "generic": item.generic, "generic_long": len(item.generic) > LONG_ANSWER,
            "personalized": highlight(item.personalized, flag),
            "personalized_long": len(item.personalized) > LONG_ANSWER,
            "mention": bool(flag and flag.flagged), "flag_source": flag.source if flag else "",
            "spans": flag.span_texts(item.personalized) if flag else [],
            "humans": [(r.annotator, r.rating) for r in item.human_ratings], "human_mean": h,
            "chips": chips, "judgments": judg, "max_diff": max(valid) if valid else None,
        }))
        data.append({"m": int(bool(flag and flag.flagged)), "h": h, "d": diffs,
                     "r": [int(name in m) for name in judges]})
    return items, data


def json_for_script(obj) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>``, ``&`` or line separators."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _json_default(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    raise TypeError(type(x).__name__)


# --- figures -----------------------------------------------------------------------------------

def figures(results: dict, dataset: Dataset, judgments: list[Judgment], colors: dict[str, str]) -> list[dict]:
    from audit.render import figures as F

    outs = [
        F.inflation_figure(results, colors),
        F.mention_figure(results, colors),
        F.agreement_figure(results, colors),
        F.generator_figure(results, colors),
        F.habit_figure(results, colors),
        F.kappa_figure(results, colors),
        F.distribution_figure(results, colors),
    ]
    return [{"key": f.key, "title": f.title, "caption": f.caption, "alt": f.alt, "reason": f.reason,
             "src": None if f.svg is None else "data:image/svg+xml;base64," + base64.b64encode(f.svg.encode()).decode("ascii")}
            for f in outs]


# --- the page ----------------------------------------------------------------------------------

def counterfactual_section(results: dict) -> tuple[Markup | None, list[str]]:
    """The counterfactual mention test (``judge-audit counterfactual`` merges its section into
    results.json) rendered by :mod:`audit.render.counterfactual` (autoescaped there), and the
    texts of the ``<style>`` elements it carries, which the CSP must allow by hash."""
    import re

    section = results.get("counterfactual")
    if not isinstance(section, dict):
        return None, []
    from audit.render.counterfactual import render_counterfactual_section

    html = render_counterfactual_section(section)
    return Markup(html), re.findall(r"<style>(.*?)</style>", html, flags=re.S)


def page_css(colors: dict[str, str]) -> str:
    """report.css plus one class per judge colour (``.jc-<i>``) -- no inline style attributes anywhere."""
    lines = [asset("report.css"), ".hc { --jc: #3b4252; }"]
    lines += [f".jc-{i} {{ --jc: {c}; }}" for i, c in enumerate(colors.values())]
    # with a judge chosen in the drill-down, the other judges' rows and chips fade
    lines += [f'#items-list[data-judge="{i}"] .jr:not(.jc-{i}), #items-list[data-judge="{i}"] .rt[class*="jc-"]:not(.jc-{i}) '
              "{ opacity: .35; }" for i in range(len(colors))]
    return "\n".join(lines) + "\n"


def report_context(results: dict, judgments: list[Judgment], dataset: Dataset, flags: dict[str, MentionFlag], *,
                   with_figures: bool = True) -> dict:
    """Everything the template shows, as plain values (no I/O)."""
    from audit.render.figures import judge_colors

    judges = list((results.get("judges") or {}).keys())
    colors = judge_colors(judges)
    items, data = item_views(dataset, judgments, flags, judges)
    css = page_css(colors)
    js = asset("report.js")
    card = results.get("audit_card") or {}
    hb = results.get("habit_bias") or {}
    cf_html, cf_styles = counterfactual_section(results)
    style_src = " ".join(csp_hash(t) for t in [css, *cf_styles])
    return {
        "r": results, "scale": SCALE, "judges": [{"name": n, "idx": i, "color": colors[n]} for i, n in enumerate(judges)],
        "verdict": verdict_rows(results), "humans": humans_row(results), "agreement": agreement_table(results),
        "engine": engine_rows(results), "generators": generator_rows(results),
        "habit": {"r": fmt_estimate(hb if hb.get("spearman_r") is not None else None, missing=hb.get("reason") or "not computed"),
                  "n_models": hb.get("n_models"), "models": hb.get("models") or []},
        "figures": figures(results, dataset, judgments, colors) if with_figures else [],
        "items": items, "n_items": len(items), "multi_sample": any(j.sample for j in judgments), "n_mention": sum(1 for it in items if it.mention),
        "data_json": Markup(json_for_script({"judges": judges, "items": data})),
        "css": Markup(css), "js": Markup(js),
        "csp": Markup(f"default-src 'none'; img-src data:; style-src {style_src}; script-src {csp_hash(js)}; "
                      "base-uri 'none'; form-action 'none'"),
        "counterfactual": cf_html,
        "methods": method_rows(results), "card": card_rows(card), "bootstrap": results.get("bootstrap") or {},
        "dataset_path": (card.get("dataset") or {}).get("path", dataset.path),
        "dataset_sha": (card.get("dataset") or {}).get("sha256", dataset.sha256),
        "date": card.get("date"), "tool_version": card.get("tool_version"),
    }


def render_html(results: dict, judgments: list[Judgment], dataset: Dataset, flags: dict[str, MentionFlag]) -> str:
    return render_page("report.html.j2", **report_context(results, judgments, dataset, flags))


# --- judge-audit report --from ------------------------------------------------------------------

def report_text(folder: Path, fmt: str = "html") -> str:
    """A finished run's report, re-rendered from its output folder without calling any model.

    ``fmt`` "html" needs results.json, judgments.csv and items.jsonl (or, for folders written
    before items.jsonl existed, the original dataset unchanged at the path in the audit card);
    "md" (the short Markdown summary of :mod:`audit.render.markdown`) needs only results.json.
    Raises :class:`~audit.errors.InputError` (exit 2) naming the missing or mismatched file.
    """
    from audit.audits.saved import read_results, read_run

    folder = Path(folder)
    if fmt == "md":
        from audit.render.markdown import results_markdown

        return results_markdown(read_results(folder / "results.json"))
    run = read_run(folder)
    return render_html(run.results, run.judgments, run.dataset, run.flags)
