"""Assemble results.json: which measure is computed on which rows. Every number comes from
:mod:`audit.stats.measure`; this module only selects the data for it.

Per item, a judge's rating is the mean of its successful judgments of that item (over
presentation orders and samples); the human rating is the mean over annotators.

One seeded cluster bootstrap (:class:`audit.stats.bootstrap.ClusterBootstrap`; clusters = users when
known, else items) is shared by every estimate of a run, so all CIs come from the same resamples.
Definitions and formulas: docs/METHODS.md.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.stats import measure, style
from audit.stats.estimate import proportion
from audit.stats.agreement_suite import agreement_suite
from audit.stats.bootstrap import DEFAULT_REPS, ClusterBootstrap
from audit.stats.calibration import DEFAULT_THRESHOLD, majority_direction, run_calibration
from audit.stats.tables import human_ratings_frame, items_frame, judge_item_ratings
from audit.stats.consistency import add_engine_checks
from audit.data.items import MentionFlag
from audit.data.judgments import NO_CALL_STATUSES, RATED_STATUSES, Judgment
from audit.data.items import Dataset

NEARLY_CONSTANT = 0.9  # one rating value in >= 90% of a judge's ratings


@dataclass(frozen=True)
class Habit:
    """How often a model names attributes when it writes personalized answers itself."""

    k: int
    n: int
    source: str  # "data" (its rows as a generator) | "measured" (--measure-habits)


def generator_habits(items: pd.DataFrame) -> dict[str, Habit]:
    out = {}
    for gen, grp in items.groupby("generator", sort=True):
        out[str(gen)] = Habit(int(grp["mention"].sum()), len(grp), "data")
    return out


def _warnings(name: str, ratings: np.ndarray, rows: list[Judgment]) -> list[str]:
    warns = []
    n_failed = sum(1 for r in rows if r.status == "failed")
    if n_failed:
        warns.append(f"{n_failed} of {len(rows)} calls failed (see judgments.csv, column error)")
    if len(ratings):
        dist = measure.rating_distribution(ratings)
        if dist["modal_share"] is not None and dist["modal_share"] >= NEARLY_CONSTANT and len(ratings) >= 5:
            value = max(dist["counts"], key=dist["counts"].get)
            warns.append(
                f"nearly constant: {dist['modal_share']:.0%} of its item ratings are {value}; "
                "its agreement and bias numbers say little about the items"
            )
    if len(ratings) < 10:
        warns.append(f"only {len(ratings)} rated items: estimates are very uncertain")
    return warns


# estimates whose p-values are Holm-adjusted across judges (one family per measure)
HOLM_FAMILIES = ("inflation", "mention_delta", "spearman", "excess_mention_uplift", "mention_slope")


def add_holm(judges: dict) -> None:
    """Add ``p_value_holm`` (Holm 1979, across judges) beside each raw ``p_value``, in place."""
    families = [(k,) for k in HOLM_FAMILIES] + [("agreement", "spearman"), ("agreement", "kendall")]
    for path in families:
        ests = {}
        for name, j in judges.items():
            d = j
            for part in path:
                d = (d or {}).get(part)
            if isinstance(d, dict) and "p_value" in d:
                ests[name] = d
        adjusted = measure.holm({name: d["p_value"] for name, d in ests.items()})
        for name, d in ests.items():
            d["p_value_holm"] = adjusted[name]
            d["holm_family"] = f"{'.'.join(path)} across {len(ests)} judges"


def _spearman(agreement: dict, name: str, both: pd.DataFrame, kw) -> dict:
    entry = (agreement["judges"].get(name) or {}).get("spearman")
    if entry is None:
        return measure.rank_correlation(both["judge"], both["human_mean"], **kw(both)).to_dict()
    return copy.deepcopy(entry)


@dataclass
class _Run:
    """What every section of the results reads: the per-item table, the judges' item ratings and the
    run's one cluster bootstrap (shared by every statistic, so their resamples are joint)."""

    items: pd.DataFrame
    table: pd.DataFrame
    boot: ClusterBootstrap

    def kw(self, frame: pd.DataFrame) -> dict:
        return {"clusters": frame["cluster"].to_numpy(), "boot": self.boot}


