"""report.html of ``judge-audit study``: the judges' numbers against people (pairwise or absolute
form), the annotators' agreement, the averaged / system-level variants when asked, and the
calibration of the judges' stated confidence. Reads results.json only (re-renderable without a
model call); every value is escaped by the template (judge names come from the data)."""

from __future__ import annotations

from markupsafe import Markup

from audit.render.calibration import calibration_context
from audit.render.html import asset, csp_hash, render_page
from audit.render.svg import judge_colors
from audit.text.fmt import estimate_text

PAIRWISE_COLUMNS = (("accuracy", "accuracy"), ("accuracy_decisive", "decisive accuracy"),
                    ("macro_precision", "macro precision"), ("macro_recall", "macro recall"), ("macro_f1", "macro F1"),
                    ("kappa", "κ with the label"), ("positional_agreement", "positional agreement"),
                    ("position_bias", "first-slot share"))
ABSOLUTE_COLUMNS = (("kendall", "Kendall τ_b"), ("spearman", "Spearman ρ"), ("pearson", "Pearson r"),
                    ("inflation", "inflation"))


def _t(est, signed: bool = False) -> str:
    return estimate_text(est, signed=signed, missing="–")


def _pairwise(r: dict) -> dict:
    rows = [{"name": n, "cells": [_t(j.get(k)) for k, _ in PAIRWISE_COLUMNS], "n": j["n_verdicts"],
             "warnings": j["warnings"]} for n, j in r["judges"].items()]
    ak = (r.get("humans") or {}).get("annotator_kappa") or {}
    pairs = [{"pair": k, "kappa": _t(v, signed=True), "n": v.get("n")} for k, v in ak.items() if k != "mean"]
    return {"columns": [c for _, c in PAIRWISE_COLUMNS], "rows": rows, "pairs": pairs,
            "kappa_mean": _t(ak.get("mean"), signed=True) if ak else None}


def _absolute(r: dict) -> list[dict]:
    out = []
    for c in r["criteria"]:
        rows, extra = [], False
        for n, j in r["judges"].items():
            cj = j["criteria"].get(c)
            if not cj:
                continue
            cells = [_t(cj.get(k), signed=k != "kendall") for k, _ in ABSOLUTE_COLUMNS]
            kappa = cj.get("kappa") or {}
            cells.append(_t(kappa.get("quadratic"), signed=True) if "quadratic" in kappa else "–")
            av, sl = cj.get("averaged_over"), cj.get("system_level")
            extra = extra or bool(av or sl)
            cells.append(f"{_t(av['kendall'], signed=True)} ({av['kendall']['n_groups']} {av['group']}s, "
                         f"{av['kendall']['n_groups_skipped']} skipped)" if av else "–")
            cells.append(f"{_t(sl['kendall'], signed=True)} ({sl['n_systems']} systems)" if sl else "–")
            rows.append({"name": n, "n": cj["n_items"], "cells": cells, "warnings": j["warnings"]})
        ref = r["humans"]["criteria"][c]["reference_kendall"]
        out.append({"criterion": c, "rows": rows, "reference": _t(ref), "extra": extra})
    return out


def render_study_html(results: dict) -> str:
    """The study's report page (self-contained: inline CSS, SVG figures as data: URIs, no script)."""
    css = asset("report.css")
    judges = list(results["judges"])
    colors = judge_colors(judges)
    pairwise = results["form"] == "pairwise"
    cal = calibration_context({n: j.get("calibration") for n, j in results["judges"].items()}, colors) if pairwise else None
    card = results.get("audit_card") or {}
    return render_page(
        "study.html.j2", r=results, css=Markup(css), csp=f"default-src 'none'; img-src data:; style-src {csp_hash(css)}; "
                                                  "base-uri 'none'; form-action 'none'",
        pairwise=_pairwise(results) if pairwise else None, absolute=None if pairwise else _absolute(results),
        absolute_columns=[c for _, c in ABSOLUTE_COLUMNS] + ["quadratic κ", "Kendall averaged over groups",
                                                             "system level Kendall"],
        cal=cal, dataset=(card.get("dataset") or {}), signature=card.get("signature"))
