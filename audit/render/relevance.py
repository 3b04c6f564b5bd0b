"""Render relevance.html from the ``relevance`` section of results.json and the label rows.

Jinja2 with autoescaping on: attributes, prompts, names and judge reasons are untrusted and reach
the page only escaped; the template never marks data as safe. Figures are embedded PNGs.
"""

from __future__ import annotations

import base64
import io

import numpy as np

from audit.data.relevance import RelevanceDataset, RelevanceJudgment
from audit.audits.relevance import pair_frame
from audit.render.html import render_page
from audit.text.fmt import estimate_text


def _ci(est: dict | None, d: int = 2, pct: bool = False) -> str:
    return estimate_text(est, digits=max(d - 1, 0) if pct else d, percent=pct, missing="–")


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    return plt, sns


def kappa_heatmap(section: dict) -> str | None:
    """Annotated heatmap of pairwise Cohen's kappa (blank where undefined); base64 PNG."""
    ag = section["agreement"]
    raters = ag["raters"]
    if len(raters) < 2:
        return None
    plt, sns = _plt()
    m = np.array([[np.nan if v is None else v for v in row] for row in ag["kappa_matrix"]], float)
    size = 1.0 + 0.62 * len(raters)
    fig, ax = plt.subplots(figsize=(size + 1.6, size), dpi=110)
    sns.heatmap(m, mask=np.isnan(m), vmin=-0.2, vmax=1.0, cmap="viridis", annot=True, fmt=".2f", square=True,
                xticklabels=raters, yticklabels=raters, cbar_kws={"label": "Cohen's κ"}, ax=ax, annot_kws={"size": 8})
    ax.grid(False)
    n_h = sum(1 for g in ag["groups"] if g == "human")
    if 0 < n_h < len(raters):
        ax.axhline(n_h, color="white", lw=3)
        ax.axvline(n_h, color="white", lw=3)
    ax.tick_params(axis="x", rotation=45)
    for label in ax.get_xticklabels():
        label.set_ha("right")
    return _png(fig)


def _raters_with(section: dict, key: str) -> list[tuple[str, dict, str]]:
    rows = [(n, j, "judge") for n, j in section["judges"].items()]
    rows += [(f"{n} (baseline, evaluation half)", b, "baseline") for n, b in section["baselines"].items() if b.get("available")]
    return [(n, e, kind) for n, e, kind in rows if e.get(key) is not None]


def prf_figure(section: dict) -> str | None:
    """Precision, recall and F1 against the human majority with 95% CIs, one panel each; base64 PNG."""
    rows = _raters_with(section, "f1")
    if not rows:
        return None
    plt, sns = _plt()
    palette = sns.color_palette("colorblind", len(rows))
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 0.55 * len(rows) + 1.6), dpi=110, sharey=True)
    for ax, metric in zip(axes, ("precision", "recall", "f1")):
        for i, ((name, entry, kind), color) in enumerate(zip(rows, palette)):
            est = entry[metric]
            if est.get("estimate") is None:
                continue
            lo, hi = est["ci"] if est.get("ci") else (est["estimate"], est["estimate"])
            ax.plot([lo, hi], [i, i], color=color, lw=2.5)
            ax.plot(est["estimate"], i, "s" if kind == "baseline" else "o", color=color, ms=8)
        ax.set_xlim(-0.02, 1.02)
        ax.set_title(metric if metric != "f1" else "F1")
    axes[0].set_yticks(range(len(rows)), [r[0] for r in rows])
    axes[0].invert_yaxis()
    fig.suptitle("against the human majority label (95% CI)", fontsize=10)
    return _png(fig)


def selection_figure(section: dict) -> str | None:
    """Selection rate per rater with 95% Wilson CIs and the humans' rate as a reference line; base64 PNG."""
    h = section["humans"]["selection_rate"]
    rows = [("humans (all labels)", h)] + [(a, e) for a, e in section["humans"]["per_annotator"].items()]
    rows += [(n, j["selection_rate"]) for n, j in section["judges"].items()]
    rows += [(f"{n} (baseline)", b["selection_rate"]) for n, b in section["baselines"].items() if b.get("available")]
    rows = [(n, e) for n, e in rows if e and e.get("estimate") is not None]
    if not rows:
        return None
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(6.8, 0.42 * len(rows) + 1.2), dpi=110)
    n_h = 1 + len(section["humans"]["per_annotator"])
    for i, (name, est) in enumerate(rows):
        color = "#4c72b0" if i < n_h else "#dd8452"
        lo, hi = est["ci"] if est.get("ci") else (est["estimate"], est["estimate"])
        ax.plot([lo, hi], [i, i], color=color, lw=2.5)
        ax.plot(est["estimate"], i, "o", color=color, ms=7)
    if h.get("estimate") is not None:
        ax.axvline(h["estimate"], color="black", lw=1, ls="--")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of pairs marked relevant (95% Wilson CI)")
    return _png(fig)


def disagreements(section: dict, judgments: list[RelevanceJudgment], dataset: RelevanceDataset) -> list[dict]:
    """Pairs where at least one judge or baseline-free label disagrees with the human majority, most contested first."""
    frame = pair_frame(dataset, section["ties"]["rule"]).set_index("pair_id")
    by_pair: dict[str, list[RelevanceJudgment]] = {}
    for j in judgments:
        by_pair.setdefault(j.pair_id, []).append(j)
    out = []
    for pair in dataset.pairs:
        row = frame.loc[pair.id]
        maj = row["majority"]
        labs = sorted(by_pair.get(pair.id, []), key=lambda j: j.judge)
        against = [j for j in labs if j.relevant is not None and not np.isnan(maj) and bool(j.relevant) != bool(maj)]
        if not against:
            continue
        out.append({"pair": pair, "k": int(row["k"]), "m": int(row["m"]), "tie": bool(row["tie"]),
                    "majority": None if np.isnan(maj) else bool(maj), "judgments": labs,
                    "n_against": len(against), "against": {j.judge for j in against}})
    out.sort(key=lambda d: (-d["n_against"], d["pair"].id))
    return out


def render_relevance_html(section: dict, judgments: list[RelevanceJudgment], dataset: RelevanceDataset) -> str:
    failed = [j for j in judgments if j.status == "failed"]
    return render_page("relevance.html.j2", 
        r=section, ci=_ci, kappa_png=kappa_heatmap(section), prf_png=prf_figure(section),
        selection_png=selection_figure(section), disagreements=disagreements(section, judgments, dataset),
        n_failed=len(failed),
    )
