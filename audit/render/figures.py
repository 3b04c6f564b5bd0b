"""The report's figures (seaborn on matplotlib), returned as SVG documents.

report.html embeds each as ``<img src="data:image/svg+xml;base64,...">``: an SVG inside an ``<img>``
can run no script and touch nothing in the page, whatever text (judge names) it draws.

Every figure reads numbers that :mod:`audit.audits.results` already computed (estimates and their 95%
CIs from results.json), except two descriptive views of the ratings: the mean rating per
generator and rater (:func:`generator_means`, with the run's cluster bootstrap) and the share
of ratings at each scale point. One colour per judge,
the same in every figure and in the page (:func:`judge_colors`); people are always drawn in
:data:`HUMAN_COLOR` as the reference.

No pyplot: each figure is a :class:`matplotlib.figure.Figure` drawn inside an ``rc_context``, so
rendering a report leaves matplotlib's global state alone and never opens a window. Output is
deterministic (fixed SVG hash salt, no date in the metadata), so re-rendering the same run
gives the same bytes. Mathtext is off: a judge named ``$x$`` is drawn as typed.
"""

from __future__ import annotations

import math

from audit.render.svg import (BLOCKS_PER_ROW, HUMAN_COLOR, NEUTRAL, WIDTH, FigureOut, ci_or_point, fig_num, forest, forest_svg,
                              has_estimate, human_label, pad_x, percent_formatter, short_name, svg_of,
                              text_width)




def inflation_figure(results: dict, colors: dict[str, str]) -> FigureOut:
    key, title = "inflation", "Inflation: judge − people"
    caption = ("Mean over items of (judge rating − the item's mean human rating), with its 95% CI. "
               "The dashed line at 0 is people's own rating: a judge to the right likes personalized "
               "answers more than people do.")
    rows = [(n, j["inflation"], colors[n]) for n, j in results.get("judges", {}).items() if has_estimate(j.get("inflation"))]
    if not rows:
        return FigureOut(key, title, caption, "", reason="no judge has items rated by both the judge and people")

    def draw(fig):
        ax = fig.subplots()
        forest(ax, rows, xlabel="inflation (rating points, 95% CI)")
        ax.axvline(0, color=HUMAN_COLOR, lw=1.1, ls="--", zorder=2)
        ax.annotate(human_label(colors) + " = 0", xy=(0, 1.0), xycoords=("data", "axes fraction"), xytext=(3, 2),
                    textcoords="offset points", fontsize=8, color=HUMAN_COLOR, va="bottom")
        pad_x(ax, [v for _, e, _ in rows for v in ci_or_point(e)], [0.0])

    alt = "Forest plot of each judge's inflation with 95% confidence intervals; zero marks people's rating."
    return FigureOut(key, title, caption, alt, svg=forest_svg(draw, rows))


def mention_figure(results: dict, colors: dict[str, str]) -> FigureOut:
    key, title = "mention", "Mention Δ: judges vs people"
    caption = ("Mean rating of items whose personalized answer explicitly names an attribute minus the mean of the "
               "rest, with 95% CIs. The grey band and dotted line are people's Δ on the same items: a judge far "
               "right of it rewards mentions that people do not.")
    humans = (results.get("humans") or {}).get("mention_delta")
    rows = [(n, j["mention_delta"], colors[n]) for n, j in results.get("judges", {}).items()
            if has_estimate(j.get("mention_delta"))]
    if not rows:
        return FigureOut(key, title, caption, "", reason="no judge has items both with and without an explicit mention")
    all_rows = ([(human_label(colors), humans, HUMAN_COLOR)] if has_estimate(humans) else []) + rows

    def draw(fig):
        ax = fig.subplots()
        if has_estimate(humans):
            lo, hi = ci_or_point(humans)
            ax.axvspan(lo, hi, color=HUMAN_COLOR, alpha=0.08, lw=0, zorder=1)
            ax.axvline(humans["estimate"], color=HUMAN_COLOR, lw=1.1, ls=":", zorder=2)
        ax.axvline(0, color="#aeb5c2", lw=0.9, zorder=1)
        forest(ax, all_rows, xlabel="mention Δ (rating points, 95% CI)")
        pad_x(ax, [v for _, e, _ in all_rows for v in ci_or_point(e)], [0.0])

    alt = "Forest plot of each judge's mention delta with 95% CIs next to people's mention delta."
    return FigureOut(key, title, caption, alt, svg=forest_svg(draw, all_rows))


