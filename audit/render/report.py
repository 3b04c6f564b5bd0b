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
from pathlib import Path

from markupsafe import Markup

from audit.render.html import asset, csp_hash, render_page
from audit.render.items import item_views, json_for_script
from audit.render.methods import card_rows, method_rows
from audit.data.results import Estimate, Judge, JudgeAgreement, Results, typed
from audit.errors import InputError
from audit.text.fmt import as_dict, is_finite, num, p_text, token_count, usd
from audit.data.items import MentionFlag
from audit.data.judgments import Judgment
from audit.data.items import SCALE, Dataset


# --- number formatting (presentation only: the numbers are rounded here, never before) ----------

def _num(x: float, digits: int = 2, signed: bool = True) -> str:
    return num(x, digits, signed, minus=True)


def _pct_text(x: float) -> str:
    return num(x, 1, percent=True).replace(".0%", "%")


def fmt_estimate(est, *, signed: bool = True, pct: bool = False, missing: str = "not measured") -> dict:
    """One estimate as the page shows it: ``{text, ci, p, title, missing}`` (strings; None if absent).

    ``est`` is an Estimate dict from results.json (``estimate``, ``ci``, ``p_value``,
    ``p_value_holm``, ``n``, ``method``, ``reason``) or None. ``p`` prefers the Holm-adjusted
    p-value, and says so. Typed estimates (:mod:`audit.data.results`) are read alike.
    """
    est = as_dict(est)
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
    est = as_dict(est)
    if not isinstance(est, dict) or not is_finite(est.get("estimate")) or not est.get("ci"):
        return 0
    lo, hi = est["ci"]
    if not (is_finite(lo) and is_finite(hi)):
        return 0
    return 1 if lo > ref else -1 if hi < ref else 0


# --- the verdict table -------------------------------------------------------------------------

def _findings(j: Judge) -> list[dict]:
    """Short badges, each following from a 95% CI that excludes its reference (never from a threshold of ours)."""
    out = []
    s = _excludes_zero(j.inflation)
    if s > 0:
        out.append({"kind": "bad", "text": "inflates", "title": "inflation CI lies above 0: the judge likes personalized answers more than people do"})
    elif s < 0:
        out.append({"kind": "bad", "text": "deflates", "title": "inflation CI lies below 0: the judge likes personalized answers less than people do"})
    elif j.inflation.estimate is not None:
        out.append({"kind": "ok", "text": "no clear inflation", "title": "inflation CI includes 0"})
    s = _excludes_zero(j.excess_mention_uplift)
    if s > 0:
        out.append({"kind": "bad", "text": "rewards mentions", "title": "excess mention uplift CI lies above 0: the judge rewards explicit attribute mentions more than people do"})
    elif s < 0:
        out.append({"kind": "bad", "text": "penalizes mentions", "title": "excess mention uplift CI lies below 0"})
    gap = _gap(j)
    s = _excludes_zero(gap)
    if s < 0:
        out.append({"kind": "bad", "text": "below human ceiling", "title": "κ gap to the human ceiling: CI lies below 0"})
    elif s > 0:
        out.append({"kind": "ok", "text": "above human ceiling", "title": "κ gap to the human ceiling: CI lies above 0"})
    elif gap is not None and gap.estimate is not None:
        out.append({"kind": "ok", "text": "at human ceiling", "title": "κ gap to the human ceiling: CI includes 0"})
    return out


def _gap(j: Judge) -> Estimate | None:
    """The judge's κ_w gap to the human ceiling, when measured."""
    ag = j.agreement
    return (ag.ceiling_gap or {}).get("kappa_quadratic") if ag else None


def _not_measured(hint: str) -> dict:
    return {**fmt_estimate(None), "missing": "not measured", "hint": hint}


