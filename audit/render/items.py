"""The report's item drill-down: every item with both answers side by side, the mention spans
highlighted, each human and judge rating and rationale, and the JSON the page's script reads."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace as NS  # attribute access: Jinja reads these without a failed getattr

from audit.data.items import Dataset, MentionFlag
from audit.render.html import highlighted_pieces
from audit.data.judgments import GENERIC_FIRST, PERSONALIZED_FIRST, Judgment
from audit.stats.tables import judge_item_ratings


LONG_ANSWER = 900  # characters: longer answers are folded (first lines shown, the rest behind "show all")


LONG_RATIONALE = 360


def highlight(text: str, flag: MentionFlag | None) -> list[tuple[str, bool]]:
    """Split ``text`` into (segment, is_mention) pieces; overlapping or out-of-range spans are clipped.
    The template escapes each piece."""
    if not flag or not flag.spans:
        return [(text, False)]
    return highlighted_pieces(text, flag.spans)


ORDER_LABEL = {GENERIC_FIRST: "generic", PERSONALIZED_FIRST: "personalized", None: "– (imported)"}


def judge_item_means(judgments: list[Judgment]) -> dict[str, dict[str, float]]:
    """{item_id: {judge: mean rating}}: :func:`audit.stats.tables.judge_item_ratings` as nested dicts."""
    table = judge_item_ratings(judgments)
    return {str(item): {str(j): float(v) for j, v in row.items() if v == v}
            for item, row in table.to_dict("index").items()}


def item_views(dataset: Dataset, judgments: list[Judgment], flags: dict[str, MentionFlag],
               judges: list[str]) -> tuple[list[dict], list[dict]]:
    """(items for the template, rows for the page's JSON block), in dataset order.

    Items are namespaces (``it.id``, ``it.judgments`` ...): the template reads 40,000 of their
    fields for 1,000 items x 5 judges, and attribute access is Jinja's fast path.

    JSON rows: ``m`` mention (0/1), ``h`` mean human rating (or null), ``d`` per judge (in
    ``judges`` order) the judge's item rating minus ``h`` (null when either is missing), ``r``
    whether that judge rated the item at all.
    """
    by_item: dict[str, list[Judgment]] = {}
    for j in judgments:
        by_item.setdefault(j.item_id, []).append(j)
    means = judge_item_means(judgments)
    jidx = {name: i for i, name in enumerate(judges)}
    items, data = [], []
    for n, item in enumerate(dataset.items):
        flag = flags.get(item.id)
        h = item.mean_human
        m = means.get(item.id, {})
        diffs = [None if (judge not in m or h is None) else m[judge] - h for judge in judges]
        rows = sorted(by_item.get(item.id, []), key=lambda j: (jidx.get(j.judge, len(jidx)), j.sample, j.order or ""))
        judg = [NS(
            judge=j.judge, idx=jidx.get(j.judge, 0), order=ORDER_LABEL.get(j.order, j.order),
            sample=j.sample, rating=j.rating, raw=j.raw_rating, status=j.status, cached=j.cached,
            text=j.rationale or j.error or "", error=j.status == "failed",
            long=len(j.rationale or j.error or "") > LONG_RATIONALE,
        ) for j in rows]
        chips = [NS(judge=name, idx=jidx[name], rating=m[name], diff=None if h is None else m[name] - h)
                 for name in judges if name in m]
        valid = [abs(d) for d in diffs if d is not None]
        items.append(NS(**{
            "n": n, "id": item.id, "user_id": item.user_id, "generator": item.generator, "prompt": item.prompt,
            "attributes": item.attributes, "generic": item.generic, "generic_long": len(item.generic) > LONG_ANSWER,
            "personalized": highlight(item.personalized, flag),
            "personalized_long": len(item.personalized) > LONG_ANSWER,
            "mention": bool(flag and flag.flagged), "flag_source": flag.source if flag else "",
            "spans": flag.span_texts(item.personalized) if flag else [],
            "humans": [(r.annotator, r.rating) for r in item.human_ratings], "human_mean": h,
            "chips": chips, "judgments": judg, "max_diff": max(valid) if valid else None,
        }))
        data.append({"m": int(bool(flag and flag.flagged)), "h": h, "d": diffs,
                     "r": [int(name in m) for name in judges]})
    return items, data


def json_for_script(obj) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>``, ``&`` or line separators."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _json_default(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    raise TypeError(type(x).__name__)
