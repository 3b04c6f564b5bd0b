"""Render the counterfactual mention test: ``counterfactual.html`` (standalone) and the same section
for report.html (template partial ``reports/counterfactual.html.j2``).

Jinja2 with autoescaping on: answers, prompts, attributes and judge names are untrusted and reach
the page only escaped; the template never marks data as safe. Everything comes from the
``counterfactual`` section of results.json, so a report can be re-rendered without a model call.

Wiring into report.html (report.py / report.html.j2)::

    # report_context(): add
    "cf": counterfactual_context(results["counterfactual"]) if results.get("counterfactual") else None,
    # report.html.j2, where the section belongs:
    {% if cf %}{% include "counterfactual.html.j2" %}{% endif %}
"""

from __future__ import annotations


from audit.render.html import highlighted_pieces, render_page
from audit.text.fmt import estimate_text, p_text


def _est(est: dict | None) -> dict:
    est = est or {}
    p = est.get("p_value")
    return {"text": estimate_text(est, signed=True, missing="–"), "p": "–" if p is None else p_text(p, style="bare"),
            "n": est.get("n", 0), "method": est.get("method", ""), "reason": est.get("reason") or ""}


def pieces(text: str, ranges: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """``text`` cut into (segment, highlighted) pieces at ``ranges`` (the template escapes each piece)."""
    return highlighted_pieces(text, ranges)


def counterfactual_context(section: dict) -> dict:
    """The view of a ``counterfactual`` section that reports/counterfactual.html.j2 renders (as ``cf``)."""
    from audit.stats.counterfactual import EFFECT_WHAT

    def fmt(x):
        return "–" if x is None else f"{x:g}"

    judges = []
    for name, j in section.get("judges", {}).items():
        judges.append({"name": name, "model": j.get("model", name),
                       "ablation": _est(j.get("ablation_effect")), "injection": _est(j.get("injection_effect")),
                       "observational": _est(j.get("observational_mention_delta")),
                       "gap_ablation": _est(j.get("observational_minus_ablation"))["text"],
                       "warnings": j.get("warnings", [])})
    examples = []
    for ex in section.get("examples", []):
        ch = ex.get("changes", [])
        examples.append({**ex,
                         "original_pieces": pieces(ex["original"], [(c["start"], c["end"]) for c in ch]),
                         "variant_pieces": pieces(ex["variant"], [(c["variant_start"], c["variant_end"]) for c in ch]),
                         "ratings": [{"judge": k, "original": fmt(v.get("original")), "variant": fmt(v.get("variant"))}
                                     for k, v in ex.get("ratings", {}).items()]})
    a, i = section.get("ablation", {}), section.get("injection", {})
    card = section.get("audit_card") or {}
    return {
        "n_items": section.get("n_items"),
        "dataset": (card.get("dataset") or {}).get("path", ""), "date": card.get("date", ""),
        "tool_version": card.get("tool_version", ""),
        "ablation": {"n_variants": a.get("n_variants", 0),
                     "methods": ", ".join(f"{k}: {v}" for k, v in sorted((a.get("methods") or {}).items())) or "none"},
        "injection": {"n_variants": i.get("n_variants", 0)},
        "ablation_title": EFFECT_WHAT["ablation"], "injection_title": EFFECT_WHAT["injection"],
        "humans": {"n_items": (section.get("humans") or {}).get("n_items", 0),
                   "delta": _est((section.get("humans") or {}).get("mention_delta"))["text"],
                   "note": (section.get("humans") or {}).get("note", "")},
        "judges": judges,
        "skipped": [{"kind": k, **s} for k in ("ablation", "injection") for s in (section.get(k) or {}).get("skipped", [])],
        "notes": a.get("notes", []),
        "examples": examples,
    }


def render_counterfactual_section(section: dict) -> str:
    """The ``<section>`` alone (HTML, escaped), for a page that has its own head and styles."""
    return render_page("counterfactual.html.j2", cf=counterfactual_context(section), standalone=False)


def render_counterfactual_html(section: dict) -> str:
    """counterfactual.html: a whole page around the section."""
    return render_page("counterfactual.html.j2", cf=counterfactual_context(section), standalone=True)