def _position_cell(j: Judge) -> dict:
    if j.position is not None:
        cell = fmt_estimate(j.position.flip_rate, pct=True)
        cell["sub"] = f"{j.position.n_flips if j.position.n_flips is not None else '?'} of {j.position.n_pairs} pairs flip"
        return cell
    if j.source == "imported":
        return _not_measured("imported ratings: no calls")
    return _not_measured("run with --both-orders")


def _cost_cell(j: Judge) -> dict:
    cost = j.cost
    if cost is not None:
        parts = [f"{cost.calls} calls"]
        if cost.cached:
            parts.append(f"{cost.cached} cached")
        if cost.failures:
            parts.append(f"{cost.failures} failed")
        return {"text": ", ".join(parts), "sub": "cost unknown (no price)" if cost.cost_usd is None else usd(cost.cost_usd)}
    if j.source == "imported":
        return {"text": "imported", "sub": "no calls"}
    return {"text": f"{j.n_calls} calls", "sub": "cost not recorded"}


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


def verdict_rows(results: Results | dict) -> list[dict]:
    results = typed_results(results) if isinstance(results, dict) else results
    rows = []
    for i, (name, j) in enumerate(results.judges.items()):
        ag = j.agreement or JudgeAgreement()
        kappa = (ag.matched or {}).get("kappa_quadratic") or ag.kappa_quadratic
        warnings = [_warning(w) for w in j.warnings]
        rows.append({
            "name": name, "idx": i, "model": j.model, "source": j.source,
            "n_items": j.n_items_rated,
            "inflation": fmt_estimate(j.inflation),
            "mention_delta": fmt_estimate(j.mention_delta),
            "excess": fmt_estimate(j.excess_mention_uplift, missing="not measured"),
            "kappa": fmt_estimate(kappa, signed=False, missing="not measured"),
            "gap": fmt_estimate(_gap(j)),
            "spearman": fmt_estimate(j.spearman, signed=False),
            "position": _position_cell(j),
            "cost": _cost_cell(j),
            "warnings": warnings,
            "warning_badges": _badges(warnings),
            "findings": _findings(j),
        })
    return rows


def humans_row(results: Results | dict) -> dict:
    results = typed_results(results) if isinstance(results, dict) else results
    h = results.humans
    return {
        "n_annotators": h.n_annotators,
        "n_items": results.n_items_with_human_ratings,
        "mention_delta": fmt_estimate(h.mention_delta),
        "ceiling": fmt_estimate(h.ceiling.kappa_quadratic, signed=False,
                                missing="not measured — needs ≥ 2 annotators per item"),
        "ceiling_spearman": fmt_estimate(h.ceiling.spearman, signed=False, missing="–"),
        "no_better": fmt_estimate(h.no_better_rate, pct=True),
        "alpha": fmt_estimate(h.krippendorff_alpha, signed=False),
        "icc": fmt_estimate(h.icc, signed=False),
    }


AGREEMENT_METRICS = (("spearman", "Spearman ρ"), ("kendall", "Kendall τ"), ("kappa_quadratic", "κ quadratic"),
                     ("exact_agreement", "exact agreement"), ("sign_accuracy", "same preference"))


