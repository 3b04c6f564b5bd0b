"""Short Markdown summaries for a pull-request comment or a CI job summary.

``results_markdown(results)`` summarises a results.json dict (reused by ``judge-audit report
--format md``); ``checks_markdown(report)`` renders a ``judge-audit check`` report dict
(:meth:`audit.gate.policy.GateReport.to_dict`). Pure: dicts in, text out. Every piece of text that comes
from the user's data (judge names, warnings, paths) is escaped, so a judge named ``<img>`` or
``@team`` renders as text and pings nobody.
"""

from __future__ import annotations

from audit.text.fmt import ci_text, estimate_text, num

_MD_SPECIAL = "\\`*_[]|#~"


def escape(text: object) -> str:
    """Text safe inside a Markdown table cell: no HTML, no emphasis/links/code, no mentions, one line."""
    s = " ".join(str(text).split())
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in s)
    return s.replace("@", "@&#8203;")  # a zero-width space after @ keeps GitHub from mentioning anyone


def _num(x, signed: bool = True, digits: int = 2) -> str:
    return num(x, digits, signed, minus=signed)


def estimate_cell(est: dict | None, signed: bool = True) -> str:
    """``+0.56 [+0.36, +0.76]``; ``n/a (reason)`` when missing."""
    if not isinstance(est, dict) or est.get("estimate") is None:
        reason = (est or {}).get("reason") if isinstance(est, dict) else None
        return "n/a" + (f" ({escape(reason)})" if reason else "")
    return estimate_text(est, signed=signed, minus=signed)


def results_markdown(results: dict, *, level: int = 3) -> str:
    """A few lines and one table per audit: humans, then one row per judge."""
    h = "#" * level
    humans = results.get("humans") or {}
    judges = results.get("judges") or {}
    lines = [
        f"{h} judge-audit: {results.get('n_items', 0)} items "
        f"({results.get('n_items_with_human_ratings', 0)} with human ratings, "
        f"{results.get('n_mention', 0)} with an explicit mention)",
        "",
        f"Humans: no-better rate {estimate_cell(humans.get('no_better_rate'), signed=False)}, "
        f"mention Δ {estimate_cell(humans.get('mention_delta'))}.",
        "",
    ]
    excess = any("excess_mention_uplift" in j for j in judges.values())
    flips = any((j.get("position") or {}).get("flip_rate") is not None for j in judges.values())
    head = ["judge", "items", "inflation", "mention Δ"] + (["excess mention uplift"] if excess else []) \
        + ["Spearman ρ"] + (["position flip rate"] if flips else []) + ["warnings"]
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if c == "items" else "---" for c in head) + "|"]
    for name, j in judges.items():
        row = [escape(name), str(j.get("n_items_rated", "")), estimate_cell(j.get("inflation")),
               estimate_cell(j.get("mention_delta"))]
        if excess:
            row.append(estimate_cell(j.get("excess_mention_uplift")))
        row.append(estimate_cell(j.get("spearman")))
        if flips:
            flip = (j.get("position") or {}).get("flip_rate")
            row.append(estimate_cell(flip if isinstance(flip, dict) else {"estimate": flip}, signed=False))
        row.append("; ".join(escape(w) for w in j.get("warnings") or []) or "—")
        lines.append("| " + " | ".join(row) + " |")
    styled = {n: j for n, j in judges.items() if j.get("style_control")}
    if styled:
        lines += ["", "Mention or style? The judge's excess over people, raw and at equal length and markdown "
                      "(OLS with the pair's normalised length and markdown differences):", "",
                  "| judge | excess mention uplift (raw) | style-controlled mention gap | length gap | prefers the longer answer (judge / people) | self-preference |",
                  "|---|---|---|---|---|---|"]
        for name, j in styled.items():
            ex = j["style_control"].get("excess") or {}
            v = j.get("verbosity") or {}
            lines.append(f"| {escape(name)} | {estimate_cell(j.get('excess_mention_uplift'))} | "
                         f"{estimate_cell(ex.get('mention'))} | {estimate_cell(ex.get('length'))} | "
                         f"{estimate_cell(v.get('judge_prefers_longer'), signed=False)} / "
                         f"{estimate_cell(v.get('humans_prefer_longer'), signed=False)} | "
                         f"{estimate_cell(j.get('self_preference'))} |")
    hb = results.get("habit_bias") or {}
    if hb.get("spearman_r") is not None:
        lines += ["", f"Generator habit vs judge mention Δ: Spearman r {_num(hb['spearman_r'])} "
                      f"(p={hb['p_value']:.3g}, {hb.get('n_models')} models)."]
    lines += ["", "<sub>95% confidence intervals in brackets. Scale: 1 = generic much better, 3 = no difference, "
                  "5 = personalized much better. Inflation = judge − human mean; mention Δ = mean rating with an "
                  "explicit attribute mention − without.</sub>"]
    sig = (results.get("audit_card") or {}).get("signature")
    if sig:
        lines += ["", f"<sub>signature: `{sig}`</sub>"]
    return "\n".join(lines) + "\n"


_TESTED = {"CI upper bound": "upper", "CI lower bound": "lower", "|CI bound| farthest from 0": "|bound|", "count": "n"}


def checks_markdown(report: dict, *, level: int = 3) -> str:
    """The verdict and one table row per check of a ``judge-audit check`` report dict."""
    h = "#" * level
    mark = "✅" if report.get("passed") else "❌"
    verdict = "passed" if report.get("passed") else f"failed ({report.get('n_failed')} of {report.get('n_checks')} checks)"
    title = f"{h} {mark} judge-audit check {verdict}: judge {escape(report.get('judge'))}"
    if report.get("baseline"):
        title += f" vs baseline {escape(report['baseline'])}"
    lines = [title, ""]
    if report.get("data"):
        lines += [f"Data: {escape(report['data'])}", ""]
    lines += ["| | check | estimate | 95% CI | limit | tested | detail |", "|---|---|---:|---|---|---:|---|"]
    for c in report.get("checks", []):
        icon = "✅" if c.get("passed") else "❌"
        if c.get("name") == "min_items":
            est, ci, limit = str(int(c.get("estimate") or 0)), "—", f"≥ {int(c['limit'])}"
        else:
            est = _num(c.get("estimate"))
            ci = ci_text(c["ci"], signed=True, minus=True) if c.get("ci") else "no CI"
            comp = "≤" if c.get("comparison") == "<=" else "≥"
            limit = escape(f"{_TESTED.get(c.get('tested'), '')} {comp} {c['limit']:g}")
        bound = "—" if c.get("bound") is None or c.get("name") == "min_items" else _num(c["bound"])
        detail = escape(c.get("detail", "")) if not c.get("passed") or c.get("name", "").startswith("baseline:") else ""
        lines.append(f"| {icon} | {escape(c.get('name'))} | {est} | {ci} | {limit} | {bound} | {detail} |")
    for note in report.get("notes") or []:
        lines.append(f"\nNote: {escape(note)}")
    return "\n".join(lines) + "\n"


def check_markdown(report: dict, results: dict | None = None) -> str:
    """The PR comment of ``judge-audit check``: the checks, then the audit summary."""
    out = checks_markdown(report)
    if results:
        out += "\n<details><summary>Audit summary</summary>\n\n" + results_markdown(results, level=4) + "\n</details>\n"
    return out
