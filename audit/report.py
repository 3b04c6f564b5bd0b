"""Render report.html from results.json and the judgment rows (Jinja2 with autoescaping on).

Every string from the data or a model is untrusted and reaches the page only through Jinja's
autoescape; the template never marks data as safe. Figures are embedded PNGs (no network).
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache
from .assets import asset_dir

import jinja2

from .flag import MentionFlag
from .judge import Judgment
from .load import SCALE, Dataset


@lru_cache(maxsize=None)
def _env() -> jinja2.Environment:
    root = asset_dir("reports")
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: root.joinpath(name).read_text(encoding="utf-8")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = lambda x, d=2: "–" if x is None else f"{x:+.{d}f}" if d == 2 else f"{x:.{d}f}"
    env.filters["plain"] = lambda x, d=2: "–" if x is None else f"{x:.{d}f}"
    env.filters["pct"] = lambda x: "–" if x is None else f"{100 * x:.1f}%"
    return env


def _ci(est: dict | None, signed: bool = True) -> str:
    if not est or est.get("estimate") is None:
        return "–"
    fmt = "{:+.2f}" if signed else "{:.2f}"
    text = fmt.format(est["estimate"])
    if est.get("ci"):
        lo, hi = est["ci"]
        text += f" [{fmt.format(lo)}, {fmt.format(hi)}]"
    return text


def _p(est: dict | None) -> str:
    if not est or est.get("p_value") is None:
        return "–"
    p = est["p_value"]
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def inflation_figure(results: dict) -> str | None:
    """Forest plot of each judge's inflation with its 95% CI; returns a base64 PNG."""
    rows = [(name, j["inflation"]) for name, j in results["judges"].items() if j["inflation"].get("estimate") is not None]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    palette = sns.color_palette("colorblind", len(rows))
    fig, ax = plt.subplots(figsize=(6.4, 0.6 * len(rows) + 1.2), dpi=110)
    for i, ((name, est), color) in enumerate(zip(rows, palette)):
        lo, hi = est["ci"] if est.get("ci") else (est["estimate"], est["estimate"])
        ax.plot([lo, hi], [i, i], color=color, lw=2.5)
        ax.plot(est["estimate"], i, "o", color=color, ms=8)
    ax.axvline(0, color="black", lw=1, ls="--")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.set_xlabel("inflation: judge − mean human rating (95% CI)")
    ax.invert_yaxis()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _highlight(text: str, flag: MentionFlag | None) -> list[tuple[str, bool]]:
    """Split ``text`` into (segment, is_mention) pieces; the template escapes each piece."""
    if not flag or not flag.spans:
        return [(text, False)]
    pieces, pos = [], 0
    for start, end in sorted(flag.spans):
        if start < pos:
            continue
        pieces.append((text[pos:start], False))
        pieces.append((text[start:end], True))
        pos = end
    pieces.append((text[pos:], False))
    return [p for p in pieces if p[0]]


def report_context(results: dict, judgments: list[Judgment], dataset: Dataset, flags: dict[str, MentionFlag]) -> dict:
    by_item: dict[str, list[Judgment]] = {}
    for j in judgments:
        by_item.setdefault(j.item_id, []).append(j)
    items = []
    for item in dataset.items:
        flag = flags.get(item.id)
        items.append({
            "item": item, "mention": bool(flag and flag.flagged), "flag_source": flag.source if flag else "",
            "personalized_pieces": _highlight(item.personalized, flag),
            "judgments": sorted(by_item.get(item.id, []), key=lambda j: (j.judge, j.sample, j.order or "")),
        })
    return {
        "r": results, "items": items, "scale": SCALE, "ci": _ci, "p": _p,
        "inflation_png": inflation_figure(results),
    }


def render_html(results: dict, judgments: list[Judgment], dataset: Dataset, flags: dict[str, MentionFlag]) -> str:
    return _env().get_template("report.html.j2").render(**report_context(results, judgments, dataset, flags))