def agreement_figure(results: dict, colors: dict[str, str]) -> FigureOut:
    key, title = "agreement", "Agreement with people beside the human ceiling"
    caption = ("Quadratic-weighted Cohen's κ of each judge with the other annotators (leave-one-annotator-out, "
               "scored exactly like the ceiling), with 95% CIs. The grey band is the human ceiling: how well one "
               "annotator agrees with the others. A judge inside the band agrees with people about as well as a "
               "person does.")
    metric = "kappa_quadratic"
    ceiling = ((results.get("humans") or {}).get("ceiling") or {}).get(metric)
    rows = []
    for n, j in results.get("judges", {}).items():
        ag = j.get("agreement") or {}
        est = (ag.get("matched") or {}).get(metric) or ag.get(metric)
        if has_estimate(est):
            rows.append((n, est, colors[n]))
    if not rows:
        return FigureOut(key, title, caption, "", reason="agreement not measured (needs items rated by people and judges)")
    all_rows = ([(human_label(colors) + " (ceiling)", ceiling, HUMAN_COLOR)] if has_estimate(ceiling) else []) + rows

    def draw(fig):
        ax = fig.subplots()
        if has_estimate(ceiling):
            lo, hi = ci_or_point(ceiling)
            ax.axvspan(lo, hi, color=HUMAN_COLOR, alpha=0.08, lw=0, zorder=1)
            ax.axvline(ceiling["estimate"], color=HUMAN_COLOR, lw=1.1, ls=":", zorder=2)
        forest(ax, all_rows, xlabel="quadratic-weighted κ with people (95% CI)", signed=False)
        pad_x(ax, [v for _, e, _ in all_rows for v in ci_or_point(e)], [0.0])

    alt = "Forest plot of each judge's kappa with people beside the human ceiling band."
    return FigureOut(key, title, caption, alt, svg=forest_svg(draw, all_rows, signed=False))


def generator_means(results: dict, colors: dict[str, str]):
    """The table the generator figure draws, read from results.json (``generators.G.mean_rating``):
    one row per (generator, rater) with mean, lo, hi and n; None when results.json has none."""
    import pandas as pd

    hl = human_label(colors)
    if "generators" not in results:
        return None
    rows = []
    for gen, g in results["generators"].items():
        mr = g.get("mean_rating")
        if not isinstance(mr, dict):
            return None
        for rater, est in [(hl, mr.get("humans")), *((n, e) for n, e in (mr.get("judges") or {}).items() if n in colors)]:
            if has_estimate(est):
                lo, hi = (est["ci"] if est.get("ci") else (None, None))
                rows.append((gen, rater, float(est["estimate"]), lo, hi, int(est.get("n") or 0)))
    return pd.DataFrame(rows, columns=["generator", "rater", "mean", "lo", "hi", "n"])


