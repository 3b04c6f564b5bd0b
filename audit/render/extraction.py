"""What ``judge-audit extraction`` shows: a terminal summary and extraction.html (the verdict table, the
κ matrix, problem rate by source, reject recall by failure category, and every item with its labels
and the verifiers' rationales). Reads the results and the judgments; computes nothing. Conversations,
attributes and rationales are untrusted text: the template escapes them."""

from __future__ import annotations

from markupsafe import Markup

from audit.render.html import asset, csp_hash, render_page
from audit.render.relevance import kappa_heatmap
from audit.text.fmt import estimate_text


def _e(est, signed: bool = False, pct: bool = False) -> str:
    return estimate_text(est, signed=signed, missing="n/a", digits=1 if pct else 2, percent=pct)


def extraction_summary(r: dict) -> str:
    h = r["humans"]
    lines = [f"attributes: {r['n_items']} ({r['n_users']} users, {h['n_annotators']} annotators, "
             f"{h['n_items_labelled']} with a human label; labels {', '.join(f'{k} {v}' for k, v in h['label_counts'].items())})",
             f"humans: acceptance {_e(h['acceptance_rate'], pct=True)}, problem rate {_e(h['problem_rate'], pct=True)}"]
    for s, est in h["problem_rate_by_source"].items():
        lines.append(f"  problem rate, {s}: {_e(est, pct=True)}")
    for pair, est in h["problem_rate_difference"].items():
        ratio = est.get("ratio")
        lines.append(f"  difference {pair}: {_e(est, signed=True)}" + (f" (ratio {ratio:.2f})" if ratio else ""))
    if h["category_shares"]:
        lines.append("  failure categories: " + ", ".join(f"{c} {_e(e, pct=True)}" for c, e in h["category_shares"].items()))
    for name, j in r["judges"].items():
        lines.append(f"{name}: acceptance {_e(j['acceptance_rate'], pct=True)}, inflation {_e(j['acceptance_inflation'], signed=True)}, "
                     f"macro F1 {_e(j['macro_f1'])}, kappa {_e(j['kappa_with_humans'], signed=True)}, reject recall "
                     f"{_e(j['reject_recall'], pct=True)} ({j['n_items']} items, {j['source']})")
        if j["reject_recall_by_category"]:
            lines.append("  reject recall by category: " + ", ".join(f"{c} {_e(e, pct=True)}"
                                                                    for c, e in j["reject_recall_by_category"].items()))
        lines.extend(f"  warning: {w}" for w in j["warnings"])
    k = r["kappa"]
    if k.get("within_humans") is not None:
        lines.append(f"kappa: within humans {_e(k['within_humans'], signed=True)}, within verifiers "
                     f"{_e(k['within_judges'], signed=True)}, human-verifier {_e(k['human_judge'], signed=True)}")
    sig = (r.get("audit_card") or {}).get("signature")
    if sig:
        lines.append(f"signature: {sig}")
    return "\n".join(lines)


def render_extraction_html(r: dict, judgments, dataset) -> str:
    css = asset("report.css")
    by_item: dict[str, list] = {}
    for j in judgments:
        by_item.setdefault(j.item_id, []).append(j)
    items = [{"it": it, "human": it.human_label, "verdicts": by_item.get(it.id, [])} for it in dataset.items]
    return render_page("extraction.html.j2", r=r, e=_e, items=items, kappa_png=kappa_heatmap({"agreement": r["kappa"]})
                       if r["kappa"].get("raters") else None, css=Markup(css),
                       csp=f"default-src 'none'; img-src data:; style-src {csp_hash(css)}; base-uri 'none'; "
                           "form-action 'none'")
