"""The calibration view of a report (run and study): a reliability diagram and the accuracy–coverage
curve of every judge that stated a confidence, and their tables. Reads the ``calibration`` blocks
that :func:`audit.stats.calibration.calibration` wrote into results.json; computes nothing."""

from __future__ import annotations

import base64

from audit.render.svg import WIDTH, FigureOut, short_name, svg_of
from audit.text.fmt import estimate_text, num


def with_confidence(calibrations: dict[str, dict | None]) -> dict[str, dict]:
    """The judges whose calibration block holds at least one verdict with a confidence."""
    return {n: c for n, c in calibrations.items() if c and c.get("n_with_confidence")}


def calibration_figure(calibrations: dict[str, dict | None], colors: dict[str, str]) -> FigureOut:
    key, title = "calibration", "Does the judge's confidence mean anything?"
    caption = ("Left: reliability diagram — for each confidence bin ((m−1)/10, m/10], the share of the judge's decisive "
               "verdicts that agree with people against the bin's mean stated confidence; marker area ∝ verdicts in the "
               "bin. On the diagonal a judge is calibrated; below it, overconfident. Right: accuracy–coverage — keep only "
               "verdicts with confidence ≥ t: how many remain (coverage) and how often they agree with people.")
    rows = with_confidence(calibrations)
    if not rows:
        return FigureOut(key, title, caption, "", reason="no judge stated a confidence")

    def draw(fig):
        left, right = fig.subplots(1, 2)
        left.plot([0, 1], [0, 1], ls="--", color="#aeb5c2", lw=1, zorder=1)
        for name, c in rows.items():
            bins = c["bins"]
            total = max(sum(b["n"] for b in bins), 1)
            left.plot([b["mean_confidence"] for b in bins], [b["accuracy"] for b in bins], "-", color=colors[name],
                      lw=1.2, alpha=0.7, zorder=2)
            left.scatter([b["mean_confidence"] for b in bins], [b["accuracy"] for b in bins],
                         s=[20 + 280 * b["n"] / total for b in bins], color=colors[name], edgecolor="white",
                         linewidth=0.8, zorder=3, label=short_name(name))
            curve = c["coverage_curve"]
            right.step([p["coverage"] for p in curve], [p["accuracy"] for p in curve], where="post", color=colors[name],
                       lw=1.6, label=short_name(name))
        left.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="stated confidence (bin mean)",
                 ylabel="agrees with people (share)")
        right.set(xlim=(1.02, -0.02), ylim=(-0.02, 1.02), xlabel="coverage (share of verdicts kept)",
                  ylabel="accuracy of the kept verdicts")
        left.legend(loc="upper left")

    alt = ("Reliability diagram of each judge's stated confidence against its agreement with people, and its "
           "accuracy-coverage curve.")
    return FigureOut(key, title, caption, alt, svg=svg_of(draw, 3.2, WIDTH, left=0.6, right=0.2, bottom=0.55, top=0.2,
                                                          wspace=0.35))


def curve_rows(c: dict) -> list[dict]:
    """The accuracy–coverage table: the thresholds at which the kept set changes (first of each run)."""
    out, last = [], None
    for p in c.get("coverage_curve") or []:
        if p["n"] != last:
            out.append(p)
            last = p["n"]
    return out


def calibration_context(calibrations: dict[str, dict | None], colors: dict[str, str]) -> dict | None:
    """What the calibration partial (reports/calibration.html.j2) shows; None when no judge stated a confidence."""
    rows = with_confidence(calibrations)
    if not rows:
        return None
    fig = calibration_figure(rows, colors)
    return {"threshold": next(iter(rows.values()))["threshold"],
            "judges": [{"name": n, "n": c["n"], "n_with_confidence": c["n_with_confidence"],
                        "high": f"{estimate_text(c['high'], missing='–')} (n={c['high']['n']})",
                        "low": f"{estimate_text(c['low'], missing='–')} (n={c['low']['n']})",
                        "ece": estimate_text(c["ece"], missing="–"), "brier": estimate_text(c["brier"], missing="–"),
                        "curve": [{"threshold": num(p["threshold"], 2), "n": p["n"], "coverage": num(p["coverage"], 1, percent=True),
                                   "accuracy": num(p["accuracy"], 1, percent=True)} for p in curve_rows(c)]}
                       for n, c in rows.items()],
            "without": [n for n, c in calibrations.items() if n not in rows],
            "figure": {"title": fig.title, "caption": fig.caption, "alt": fig.alt,
                       "src": "data:image/svg+xml;base64," + base64.b64encode(fig.svg.encode()).decode("ascii")}}