def generator_figure(results: dict, colors: dict[str, str]) -> FigureOut:
    """Mean preference per generator, people and each judge side by side (``generators.G.mean_rating``
    of results.json: estimates and CIs computed by :func:`audit.stats.measure.group_means`)."""
    key, title = "generators", "Mean preference per generator"
    caption = ("Mean rating of each generator's personalized answers (1 = generic much better, 3 = no difference, "
               "5 = personalized much better), people first, then each judge, with 95% cluster-bootstrap CIs. "
               "Below the dashed line, people (or a judge) prefer the generic answer.")
    means = generator_means(results, colors)
    if means is None:
        return FigureOut(key, title, caption, "", reason="not in this results.json (made by an older version): "
                                                          "re-run `judge-audit run` (cached judgments cost nothing)")
    if means.empty:
        return FigureOut(key, title, caption, "", reason="no ratings")
    hl = human_label(colors)
    present = set(means["rater"])
    raters = [r for r in [hl, *colors] if r in present]
    palette = {hl: HUMAN_COLOR, **colors}
    gens = sorted(means["generator"].unique())
    table = {(r.generator, r.rater): r for r in means.itertuples(index=False)}
    dodge = 0.62 if len(raters) > 1 else 0.0
    step = dodge / max(len(raters) - 1, 1)

    def draw(fig):
        from matplotlib.lines import Line2D

        ax = fig.subplots()
        ax.axhline(NEUTRAL, color="#7b8494", lw=1.0, ls="--", zorder=1)
        for k, rater in enumerate(raters):
            xs, ys, lo, hi = [], [], [], []
            for i, gen in enumerate(gens):
                r = table.get((gen, rater))
                if r is None:
                    continue
                xs.append(i - dodge / 2 + k * step)
                ys.append(r.mean)
                lo.append(r.mean - (r.lo if r.lo is not None else r.mean))
                hi.append((r.hi if r.hi is not None else r.mean) - r.mean)
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", color=palette[rater], ms=5.5, mec="white", mew=0.8,
                        elinewidth=1.6, zorder=3)
        ax.set_xticks(range(len(gens)), [short_name(g) for g in gens])
        ax.set_xlim(-0.6, len(gens) - 0.4)
        ax.set_ylim(0.8, 5.2)
        ax.set_yticks([1, 2, 3, 4, 5], ["1 generic ≫", "2", "3 no diff.", "4", "5 personal. ≫"])
        ax.set_xlabel("generator of the personalized answer")
        ax.set_ylabel("mean rating")
        ax.grid(axis="x", visible=False)
        handles = [Line2D([], [], ls="none", marker="o", color=palette[r], ms=6) for r in raters]
        ax.legend(handles, [short_name(r) for r in raters], ncols=min(len(raters), 5), loc="upper left",
                  bbox_to_anchor=(0.0, -(0.55 + xlab) / 2.7), borderaxespad=0, handletextpad=0.3, columnspacing=1.2)
        if rotate:
            for t in ax.get_xticklabels():
                t.set_rotation(25)
                t.set_ha("right")

    alt = "Mean preference per generator for people and each judge, with the neutral line at 3."
    legend_rows = math.ceil(len(raters) / 5)
    rotate = len(gens) > 4
    xlab = max(text_width(short_name(g)) for g in gens) * 0.45 if rotate else 0.0
    bottom = 0.55 + xlab + 0.22 * legend_rows + 0.15
    fig_w = max(WIDTH, 1.2 * len(gens) + 2)
    return FigureOut(key, title, caption, alt, svg=svg_of(draw, 2.7 + bottom, fig_w, left=1.25, right=0.15,
                                                        bottom=bottom, top=0.15))


def habit_figure(results: dict, colors: dict[str, str]) -> FigureOut:
    key, title = "habit", "Generator habit vs judge mention Δ"
    hb = results.get("habit_bias") or {}
    caption = ("x: how often each model names the user's attributes when it writes personalized answers itself "
               "(its generator habit); y: its mention Δ as a judge; both with 95% CIs. The paper found r = 0.90: "
               "models that mention attributes as writers reward mentions as judges.")
    pts = []
    for n, j in results.get("judges", {}).items():
        habit, md = j.get("habit"), j.get("mention_delta")
        if isinstance(habit, dict) and habit.get("mention_rate") is not None and has_estimate(md):
            pts.append((n, habit, md, colors[n]))
    if len(pts) < 2:
        reason = hb.get("reason") or f"needs models that are both generators and judges (have {len(pts)})"
        return FigureOut(key, title, caption, "", reason=reason)
    humans = (results.get("humans") or {}).get("mention_delta")

    def draw(fig):
        ax = fig.subplots()
        if has_estimate(humans):
            ax.axhline(humans["estimate"], color=HUMAN_COLOR, lw=1.1, ls=":", zorder=1)
            ax.annotate(f"{human_label(colors)}: Δ", xy=(1.0, humans["estimate"]), xycoords=("axes fraction", "data"),
                        xytext=(-2, 3), textcoords="offset points", ha="right", fontsize=8, color=HUMAN_COLOR)
        for n, habit, md, color in pts:
            x = float(habit["mention_rate"])
            xl, xh = ci_or_point(habit) if habit.get("ci") else (x, x)
            y = float(md["estimate"])
            yl, yh = ci_or_point(md)
            ax.errorbar([x], [y], xerr=[[x - xl], [xh - x]], yerr=[[y - yl], [yh - y]], fmt="o", color=color,
                        ms=7, mec="white", mew=1.2, elinewidth=1.3, alpha=0.95, zorder=3)
            ax.annotate(short_name(n, 22), xy=(x, y), xytext=(6, 5), textcoords="offset points", fontsize=8, color=color)
        ax.set_xlim(-0.04, 1.04)
        ax.xaxis.set_major_formatter(percent_formatter())
        ax.set_xlabel("generator habit: share of its personalized answers that name an attribute")
        ax.set_ylabel("judge mention Δ (rating points)")
        if hb.get("spearman_r") is not None:
            p = hb.get("p_value")
            ptxt = "–" if p is None else ("< 0.001" if p < 0.001 else f"= {p:.3f}")
            ax.set_title(f"Spearman r = {fig_num(hb['spearman_r'])}, p {ptxt} ({hb.get('n_models')} models)", loc="left")
        else:
            ax.set_title(f"Spearman r not computed: {hb.get('reason', 'too few models')}", loc="left")

    alt = "Scatter of generator mention habit against judge mention delta, with the Spearman correlation."
    return FigureOut(key, title, caption, alt, svg=svg_of(draw, 3.6, left=0.75, right=1.1, bottom=0.55, top=0.35))


