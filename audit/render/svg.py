"""The building blocks of the report's figures: one palette and style, a figure drawn to a
self-contained SVG string (matplotlib, no pyplot), forest plots of estimates with their 95% CIs.
Figures draw numbers from results.json; they compute none."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

from audit.text.fmt import is_finite, num


HUMAN_COLOR = "#3b4252"


HUMAN_LABEL = "people"


# Okabe & Ito (2008) colour-blind-safe colours, without black (too close to humans) and yellow (too light)
JUDGE_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


NEUTRAL = 3.0


RC = {
    "font.family": "DejaVu Sans", "font.size": 9.0, "axes.titlesize": 9.5, "axes.labelsize": 9.0,
    "axes.edgecolor": "#c8cdd6", "axes.linewidth": 0.8, "axes.labelcolor": "#2e3440",
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "axes.axisbelow": True,
    "grid.color": "#e8ebf0", "grid.linewidth": 0.7, "xtick.color": "#4c566a", "ytick.color": "#4c566a",
    "xtick.labelsize": 8.5, "ytick.labelsize": 8.5, "legend.fontsize": 8.0, "legend.frameon": False,
    "text.color": "#2e3440", "text.parse_math": False, "svg.hashsalt": "judge-audit", "svg.fonttype": "path",
    "figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
}


WIDTH = 6.4  # inches; the page scales the SVG to its column


BLOCKS_PER_ROW = 5


@dataclass(frozen=True)
class FigureOut:
    """One figure of the report: SVG text, or the reason it could not be drawn."""

    key: str
    title: str
    caption: str
    alt: str
    svg: str | None = None
    reason: str | None = None


def human_label(judges) -> str:
    """How people are labelled in the figures: "people", unless a judge is called that."""
    label = HUMAN_LABEL
    while label in judges:
        label += " (annotators)"
    return label


def judge_colors(judges: list[str]) -> dict[str, str]:
    """A stable colour per judge (in results.json order); more than six judges get husl colours."""
    if len(judges) <= len(JUDGE_PALETTE):
        return {j: JUDGE_PALETTE[i] for i, j in enumerate(judges)}
    import seaborn as sns

    extra = sns.color_palette("husl", len(judges) - len(JUDGE_PALETTE)).as_hex()
    pal = list(JUDGE_PALETTE) + list(extra)
    return {j: pal[i] for i, j in enumerate(judges)}


CHAR_IN = 0.62 / 72  # inches per character per point of font size: DejaVu Sans averages ~0.6 em


LABEL_MAX = 30  # longer names are shortened in figures (tables show them whole)


def short_name(name: str, n: int = LABEL_MAX) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def text_width(text: str, size: float = 8.5) -> float:
    """Approximate width in inches of ``text`` at ``size`` points (layout without a layout engine)."""
    return len(text) * size * CHAR_IN


def svg_of(draw: Callable, height: float, width: float = WIDTH, *, left: float = 0.6, right: float = 0.2,
         bottom: float = 0.5, top: float = 0.25, wspace: float | None = None, hspace: float | None = None) -> str:
    """Draw a figure of ``width`` x ``height`` inches with margins in inches; return SVG text.

    Margins are set by hand from the label lengths: matplotlib's layout engines measure every text
    again and again and would double the time of a report (benchmarks/bench_report.py).
    """
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, height))
        fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                            wspace=wspace, hspace=hspace)
        draw(fig)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return buf.getvalue()


def has_estimate(est: dict | None) -> bool:
    return isinstance(est, dict) and is_finite(est.get("estimate"))


def ci_or_point(est: dict) -> tuple[float, float]:
    ci = est.get("ci")
    if ci and is_finite(ci[0]) and is_finite(ci[1]):
        return float(ci[0]), float(ci[1])
    return float(est["estimate"]), float(est["estimate"])


def fig_num(x: float, signed: bool = True) -> str:
    return num(x, 2, signed, minus=True)


def forest_text(est: dict, signed: bool) -> str:
    lo, hi = ci_or_point(est)
    ci = f"  [{fig_num(lo, signed)}, {fig_num(hi, signed)}]" if est.get("ci") and is_finite(est["ci"][0]) else "  (no CI)"
    return fig_num(float(est["estimate"]), signed) + ci


def forest(ax, rows: list[tuple[str, dict, str]], *, xlabel: str, signed: bool = True) -> None:
    """Horizontal estimate + 95% CI per row (label, estimate dict, colour), top to bottom."""
    ys = list(range(len(rows)))[::-1]
    for y, (label, est, color) in zip(ys, rows):
        lo, hi = ci_or_point(est)
        e = float(est["estimate"])
        ax.plot([lo, hi], [y, y], color=color, lw=2.4, solid_capstyle="round", zorder=3)
        ax.plot([e], [y], "o", color=color, ms=7, mec="white", mew=1.2, zorder=4)
    ax.set_yticks(ys, [short_name(r[0]) for r in rows])
    for tick, (_, _, color) in zip(ax.get_yticklabels(), rows):
        tick.set_color(color)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.grid(axis="y", visible=False)
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel(xlabel)
    for y, (_, est, _) in zip(ys, rows):  # the numbers, right of the plot
        ax.annotate(forest_text(est, signed), xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(8, 0),
                    textcoords="offset points", va="center", ha="left", fontsize=8, color="#4c566a")


def forest_svg(draw: Callable, rows: list[tuple[str, dict, str]], signed: bool = True) -> str:
    left = max(text_width(short_name(r[0])) for r in rows) + 0.25
    right = max(text_width(forest_text(r[1], signed), 8.0) for r in rows) + 0.25
    width = max(WIDTH, left + right + 3.0)
    return svg_of(draw, 0.42 * len(rows) + 0.95, width, left=left, right=right, bottom=0.5, top=0.3)


def pad_x(ax, values: list[float], include: list[float]) -> None:
    vals = [v for v in values + include if is_finite(v)]
    lo, hi = min(vals), max(vals)
    span = max(hi - lo, 0.2)
    ax.set_xlim(lo - 0.08 * span, hi + 0.08 * span)


def percent_formatter():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)