def _generators(run: _Run, judge_names: list[str]) -> dict:
    items, kw = run.items, run.kw
    with_humans = items[items["human_mean"].notna()]
    human_means = measure.group_means(with_humans["human_mean"], with_humans["generator"], **kw(with_humans),
                                      what="mean human rating")
    judge_means = {}
    for name in judge_names:
        if name in run.table:
            rated = items.merge(run.table[name].rename("judge").dropna(), left_on="item_id", right_index=True)
            judge_means[name] = measure.group_means(rated["judge"], rated["generator"], **kw(rated),
                                                    what=f"mean rating by {name}")
    generators = {}
    for gen, grp in items.groupby("generator", sort=True):
        g_h = grp[grp["human_mean"].notna()]
        gen = str(gen)
        generators[gen] = {
            "n_items": len(grp),
            "mention_rate": measure.rate(grp["mention"].to_numpy(bool), **kw(grp),
                                         what="share of the generator's items whose personalized answer "
                                              "explicitly names an attribute").to_dict(),
            "mean_human_rating": float(g_h["human_mean"].mean()) if len(g_h) else None,
            "no_better_rate": measure.no_better_rate(g_h["human_mean"], **kw(g_h)).to_dict(),
            # drawn by the report's generator figure: people's and each judge's mean with its 95% CI
            "mean_rating": {"humans": human_means[gen].to_dict() if gen in human_means else None,
                            "judges": {n: m[gen].to_dict() for n, m in judge_means.items() if gen in m}},
        }
    return generators


def _judge_entry(run: _Run, name: str, rows: list[Judgment], agreement: dict, *, model: str, source: str,
                 habit: Habit | None) -> dict:
    items, kw = run.items, run.kw
    col = run.table[name] if name in run.table else pd.Series(dtype=float)
    rated = items.merge(col.rename("judge").dropna(), left_on="item_id", right_index=True)
    both = rated[rated["human_mean"].notna()]
    return {
        "model": model,
        "source": source,
        "n_items_rated": int(len(rated)),
        "n_calls": sum(1 for r in rows if r.status not in NO_CALL_STATUSES),
        "n_failed": sum(1 for r in rows if r.status == "failed"),
        "n_cached": sum(1 for r in rows if r.cached),
        "mean_rating": float(rated["judge"].mean()) if len(rated) else None,
        "inflation": measure.inflation(both["judge"], both["human_mean"], **kw(both)).to_dict(),
        "mention_delta": measure.mention_delta(rated["judge"], rated["mention"], **kw(rated)).to_dict(),
        "excess_mention_uplift": measure.excess_mention_uplift(both["judge"], both["human_mean"], both["mention"],
                                                               **kw(both)).to_dict(),
        "mention_slope": measure.mention_slope(both["judge"], both["human_mean"], both["mention"],
                                               both["generator"], **kw(both)).to_dict(),
        # the same estimate as agreement.spearman (same items, same resamples)
        "spearman": _spearman(agreement, name, both, kw),
        "rating_distribution": measure.rating_distribution(rated["judge"]),
        # every single judgment (not item means), drawn by the report's distribution figure
        "rating_shares": measure.rating_shares([r.rating for r in rows if r.status in RATED_STATUSES]),
        "habit": None if habit is None else {
            **proportion(habit.k, habit.n).to_dict(), "mention_rate": habit.k / habit.n if habit.n else None,
            "source": habit.source},
        "warnings": _warnings(name, rated["judge"].to_numpy(), rows),
        "style_control": _style_control(run, both),
        "verbosity": {k: v.to_dict() if hasattr(v, "to_dict") else v
                      for k, v in style.verbosity(both["judge"], both["human_mean"], both["style_length"],
                                                  clusters=both["cluster"].to_numpy(), boot=run.boot).items()},
    }