def kappa_figure(results: dict, colors: dict[str, str]) -> FigureOut:
    key, title = "kappa", "Pairwise agreement of annotators and judges"
    ag = results.get("agreement") or {}
    caption = ("Quadratic-weighted Cohen's κ between every pair of raters on the items both rated "
               "(people first, then judges; judges' item ratings rounded half toward 3). Blank: fewer than "
               "two shared items.")
    raters, matrix = ag.get("raters") or [], ag.get("kappa_matrix") or []
    if len(raters) < 2 or not matrix:
        return FigureOut(key, title, caption, "", reason="needs at least two raters with shared items")
    import numpy as np
    import seaborn as sns

    groups = ag.get("groups") or {}
    order = [r for r in raters if groups.get(r) == "human"] + [r for r in raters if groups.get(r) != "human"]
    idx = [raters.index(r) for r in order]
    m = np.array([[np.nan if matrix[i][k] is None else float(matrix[i][k]) for k in idx] for i in idx])
    n_items = ag.get("n_items")
    if n_items:
        n = np.array([[n_items[i][k] or 0 for k in idx] for i in idx], float)
        m[n < 2] = np.nan
    np.fill_diagonal(m, np.nan)
    n_h = sum(1 for r in order if groups.get(r) == "human")
    size = len(order)
    cmap = sns.color_palette("blend:#f4f6f9,#9fb8d6,#2f5d8c", as_cmap=True)

    annot = size <= 14
    cell = 0.42 if annot else max(0.12, min(0.42, 6.0 / size))
    label = max(text_width(short_name(r, 24), 8.0) for r in order)
    left, bottom, top, right = label + 0.2, label * 0.66 + 0.3, 0.15, 1.05
    grid = cell * size
    width, height = left + grid + right, bottom + grid + top

    def draw(fig):
        ax = fig.add_axes((left / width, bottom / height, grid / width, grid / height))
        cax = fig.add_axes(((left + grid + 0.2) / width, (bottom + grid * 0.15) / height, 0.14 / width,
                            grid * 0.7 / height))
        sns.heatmap(m, ax=ax, cbar_ax=cax, vmin=0, vmax=1, cmap=cmap, annot=annot, fmt=".2f",
                    annot_kws={"fontsize": 7 if size > 9 else 8}, linewidths=0.6, linecolor="white",
                    cbar_kws={"label": "κ (quadratic)"}, xticklabels=[short_name(r, 24) for r in order],
                    yticklabels=[short_name(r, 24) for r in order])
        ax.grid(False)
        if 0 < n_h < size:
            ax.axhline(n_h, color="#2e3440", lw=1.2)
            ax.axvline(n_h, color="#2e3440", lw=1.2)
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
            for tick, name in zip(ticks, order):
                tick.set_color(colors.get(name, HUMAN_COLOR) if groups.get(name) != "human" else HUMAN_COLOR)
        for t in ax.get_xticklabels():
            t.set_rotation(40)
            t.set_ha("right")
            t.set_rotation_mode("anchor")
        ax.tick_params(length=0, labelsize=8)
        cax.tick_params(labelsize=7.5)

    alt = "Heatmap of pairwise quadratic-weighted kappa between annotators and judges."
    return FigureOut(key, title, caption, alt, svg=svg_of(draw, height, width))


