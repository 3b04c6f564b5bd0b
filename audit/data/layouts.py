"""Read two public judge studies in their own layouts, so they can be audited directly.

* :func:`hanna_items` — HANNA (Chhun et al., TACL 2024): ``hanna_metric_scores_llm.csv``, one row
  per story-generating system, every cell a JSON list of 96 numbers (one per story prompt).
  Humans: ``Human {1,2,3} {RE,CH,EM,SU,EG,CX}``; LLM judges: ``{model} {RE,..,CX} {prompt 1..4}``.
* :func:`llmbar_items` — LLMBar (Zeng et al., 2023): a folder with ``dataset.json`` (input,
  output_1, output_2, label) and ``evaluators/{judge}/{method}/result.json`` (the verdict of each
  item in both presentation orders, ``"swap = False"`` / ``"swap = True"``).

Both return validated rows of :mod:`audit.data.studies` (absolute / pairwise form), so the measures see
exactly what a user's own JSONL would give them. Any mismatch is an :class:`InputError`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pydantic import ValidationError

from audit.errors import InputError
from audit.data.rows import read_text
from audit.data.studies import (AbsoluteStudy, HumanScore, JudgeScore, PairItem, PairVerdict, PairwiseStudy, RatedItem,
                      absolute_from_items, pairwise_from_items)

LAYOUTS = {"native": None, "hanna": "absolute", "llmbar": "pairwise"}  # layout -> the form it implies

HANNA_CRITERIA = {"RE": "Relevance", "CH": "Coherence", "EM": "Empathy", "SU": "Surprise", "EG": "Engagement",
                  "CX": "Complexity"}
HANNA_RATERS = ("1", "2", "3")


def _hanna_cells(path: Path, lineno: int, column: str, cell: str, n: int | None) -> list:
    try:
        values = json.loads(cell)
    except json.JSONDecodeError as exc:
        raise InputError(path, lineno, column, f"cell is not a JSON list: {exc.msg}") from None
    if not isinstance(values, list) or (n is not None and len(values) != n):
        raise InputError(path, lineno, column, f"expected a JSON list of {n} numbers")
    return values


def hanna_items(path: str | Path) -> tuple[list[tuple[int, RatedItem]], str]:
    """HANNA's CSV as absolute-form rows, and the file's sha256.

    One item per (system, story prompt): id ``{system}/{k}``, cluster ``prompt-{k}`` (the 10 systems
    answering prompt k share it), system = the ``Model`` column (``Human`` = the human-written
    reference stories). Human raters are ``rater-1..3`` (HANNA's rater slots, not fixed people); judges
    are ``{model}/prompt-{p}`` for every LLM column present. The judges' ``AVG`` column has no human
    counterpart and is left out. Criteria use HANNA's full names (Relevance, ...).
    """
    path = Path(path)
    text, sha = read_text(path)
    reader = csv.DictReader(text.splitlines(keepends=True))
    header = reader.fieldnames or []
    if "Model" not in header:
        raise InputError(path, 1, "Model", "not a HANNA scores file (no 'Model' column)")
    judge_cols = []
    for col in header:
        parts = col.rsplit(" ", 2)
        if len(parts) == 3 and parts[1] in HANNA_CRITERIA and parts[2].isdigit() and not parts[0].startswith("Human"):
            judge_cols.append((col, f"{parts[0]}/prompt-{parts[2]}", HANNA_CRITERIA[parts[1]]))
    human_cols = [(f"Human {r} {c}", f"rater-{r}", name) for r in HANNA_RATERS for c, name in HANNA_CRITERIA.items()]
    missing = [c for c, _, _ in human_cols if c not in header]
    if missing:
        raise InputError(path, 1, missing[0], "column missing: not a HANNA scores file with per-rater ratings")

    items: list[tuple[int, RatedItem]] = []
    for row in reader:
        lineno, system = reader.line_num, row["Model"]
        humans = {col: _hanna_cells(path, lineno, col, row[col], None) for col, _, _ in human_cols}
        n = len(next(iter(humans.values())))
        for col, values in humans.items():
            if len(values) != n:
                raise InputError(path, lineno, col, f"expected {n} values like the other human columns")
        judges = {col: _hanna_cells(path, lineno, col, row[col], n) for col, _, _ in judge_cols}
        for k in range(n):
            try:
                items.append((lineno, RatedItem(
                    id=f"{system}/{k}", cluster=f"prompt-{k}", system=system,
                    human_ratings=[HumanScore(annotator=r, criterion=c, rating=humans[col][k]) for col, r, c in human_cols],
                    judge_ratings=[JudgeScore(judge=j, criterion=c, rating=judges[col][k]) for col, j, c in judge_cols],
                )))
            except ValidationError as exc:
                err = exc.errors()[0]
                raise InputError(path, lineno, None, f"story {k}: {err['msg']} (got {err.get('input')!r})") from None
    if not items:
        raise InputError(path, None, None, "no rows")
    return items, sha


def load_hanna(path: str | Path, scale: tuple[float, float] = (1, 5)) -> AbsoluteStudy:
    """HANNA's CSV loaded as an absolute-form study (see :func:`hanna_items`).

    HANNA's judge columns hold values below 1 (down to -1) where an answer could not be parsed;
    they are kept as published (the published correlations include them) and counted per judge.
    """
    items, sha = hanna_items(path)
    return absolute_from_items(items, path, sha, scale, keep_judge_out_of_scale=True)


def _winner(value, path: Path, where: str):
    """LLMBar writes winners as "1"/"2" (already mapped back to the original numbering), None if unparsed."""
    if value is None:
        return None
    if value in ("1", "2", 1, 2):
        return int(value)
    raise InputError(path, None, where, f"winner must be '1', '2' or null (got {value!r})")


def llmbar_items(folder: str | Path) -> tuple[list[tuple[int, PairItem]], str]:
    """An LLMBar dataset folder as pairwise-form rows, and the sha256 of its dataset.json.

    Every ``evaluators/{judge}/{method}/result.json`` becomes judge ``{judge}/{method}``. The verdict
    of an item is the last dict in its ``results`` list (earlier entries of methods like
    Metrics_Reference are auxiliary generations), with ``"swap = True"`` as ``swap: true``. Items are
    matched to dataset.json by position and checked to have the same label and input.
    """
    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    ds_path = folder / "dataset.json"
    text, sha = read_text(ds_path)
    try:
        dataset = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(ds_path, exc.lineno, None, f"invalid JSON: {exc.msg}") from None
    if not isinstance(dataset, list) or not dataset:
        raise InputError(ds_path, None, None, "expected a non-empty JSON list of items")
    prefix = folder.name
    verdicts: list[list[PairVerdict]] = [[] for _ in dataset]
    results = sorted(folder.glob("evaluators/*/*/result.json"))
    if not results:
        raise InputError(folder, None, None, "no evaluators/*/*/result.json: no judge verdicts to audit")
    for res_path in results:
        judge = f"{res_path.parent.parent.name}/{res_path.parent.name}"
        try:
            res = json.loads(read_text(res_path)[0])
        except json.JSONDecodeError as exc:
            raise InputError(res_path, exc.lineno, None, f"invalid JSON: {exc.msg}") from None
        if not isinstance(res, list) or len(res) != len(dataset):
            raise InputError(res_path, None, None, f"expected a list of {len(dataset)} items like dataset.json")
        for k, (entry, item) in enumerate(zip(res, dataset)):
            where = f"[{k}]"
            if entry.get("label") != item.get("label") or entry.get("input") != item.get("input"):
                raise InputError(res_path, None, where, "item does not match dataset.json at the same position")
            final = [r for r in entry.get("results", []) if isinstance(r, dict) and "swap = False" in r]
            if not final:
                raise InputError(res_path, None, where + ".results", "no verdict dict with 'swap = False'")
            for key, swap in (("swap = False", False), ("swap = True", True)):
                if key in final[-1]:
                    w = _winner(final[-1][key].get("winner"), res_path, f"{where}.results.{key}.winner")
                    verdicts[k].append(PairVerdict(judge=judge, winner=w, swap=swap))
    items = []
    for k, item in enumerate(dataset):
        label = item.get("label")
        if label not in (1, 2):
            raise InputError(ds_path, None, f"[{k}].label", f"label must be 1 or 2 (got {label!r})")
        items.append((k + 1, PairItem(id=f"{prefix}/{k}", prompt=item.get("input"), response_1=item.get("output_1"),
                                      response_2=item.get("output_2"), label=label, verdicts=verdicts[k])))
    return items, sha


def load_llmbar(folder: str | Path) -> PairwiseStudy:
    """An LLMBar dataset folder loaded as a pairwise-form study (see :func:`llmbar_items`)."""
    items, sha = llmbar_items(folder)
    return pairwise_from_items(items, Path(folder) / "dataset.json" if Path(folder).is_dir() else folder, sha)
