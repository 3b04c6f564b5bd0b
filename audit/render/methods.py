"""The report's methods section and audit card: how each number was computed (the ``method`` of its
estimate in results.json) and the provenance rows."""

from __future__ import annotations


METHODS = (
    ("inflation", ("judges", "inflation"), "Inflation",
     "mean over items of (judge rating − the item's mean human rating); a judge's item rating is the mean of its "
     "judgments of that item (over presentation orders and samples). 0 = rates like people on average."),
    ("mention_delta", ("judges", "mention_delta"), "Mention Δ",
     "mean rating of items whose personalized answer explicitly names a user attribute minus the mean of the other "
     "items; computed for each judge and for people (mean human rating)."),
    ("excess", ("judges", "excess_mention_uplift"), "Excess mention uplift",
     "the judge's mention Δ minus people's mention Δ on the same items: how much more than people the judge rewards "
     "naming an attribute."),
    ("slope", ("judges", "mention_slope"), "Mention slope (within generator)",
     "slope of (judge − human) on the mention flag with generator fixed effects: the mention effect holding the "
     "writer fixed."),
    ("spearman", ("judges", "spearman"), "Spearman ρ with people",
     "rank correlation of the judge's item ratings with the mean human rating."),
    ("kappa", ("judges", "agreement", "kappa_quadratic"), "κ with people",
     "Cohen's kappa with quadratic weights between the judge's rounded item rating and the rounded human median."),
    ("ceiling", ("humans", "ceiling", "kappa_quadratic"), "Human ceiling",
     "each annotator's agreement with the other annotators (leave one annotator out), averaged; judges are scored "
     "on the very same targets ('matched') so the two are comparable."),
    ("alpha", ("humans", "krippendorff_alpha"), "Krippendorff's α", "inter-annotator reliability, ordinal metric."),
    ("no_better", ("humans", "no_better_rate"), "No-better rate",
     "share of items whose mean human rating is ≤ 3: people found the personalized answer no better than the generic one."),
    ("flip", ("judges", "position", "flip_rate"), "Position flip rate",
     "with --both-orders, share of (item, sample) pairs whose verdict (generic better / no difference / "
     "personalized better) changes when the two answers swap places."),
    ("slot", ("judges", "position", "slot_a_preference"), "Slot-A preference",
     "share of decisive verdicts that picked the answer shown first (50% without position bias)."),
    ("consistency", ("judges", "self_consistency", "exact_agreement"), "Self-consistency",
     "with --samples K, share of pairs of repeated samples of one prompt with the same rating."),
    ("habit", ("habit_bias",), "Habit vs bias",
     "Spearman correlation across models of the generator habit (share of its personalized answers naming an "
     "attribute) with its mention Δ as a judge."),
)


NOT_MEASURED_HINT = {"flip": " (run with --both-orders)", "slot": " (run with --both-orders)",
                     "consistency": " (run with --samples K --temperature T)",
                     "habit": " (needs ≥ 3 models that are both generators and judges, or --measure-habits)",
                     "ceiling": " (needs items rated by ≥ 2 annotators)", "alpha": " (needs items rated by ≥ 2 annotators)"}


def _first_method(results: dict, path: tuple[str, ...]) -> dict | None:
    if path[0] == "judges":
        for j in (results.get("judges") or {}).values():
            d = j
            for part in path[1:]:
                d = d.get(part) if isinstance(d, dict) else None
            if isinstance(d, dict) and d.get("method"):
                return d
        return None
    d = results
    for part in path:
        d = d.get(part) if isinstance(d, dict) else None
    return d if isinstance(d, dict) and d.get("method") else None


def method_rows(results: dict) -> list[dict]:
    rows = []
    for key, path, name, definition in METHODS:
        est = _first_method(results, path)
        test = est.get("method") if est else None
        if est and est.get("test"):
            test += f"; p: {est['test']}"
        holm = est.get("holm_family") if est else None
        rows.append({"key": key, "name": name, "definition": definition,
                     "test": test or "not measured in this run" + NOT_MEASURED_HINT.get(key, ""), "holm": f"Holm-adjusted across judges ({holm})" if holm else None})
    return rows


def card_rows(card, prefix: str = "") -> list[tuple[str, str]]:
    """The audit card flattened to (key, value text) rows: nested keys joined with dots."""
    rows = []
    if isinstance(card, dict):
        if not card and prefix:
            rows.append((prefix, "–"))
        for k, v in card.items():
            rows.extend(card_rows(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(card, list):
        rows.append((prefix, ", ".join(str(v) for v in card) if card else "–"))
    elif isinstance(card, bool):
        rows.append((prefix, "true" if card else "false"))
    else:
        rows.append((prefix, "–" if card is None else str(card)))
    return rows
