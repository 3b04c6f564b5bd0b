"""Call judges on a pairwise judge study (``judge-audit study --judges NAME``): each item's two
responses shown as Response A/B in an order drawn from the seeded RNG (both orders with
``--both-orders``), through the engine (cached, limited, retried like every call), the verdicts
mapped back to the item's own numbering and audited beside the study's imported judges."""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import pandas as pd

from audit.data.judgments import PERSONALIZED_FIRST, presentation_orders
from audit.data.studies import VERDICT_COLUMNS, PairwiseStudy
from audit.engine.judge import Call, raise_if_unavailable, run_judge_calls
from audit.engine.prompts import render_messages
from audit.engine.schemas import ConfidentPairwiseVerdict, PairwiseVerdict
from audit.errors import ConfigError

TASK = "judge_pairwise"  # prompts/judge_pairwise.{system,user}.j2
#: Judge prompt variants a pairwise study can call a judge with: NAME (the default) or NAME@confidence
#: (prompts/judge_pairwise@confidence.system.j2: the judge also states its confidence).
TASKS = {None: (TASK, PairwiseVerdict), "default": (TASK, PairwiseVerdict),
         "confidence": (f"{TASK}@confidence", ConfidentPairwiseVerdict)}


def task_of(spec) -> tuple[str, type]:
    """(prompt task, output schema) of a judge called on a pairwise study."""
    if spec.prompt not in TASKS:
        raise ConfigError(f"judge {spec.name!r}: a pairwise study calls judges with the judge_pairwise prompt; of the "
                          "prompt variants only NAME@confidence applies here")
    return TASKS[spec.prompt]


class CalledVerdict(NamedTuple):
    item_id: str
    judge: str
    swap: bool  # True: response_2 was shown as Response A
    winner: int | None  # in the item's numbering (1 = response_1); None: no usable verdict
    status: str  # ok | failed
    error: str | None
    confidence: float | None = None  # the judge's stated confidence or the probability of its answer, when known


def study_messages(prompt: str, first: str, second: str, task: str = TASK) -> list[dict[str, str]]:
    return render_messages(task, prompt=prompt, response_a=first, response_b=second)


def planned_calls(study: PairwiseStudy, specs: list, *, both_orders: bool, seed: int) -> list[tuple[str, bool, Call]]:
    """(item id, swap, call) for every verdict to ask: the order of an item is drawn from the seeded
    RNG of every audit (:func:`audit.data.judgments.presentation_order`); "generic first" here means
    response_1 shown first."""
    plan = []
    rendered: dict[tuple[str, bool], list[dict]] = {}
    for spec in specs:
        task, schema = task_of(spec)
        for item_id in study.callable_items():
            for order in presentation_orders(item_id, 0, seed, both_orders):
                swap = order == PERSONALIZED_FIRST
                msgs = rendered.get((task, item_id, swap))
                if msgs is None:
                    prompt, r1, r2 = study.texts[item_id]
                    msgs = rendered[(task, item_id, swap)] = study_messages(prompt, *((r2, r1) if swap else (r1, r2)),
                                                                            task=task)
                plan.append((item_id, swap, Call(spec, msgs, schema, order, 0)))
    return plan


def winner_of(letter: str, swap: bool) -> int:
    """Response A/B back to the item's numbering: A is response_1 unless the order was swapped."""
    return (1 if letter == "A" else 2) if not swap else (2 if letter == "A" else 1)


def call_judges(study: PairwiseStudy, specs: list, cache, *, both_orders: bool, seed: int,
                on_result=None) -> list[CalledVerdict]:
    """Ask every judge about every callable item (cached); JudgeUnavailable when a judge failed on all."""
    plan = planned_calls(study, specs, both_orders=both_orders, seed=seed)
    if not plan:
        return []
    results, unavailable = run_judge_calls([c for _, _, c in plan], specs, cache, seed=seed, on_result=on_result,
                                           workers=0)
    rows = [CalledVerdict(item_id, c.spec.name, swap, winner_of(r.value["winner"], swap) if r.value else None,
                          "ok" if r.value else "failed", r.error,
                          (r.value.get("confidence", r.value.get("answer_probability")) if r.value else None))
            for (item_id, swap, c), r in zip(plan, results)]
    raise_if_unavailable(specs, rows, unavailable)
    return rows


def with_called(study: PairwiseStudy, rows: list[CalledVerdict]) -> PairwiseStudy:
    """The study with the called judges' verdicts added to its imported ones."""
    if not rows:
        return study
    new = pd.DataFrame({"item_id": [r.item_id for r in rows], "judge": [r.judge for r in rows],
                        "swap": [r.swap for r in rows], "winner": pd.Series([r.winner for r in rows], dtype=object),
                        "confidence": pd.Series([r.confidence for r in rows], dtype=object)})
    verdicts = pd.concat([study.verdicts, new[VERDICT_COLUMNS]], ignore_index=True)
    verdicts["swap"] = verdicts["swap"].astype(bool)
    return replace(study, verdicts=verdicts)