def _self_preference(run: _Run, name: str, family: str | None, gen_family: dict[str, str | None]) -> tuple[dict, dict]:
    """(self-preference, the judge's inflation per generator family). Self-preference = the judge's
    inflation on the items its own model family wrote minus its inflation on the other items: a
    difference of group means of (judge - mean human rating), with the run's cluster bootstrap and
    Welch's t-test (:func:`audit.stats.measure.mention_delta` of d on the own-family flag)."""
    import dataclasses

    col = run.table[name] if name in run.table else pd.Series(dtype=float)
    rated = run.items.merge(col.rename("judge").dropna(), left_on="item_id", right_index=True)
    both = rated[rated["human_mean"].notna()]
    fam = both["generator"].map(lambda g: gen_family.get(g) or "unknown")
    d = both["judge"] - both["human_mean"]
    per_family = {k: v.to_dict() for k, v in measure.group_means(d, fam, **run.kw(both),
                                                                 what="inflation (judge - mean human rating)").items()}
    what = ("self-preference: inflation on the items its own family wrote minus inflation on the other items "
            "(difference of group means of judge - mean human rating); CI: cluster bootstrap; p: Welch's t-test")
    own = (fam == family).to_numpy()
    if family is None:
        why = "the judge's model family is unknown: declare it in the config's [families] or with family = ..."
    elif not own.any():
        why = f"its family ({family}) wrote none of the items"
    elif own.all():
        why = f"its family ({family}) wrote every item: nothing to compare with"
    else:
        est = measure.mention_delta(d, own, **run.kw(both))
        extra = {k: v for k, v in est.extra.items() if k not in ("n_mention", "n_no_mention")}
        est = dataclasses.replace(est, method=what, extra={**extra, "family": family, "n_own": int(own.sum()),
                                                           "n_other": int((~own).sum())})
        return est.to_dict(), per_family
    return {"estimate": None, "ci": None, "p_value": None, "n": int(len(both)), "method": what, "reason": why}, per_family


def _style_control(run: _Run, both: pd.DataFrame) -> dict:
    """The judge's style-controlled coefficients and their excess over people's, on the items both rated."""
    fit = style.style_regression({"judge": both["judge"], "humans": both["human_mean"]}, both["mention"],
                                 both["style_length"], both["style_markdown"], clusters=both["cluster"].to_numpy(),
                                 boot=run.boot, excess=("judge", "humans"))
    return {**{c: e.to_dict() for c, e in fit["judge"].items()}, "excess": {c: e.to_dict() for c, e in fit["excess"].items()}}


def prompt_effects(run: _Run, card: dict | None) -> list[dict]:
    """For every two called judges that differ only in their prompt (same model, api_base, mode and
    params): the paired difference second - first of their inflation and of their mention delta, on
    the items both rated that have human ratings, with the run's cluster bootstrap. inflation(B) -
    inflation(A) on common items is mean(B - A) (:func:`audit.stats.measure.inflation` of B against A);
    mention delta(B) - mention delta(A) is :func:`audit.stats.measure.excess_mention_uplift` of B
    against A. Answers "does this prompt line change the judge?"."""
    called = (card or {}).get("judges")
    if not isinstance(called, dict):
        return []
    out = []
    names = [n for n in called if n in run.table]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ca, cb = called[a], called[b]
            same = all(ca.get(k) == cb.get(k) for k in ("model", "api_base", "mode", "params"))
            if not same or (ca.get("prompt") or {}).get("sha256") == (cb.get("prompt") or {}).get("sha256"):
                continue
            both = run.items.assign(a=run.items["item_id"].map(run.table[a]), b=run.items["item_id"].map(run.table[b]))
            both = both[both["a"].notna() & both["b"].notna() & both["human_mean"].notna()]
            out.append({
                "judges": [a, b], "model": ca.get("model"),
                "prompts": [(ca.get("prompt") or {}).get("name"), (cb.get("prompt") or {}).get("name")],
                "n_items": int(len(both)),
                "inflation": measure.inflation(both["b"], both["a"], **run.kw(both)).to_dict(),
                "mention_delta": measure.excess_mention_uplift(both["b"], both["a"], both["mention"], **run.kw(both)).to_dict(),
                "direction": f"{b} minus {a}",
            })
    return out