def agreement_table(results: Results | dict) -> dict:
    results = typed_results(results) if isinstance(results, dict) else results
    ceiling = results.humans.ceiling
    rows = []
    for i, (name, j) in enumerate(results.judges.items()):
        ag = j.agreement or JudgeAgreement()
        spread = (ag.spread or {}).get("kappa_quadratic")
        rows.append({
            "name": name, "idx": i,
            "cells": [fmt_estimate(getattr(ag, k), signed=False, missing="–") for k, _ in AGREEMENT_METRICS],
            "matched": fmt_estimate((ag.matched or {}).get("kappa_quadratic"), signed=False, missing="–"),
            "gap": fmt_estimate(_gap(j), missing="–"),
            "best_fit": ag.best_fit_annotator,
            "spread": (f"κ from {spread.min:.2f} ({spread.min_annotator}) to {spread.max:.2f} "
                       f"({spread.max_annotator})") if spread is not None and spread.min is not None else None,
        })
    mx = results.agreement
    return {
        "metrics": [label for _, label in AGREEMENT_METRICS],
        "ceiling": [fmt_estimate(getattr(ceiling, k), signed=False, missing="–") for k, _ in AGREEMENT_METRICS],
        "rows": rows,
        "measured": any(r["cells"][0]["text"] for r in rows) or any(getattr(ceiling, k) for k, _ in AGREEMENT_METRICS),
        "within_humans": fmt_estimate(mx.get("mean_within_humans"), signed=False, missing="–"),
        "within_judges": fmt_estimate(mx.get("mean_within_judges"), signed=False, missing="–"),
        "human_judge": fmt_estimate(mx.get("mean_human_judge"), signed=False, missing="–"),
    }


def engine_rows(results: Results | dict) -> list[dict]:
    results = typed_results(results) if isinstance(results, dict) else results
    rows = []
    for i, (name, j) in enumerate(results.judges.items()):
        imported = j.source == "imported"
        pos, sc, cost, raw = j.position, j.self_consistency, j.cost, j.raw_answers
        no_calls = "imported ratings: no calls"
        rows.append({
            "name": name, "idx": i, "imported": imported,
            "flip": _position_cell(j),
            "slot": fmt_estimate(pos.slot_a_preference, pct=True) if pos
            else _not_measured(no_calls if imported else "run with --both-orders"),
            "consistency": (fmt_estimate(sc.exact_agreement, pct=True) | {"sub": f"{sc.samples} samples, {sc.n_prompts} prompts"}) if sc
            else _not_measured(no_calls if imported else "run with --samples K --temperature T"),
            "icc": fmt_estimate(sc.icc, signed=False, missing="–") if sc else None,
            "raw": (f"{_pct_text(raw.share)} of {raw.n} answers are {raw.modal_raw_rating}") if raw else None,
            "cost": cost.model_dump() if cost else None,
            "tokens": (f"{token_count(cost.tokens_in)} in / {token_count(cost.tokens_out)} out") if cost else None,
            "latency": (f"{cost.latency_p50:.2f} s / {cost.latency_p95:.2f} s"
                        if cost and cost.latency_p50 is not None and cost.latency_p95 is not None else None),
            "usd": usd(cost.cost_usd) if cost else None,
        })
    return rows


def generator_rows(results: Results | dict) -> list[dict]:
    results = typed_results(results) if isinstance(results, dict) else results
    return [{"name": g, "n_items": s.n_items, "mean_human": s.mean_human_rating,
             "no_better": fmt_estimate(s.no_better_rate, pct=True, missing="–"),
             "mention_rate": fmt_estimate(s.mention_rate, pct=True, missing="–")}
            for g, s in results.generators.items()]


# --- methods ----------------------------------------------------------------------------------


# --- the items ---------------------------------------------------------------------------------


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
    self_pref = F.self_preference_figure(results, colors)
    if self_pref.svg is not None:  # only when answers come from at least two declared model families
        outs.append(self_pref)
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


def typed_results(results: dict) -> Results:
    """The run's results as typed models; InputError naming the first key that does not fit."""
    try:
        model = typed(results)
    except ValueError as exc:
        first = exc.errors()[0] if hasattr(exc, "errors") else {}
        where = ".".join(str(x) for x in first.get("loc", ())) or None
        raise InputError("results.json", None, where, f"not a judge-audit results.json: {first.get('msg', exc)}") from None
    if not isinstance(model, Results):
        raise InputError("results.json", None, None, "not the results.json of a `judge-audit run`")
    return model