def rating_shares(results: dict, colors: dict[str, str]):
    """DataFrame indexed by rater (``human_label(colors)`` first, then judges) with columns 1..5 holding
    the share of that rater's single ratings at each value, and ``n`` (``humans.rating_shares`` and
    ``judges.J.rating_shares`` of results.json); None when results.json has none."""
    import pandas as pd

    humans = (results.get("humans") or {}).get("rating_shares")
    judges = {n: (results.get("judges") or {}).get(n, {}).get("rating_shares") for n in colors}
    if humans is None and not any(judges.values()):
        return None
    rows = [(human_label(colors), humans)] + [(n, s) for n, s in judges.items() if s]
    table = [{"rater": r, **{k: float(s.get(str(k), 0.0)) for k in range(1, 6)}, "n": int(s.get("n", 0))}
             for r, s in rows if s is not None]
    return pd.DataFrame(table).set_index("rater")


def distribution_figure(results: dict, colors: dict[str, str]) -> FigureOut:
    """Rating distribution of each judge (bars) over people's (grey outline), one block per judge.

    The shares come from results.json (:func:`rating_shares`). Blocks sit
    side by side in one axes per row of up to :data:`BLOCKS_PER_ROW` judges (one axes draws much
    faster than a grid of small ones).
    """
    key, title = "distributions", "Rating distributions: each judge vs people"
    caption = ("Share of ratings at each point of the scale (1 = generic much better … 5 = personalized much better): "
               "every single judgment of the judge (bars) over every single human rating (grey outline). A judge "
               "piled on one value gives little information.")
    hl = human_label(colors)
    shares = rating_shares(results, colors)
    if shares is None:
        return FigureOut(key, title, caption, "", reason="not in this results.json (made by an older version): "
                                                          "re-run `judge-audit run` (cached judgments cost nothing)")
    judges = [r for r in shares.index if r != hl]
    if not judges:
        return FigureOut(key, title, caption, "", reason="no ratings")
    has_h = hl in shares.index and shares.loc[hl, "n"] > 0
    xs = [1, 2, 3, 4, 5]
    per_row = min(len(judges), BLOCKS_PER_ROW)
    nrows = math.ceil(len(judges) / per_row)
    block_w, row_h = 2.2, 1.75
    left, right, bottom, top, gap_h = 0.6, 0.15, 0.45, 0.55, 0.6
    width = max(WIDTH, left + right + per_row * block_w)
    height = bottom + top + nrows * row_h + (nrows - 1) * gap_h
    ymax = max(float(shares[xs].to_numpy().max()), 0.1) * 1.12

    def draw(fig):
        axes = fig.subplots(nrows, 1, squeeze=False).ravel()
        for r, ax in enumerate(axes):
            names = judges[r * per_row:(r + 1) * per_row]
            ticks, labels = [], []
            for b, name in enumerate(names):
                x0 = b * 6
                row = shares.loc[name]
                ax.bar([x0 + x for x in xs], [row[x] for x in xs], width=0.72, color=colors[name], alpha=0.85, zorder=2)
                if has_h:
                    h = shares.loc[hl]
                    ax.step([x0 + 0.5] + [x0 + x for x in xs] + [x0 + 5.5], [h[1]] + [h[x] for x in xs] + [h[5]],
                            where="mid", color=HUMAN_COLOR, lw=1.4, zorder=3)
                ax.text(x0 + 0.5, ymax, f"{short_name(name, 24)}  (n = {int(row['n'])})", color=colors[name],
                        fontsize=8.5, fontweight="bold", va="bottom", ha="left")
                ticks += [x0 + x for x in xs]
                labels += [str(x) for x in xs]
            ax.set_xticks(ticks, labels)
            ax.set_xlim(0.2, (per_row - 1) * 6 + 5.8)
            ax.set_ylim(0, ymax)
            ax.grid(axis="x", visible=False)
            ax.tick_params(axis="x", length=0)
            ax.yaxis.set_major_formatter(percent_formatter())
            ax.spines["bottom"].set_visible(False)
            for b in range(len(names)):
                ax.plot([b * 6 + 0.5, b * 6 + 5.5], [0, 0], color="#c8cdd6", lw=0.8, zorder=1)
        if has_h:
            from matplotlib.lines import Line2D

            fig.legend([Line2D([], [], color=HUMAN_COLOR, lw=1.4)],
                       [f"{hl}: every human rating (n = {int(shares.loc[hl, 'n'])})"], loc="upper right",
                       bbox_to_anchor=(1 - right / width, 1 - 0.04 / height), borderaxespad=0)

    alt = "Each judge's rating distribution over people's distribution."
    return FigureOut(key, title, caption, alt, svg=svg_of(draw, height, width, left=left, right=right, bottom=bottom,
                                                        top=top, hspace=gap_h / row_h))


