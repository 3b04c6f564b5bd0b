"""What ``judge-audit drift`` shows: the decomposition in one terminal screen, and drift.html (the
same tables, the EWMA chart of a series, the flipped items). Reads drift.json; computes nothing.
Judge names and item ids come from the runs: the page escapes them."""

from __future__ import annotations

import base64

from markupsafe import Markup

from audit.render.html import asset, csp_hash, render_page
from audit.render.svg import HUMAN_COLOR, WIDTH, judge_colors, short_name, svg_of
from audit.text.fmt import estimate_text, num


def _e(est, signed: bool = True) -> str:
    return estimate_text(est, signed=signed, missing="n/a")


def fingerprint_line(j: dict) -> str:
    if j.get("fingerprint_diff") is None:
        return "fingerprint: " + j.get("fingerprint_note", "not recorded")
    return ("fingerprint: identical in both runs" if not j["fingerprint_diff"]
            else "fingerprint differs: " + ", ".join(j["fingerprint_diff"]))


def share_text(j: dict) -> str:
    return (f"{num(j['judge_share'], 0, percent=True)} of the total change" if j.get("judge_share") is not None
            else f"n/a ({j.get('judge_share_reason', '')})")


def drift_summary(r: dict) -> str:
    """The decomposition per judge, one screen."""
    runs = r["runs"]
    a, b = runs[0], runs[-1]
    lines = [f"drift: {a['path']} ({a.get('date') or 'undated'}) -> {b['path']} ({b.get('date') or 'undated'})"
             + (f", {len(runs)} runs" if len(runs) > 2 else "")]
    for name, j in r["judges"].items():
        p, f = j["people"], j["flips"]
        lines += ["", f"{name}: {fingerprint_line(j)}",
                  f"  anchors {j['judge_shift']['n_anchors']} of {j['n_common_items']} common items (identical request, "
                  "attributes and answers)",
                  f"  judge shift    {_e(j['judge_shift'])}  (mean rating change on the anchors)",
                  f"  total change   {_e(j['total_change'])}  (all common items)",
                  f"  system change  {_e(j['system_change'])}  (total - judge shift)",
                  f"  judge share    {share_text(j)}",
                  f"  vs people: inflation {_e(p['inflation_a'])} -> {_e(p['inflation_b'])}, change "
                  f"{_e(p['inflation_change'])}; Spearman {num(p['spearman_a'], 2)} -> {num(p['spearman_b'], 2)}"
                  + ("" if p["closer_to_people"] is None else
                     f" ({'closer to' if p['closer_to_people'] else 'further from'} people)"),
                  f"  flips: {f['n_flipped']} of {f['n_items']} items changed direction ({f['n_flipped_anchors']} of "
                  f"{f['n_anchors']} anchors)"]
        s = (r.get("series") or {}).get(name)
        if s:
            ch = s["chart"]
            lines.append(f"  series: EWMA (lambda {ch['lambda']:g}, L {ch['L']:g}) of the shift against the first run: "
                         + ("no run outside the control limits" if ch["first_outside"] is None
                            else f"first outside the limits: run {ch['first_outside'] + 1} ({s['first_outside_run']})"))
    return "\n".join(lines)


def ewma_svg(name: str, series: dict, color: str) -> str:
    pts = [p for p in series["chart"]["points"] if p["ewma"] is not None]

    def draw(fig):
        ax = fig.subplots()
        xs = [p["run"] + 1 for p in pts]
        ax.fill_between(xs, [p["lower"] for p in pts], [p["upper"] for p in pts], color=HUMAN_COLOR, alpha=0.08, lw=0,
                        step="mid", label="control limits")
        ax.plot(xs, [p["shift"] for p in pts], "o", color="#aeb5c2", ms=4, label="judge shift on the anchors")
        ax.plot(xs, [p["ewma"] for p in pts], "-o", color=color, ms=5, lw=1.6, label="EWMA")
        out = [p for p in pts if p["outside"]]
        if out:
            ax.plot([p["run"] + 1 for p in out], [p["ewma"] for p in out], "x", color="#b3261e", ms=9, mew=2,
                    label="outside the limits")
        ax.axhline(0, color=HUMAN_COLOR, lw=0.9, ls="--")
        ax.set(xlabel="run", ylabel="rating shift vs the first run", title=short_name(name))
        ax.set_xticks(xs)
        ax.legend(loc="upper left")

    return svg_of(draw, 3.0, WIDTH, left=0.7, right=0.2, bottom=0.5, top=0.35)


def render_drift_html(r: dict) -> str:
    css = asset("report.css")
    colors = judge_colors(list(r["judges"]))
    charts = []
    for name, s in (r.get("series") or {}).items():
        if any(p["ewma"] is not None for p in s["chart"]["points"]):
            svg = ewma_svg(name, s, colors[name])
            charts.append({"name": name, "src": "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()})
    rows = [{"name": n, "fingerprint": fingerprint_line(j), "shift": _e(j["judge_shift"]),
             "n_anchors": j["judge_shift"]["n_anchors"], "total": _e(j["total_change"]), "system": _e(j["system_change"]),
             "share": share_text(j), "n_common": j["n_common_items"],
             "inflation": f"{_e(j['people']['inflation_a'])} → {_e(j['people']['inflation_b'])}",
             "inflation_change": _e(j["people"]["inflation_change"]), "flips": j["flips"],
             "fingerprints": j.get("fingerprints") or {}, "diff": j.get("fingerprint_diff") or [],
             "fields": list(dict.fromkeys([*((j.get("fingerprints") or {}).get("a") or {}),
                                           *((j.get("fingerprints") or {}).get("b") or {})]))}
            for n, j in r["judges"].items()]
    return render_page("drift.html.j2", r=r, rows=rows, charts=charts, css=Markup(css),
                       csp=f"default-src 'none'; img-src data:; style-src {csp_hash(css)}; base-uri 'none'; "
                           "form-action 'none'")