def prompts_and_juries(model) -> dict | None:
    """The "Prompts and juries" section: judges with a prompt other than the shipped default, the paired
    prompt effects (results.json ``prompt_effects``) and every jury's members and their agreement.
    None when the run has nothing to show here (every judge on the default prompt, no jury)."""
    prompts = [{"judge": name, "name": j.prompt.get("name"), "sha": str(j.prompt.get("sha256", ""))[:8],
                "source": j.prompt.get("source")}
               for name, j in model.judges.items() if j.prompt and j.prompt.get("name") != "default"]
    effects = [{"new": pe["judges"][1], "base": pe["judges"][0], "model": pe.get("model"), "n": pe.get("n_items"),
                "inflation": fmt_estimate(pe.get("inflation")), "mention": fmt_estimate(pe.get("mention_delta"))}
               for pe in model.prompt_effects]
    juries = []
    for name, j in model.judges.items():
        if not j.jury:
            continue
        agree = j.jury.get("members_agreement") or {}
        juries.append({"name": name, "aggregate": j.jury.get("aggregate"), "members": j.jury.get("members") or [],
                       "partial": j.jury.get("n_items_partial"), "alpha": fmt_estimate(agree.get("krippendorff_alpha")),
                       "kappas": [(pair, v.get("kappa_quadratic"), v.get("n"))
                                  for pair, v in (agree.get("pairwise_kappa") or {}).items()],
                       "humans": fmt_estimate(j.spearman)})
    if not (prompts or effects or juries):
        return None
    return {"prompts": prompts, "effects": effects, "juries": juries}


def style_rows(model) -> list[dict]:
    """The "Mention or style?" table: per judge, its excess mention uplift raw and at equal length and
    markdown (``judges.J.style_control.excess``), its length gap and the verbosity shares."""
    rows = []
    for name, j in model.judges.items():
        if j.style_control and j.style_control.excess:
            v, ex = j.verbosity or {}, j.style_control.excess
            rows.append({"name": name, "raw": fmt_estimate(j.excess_mention_uplift), "mention": fmt_estimate(ex.get("mention")),
                         "length": fmt_estimate(ex.get("length")),
                         "judge_longer": fmt_estimate(v.get("judge_prefers_longer"), signed=False, pct=True),
                         "people_longer": fmt_estimate(v.get("humans_prefer_longer"), signed=False, pct=True),
                         "self": fmt_estimate(j.self_preference, missing="n/a")})
    return rows


def report_context(results: dict, judgments: list[Judgment], dataset: Dataset, flags: dict[str, MentionFlag], *,
                   with_figures: bool = True) -> dict:
    """Everything the template shows, as plain values (no I/O). The tables read the typed results
    (:mod:`audit.data.results`); a results.json that does not fit them is a bad input (exit 2)."""
    from audit.render.calibration import calibration_context
    from audit.render.svg import judge_colors

    model = typed_results(results)
    judges = list(model.judges)
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
        "verdict": verdict_rows(model), "humans": humans_row(model), "agreement": agreement_table(model),
        "engine": engine_rows(model), "generators": generator_rows(model),
        "habit": {"r": fmt_estimate(hb if hb.get("spearman_r") is not None else None, missing=hb.get("reason") or "not computed"),
                  "n_models": hb.get("n_models"), "models": hb.get("models") or []},
        "figures": figures(results, dataset, judgments, colors) if with_figures else [],
        "items": items, "n_items": len(items), "multi_sample": any(j.sample for j in judgments), "n_mention": sum(1 for it in items if it.mention),
        "data_json": Markup(json_for_script({"judges": judges, "items": data})),
        "css": Markup(css), "js": Markup(js),
        "csp": Markup(f"default-src 'none'; img-src data:; style-src {style_src}; script-src {csp_hash(js)}; "
                      "base-uri 'none'; form-action 'none'"),
        "counterfactual": cf_html, "panels": prompts_and_juries(model), "style": style_rows(model),
        "cal": calibration_context({n: j.get("calibration") for n, j in results.get("judges", {}).items()}, colors),
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