def build_results(dataset: Dataset, flags: dict[str, MentionFlag], judgments: list[Judgment], *,
                  judge_models: dict[str, str], judge_sources: dict[str, str],
                  measured_habits: dict[str, Habit] | None = None, card: dict | None = None,
                  seed: int = 0, n_boot: int = DEFAULT_REPS,
                  families: tuple[dict[str, str | None], dict[str, str | None]] | None = None,
                  confidence_threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Every number of the audit, as a JSON-ready dict (see README, 'results.json').

    ``confidence_threshold``: the high/low split of ``judges.J.calibration`` (judges with a confidence).
    ``seed`` seeds the cluster bootstrap (the run's ``--seed``); ``n_boot`` is its number of resamples.
    ``families``: (judge -> model family, generator -> model family) for self-preference (None: unknown).
    """
    items = items_frame(dataset, flags)
    run = _Run(items, judge_item_ratings(judgments), ClusterBootstrap(items["cluster"], n_reps=n_boot, seed=seed))
    boot, kw, humans = run.boot, run.kw, items[items["human_mean"].notna()]
    judge_table = pd.DataFrame({name: run.table[name] for name in judge_models if name in run.table},
                               index=pd.Index(items["item_id"], name="item_id"))
    agreement = agreement_suite(items, human_ratings_frame(dataset), judge_table, boot=boot)

    gen_habits = generator_habits(items)
    judges, deltas, habits = {}, {}, {}
    for name in judge_models:
        habit = (measured_habits or {}).get(name) or gen_habits.get(name) or gen_habits.get(judge_models[name])
        if habit is not None:
            habits[name] = habit.k / habit.n if habit.n else None
        judges[name] = _judge_entry(run, name, [j for j in judgments if j.judge == name], agreement,
                                    model=judge_models[name], source=judge_sources[name], habit=habit)
        called_card = (card or {}).get("judges")
        judges[name]["prompt"] = ((called_card.get(name) or {}).get("prompt") if isinstance(called_card, dict) else None)
        deltas[name] = judges[name]["mention_delta"]["estimate"]
        judges[name]["agreement"] = agreement["judges"].get(name)
    judge_fam, gen_fam = families or ({}, {})
    matrix = {}
    for name in judges:
        judges[name]["family"] = judge_fam.get(name)
        judges[name]["self_preference"], matrix[name] = _self_preference(run, name, judge_fam.get(name), gen_fam)
    people = {it.id: majority_direction([r.rating for r in it.human_ratings]) for it in dataset.items}
    clusters = dict(zip(items["item_id"], items["cluster"]))
    for name in judges:
        cal = run_calibration([j for j in judgments if j.judge == name], people, clusters, boot,
                              threshold=confidence_threshold)
        if cal is not None:  # only judges that stated a confidence (or returned log-probabilities)
            judges[name]["calibration"] = cal
    add_holm(judges)
    # issue 3: judges.J.position, .self_consistency, .cost, .raw_answers and their warnings
    add_engine_checks(judges, judgments, clusters=dict(zip(items["item_id"], items["cluster"])), boot=boot, seed=seed)

    return {
        "scale": "1 = generic much better, 3 = no difference, 5 = personalized much better",
        "n_items": len(items),
        "n_items_with_human_ratings": int(len(humans)),
        "n_mention": int(items["mention"].sum()),
        "humans": {
            "n_annotators": len({r.annotator for it in dataset.items for r in it.human_ratings}),
            "mean_rating": float(humans["human_mean"].mean()) if len(humans) else None,
            "no_better_rate": measure.no_better_rate(humans["human_mean"], **kw(humans)).to_dict(),
            "mention_delta": measure.mention_delta(humans["human_mean"], humans["mention"], **kw(humans)).to_dict(),
            "ceiling": agreement["ceiling"],
            "krippendorff_alpha": agreement["krippendorff_alpha"],
            "icc": agreement["icc"],
            "rating_shares": measure.rating_shares([r.rating for it in dataset.items for r in it.human_ratings]),
            "style_control": {c: e.to_dict() for c, e in style.style_regression(
                {"humans": humans["human_mean"]}, humans["mention"], humans["style_length"], humans["style_markdown"],
                clusters=humans["cluster"].to_numpy(), boot=boot)["humans"].items()},
        },
        "generators": _generators(run, list(judge_models)),
        "judges": judges,
        "agreement": {**agreement["matrix"], "best_judge_per_annotator": agreement["best_judge_per_annotator"]},
        "habit_bias": measure.habit_bias(habits, deltas, seed=seed),
        "prompt_effects": prompt_effects(run, card),
        "self_preference_matrix": matrix,
        "bootstrap": {"n_resamples": boot.n_reps, "seed": seed, "n_clusters": boot.n_clusters,
                      "cluster": "user_id when given, else the item id",
                      "ci": "percentile, 95%", "reference": "docs/METHODS.md"},
        "audit_card": card or {},
    }