def self_preference_figure(results: dict, colors: dict[str, str]) -> FigureOut:
    key, title = "self_preference", "Self-preference: inflation by who wrote the answer"
    caption = ("Each judge's inflation (judge − people) on the answers of each generator family "
               "(results.json self_preference_matrix; families from the judge config's [families]). A judge "
               "that favours its own family is redder in its own column (outlined).")
    matrix = results.get("self_preference_matrix") or {}
    judges = [j for j, row in matrix.items() if row]
    families = sorted({f for j in judges for f in matrix[j]}, key=lambda f: (f == "unknown", f))
    if not judges or len(families) < 2:
        return FigureOut(key, title, caption, "", reason="needs answers from at least two generator families")
    import numpy as np
    import seaborn as sns
    from matplotlib.patches import Rectangle

    m = np.array([[(matrix[j].get(f) or {}).get("estimate", np.nan) if (matrix[j].get(f) or {}).get("estimate") is not None
                   else np.nan for f in families] for j in judges], float)
    own = [(results["judges"][j].get("family") if j in results.get("judges", {}) else None) for j in judges]
    span = max(0.5, float(np.nanmax(np.abs(m)))) if np.isfinite(m).any() else 1.0
    label = max(text_width(short_name(j, 24), 8.0) for j in judges)
    cell_w, cell_h = 0.8, 0.38
    left, bottom, right, top = label + 0.2, 0.75, 1.05, 0.15
    width, height = left + cell_w * len(families) + right, bottom + cell_h * len(judges) + top

    def draw(fig):
        ax = fig.add_axes((left / width, bottom / height, cell_w * len(families) / width, cell_h * len(judges) / height))
        cax = fig.add_axes(((width - right + 0.2) / width, bottom / height, 0.14 / width, cell_h * len(judges) / height))
        sns.heatmap(m, ax=ax, cbar_ax=cax, vmin=-span, vmax=span, cmap=sns.color_palette("RdBu_r", as_cmap=True),
                    annot=True, fmt="+.2f",
                    annot_kws={"fontsize": 8}, linewidths=0.6, linecolor="white", cbar_kws={"label": "inflation"},
                    xticklabels=[short_name(f, 16) for f in families], yticklabels=[short_name(j, 24) for j in judges])
        ax.grid(False)
        for r, fam in enumerate(own):
            if fam in families:
                ax.add_patch(Rectangle(
                    (families.index(fam), r), 1, 1, fill=False, lw=2, ec="#2e3440"))
        for tick, name in zip(ax.get_yticklabels(), judges):
            tick.set_color(colors.get(name, HUMAN_COLOR))
        ax.tick_params(length=0, labelsize=8)
        cax.tick_params(labelsize=7.5)

    alt = "Heatmap of each judge's inflation per generator family; the judge's own family is outlined."
    return FigureOut(key, title, caption, alt, svg=svg_of(draw, height, width))
