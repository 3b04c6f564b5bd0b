"""``judge-audit annotate``: collect the human ratings an audit needs (serve, status, export).

The items are the tool's own judged pairs (``judge-audit run`` input). Each annotator gets a private
link (a random token, stored only hashed) and a queue of the items in an order chosen by the
strategy, plus a few planned repeats (the same item shown again later) that measure the annotator's
self-consistency. The two answers are shown as Response A / B in an order drawn per annotator, item
and repeat from the seeded RNG, and every rating is mapped back to the generic (1) .. personalized (5)
scale exactly as a judge's (:func:`audit.data.judgments.to_preference_scale`).

Strategies (:func:`order_queue`):

* ``sequential``: file order; ``random``: a seeded shuffle per annotator;
* ``informative``: items with the fewest human ratings so far first (existing ones in the data
  included), and among those, the items whose judges disagree most (standard deviation of the
  imported judges' ratings, or of the called judges' ratings in a finished run given with
  ``--judgments-from``), then a seeded shuffle. Spreading ratings over items first is what narrows the CI
  of an item-level mean (inflation, no-better rate) fastest: between-item variance dominates it
  (:func:`simulate_collection` measures this).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audit.data import ratings_db as db
from audit.data.judgments import presentation_order, to_preference_scale
from audit.errors import ConfigError, InputError

STRATEGIES = ("sequential", "random", "informative")
REPEAT_GAP = 5  # a planned repeat is shown only after this many other ratings by the same annotator


@dataclass(frozen=True)
class Settings:
    data_path: str
    data_sha256: str
    strategy: str
    seed: int
    repeats: int  # planned repeats per annotator
    target_items: int | None = None
    per_item: int = 3
    called_disagreement: dict | None = None  # item -> SD of the called judges' ratings (--judgments-from RUN)

    def to_meta(self) -> dict[str, str]:
        return {k: json.dumps(v) for k, v in self.__dict__.items()}

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> "Settings":
        return cls(**{k: json.loads(v) for k, v in meta.items() if k in cls.__dataclass_fields__})


def _rng_key(*parts) -> float:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return random.Random(digest).random()


def disagreement(item: dict, called: dict[str, float] | None = None) -> float:
    """How much the judges disagree on an item: the standard deviation of the imported judges' ratings
    and the called judges' item means (``called``: item id -> the SD from a finished run's judgments)."""
    vals = [r["rating"] for r in item.get("judge_ratings") or []]
    own = float(np.std(vals)) if len(vals) >= 2 else 0.0
    return max(own, (called or {}).get(item["id"], 0.0))


def called_disagreement(run_folder: Path) -> dict[str, float]:
    """Item id -> SD over the judges of their mean ratings, from a finished run's judgments.csv."""
    from audit.data.judgments import read_judgments_csv
    from audit.stats.tables import judge_item_ratings

    path = Path(run_folder) / "judgments.csv"
    if not path.is_file():
        raise InputError(path, None, None, "not found: --judgments-from takes the output folder of a `judge-audit run`")
    table = judge_item_ratings(read_judgments_csv(path))
    if table.empty or table.shape[1] < 2:
        return {}
    sd = table.std(axis=1, ddof=0)
    return {str(i): float(v) for i, v in sd.dropna().items()}


def order_queue(strategy: str, items: list[dict], annotator: str, seed: int, counts: dict[str, int],
                called: dict[str, float] | None = None) -> list[str]:
    """The annotator's first-pass order of ``items`` (ids). ``counts``: human ratings per item so far;
    ``called``: the called judges' disagreement per item (:func:`called_disagreement`)."""
    if strategy == "sequential":
        return [it["id"] for it in items]
    if strategy == "random":
        return [it["id"] for it in sorted(items, key=lambda it: _rng_key(seed, annotator, it["id"]))]
    if strategy == "informative":
        return [it["id"] for it in sorted(items, key=lambda it: (counts.get(it["id"], 0), -disagreement(it, called),
                                                                  _rng_key(seed, annotator, it["id"])))]
    raise ConfigError(f"unknown strategy {strategy!r}: use {', '.join(STRATEGIES)}")


def planned_repeats(settings: Settings, items: list[dict], annotator: str) -> list[str]:
    """The items this annotator will see twice (a seeded choice, the same on every restart)."""
    ids = sorted((it["id"] for it in items), key=lambda i: _rng_key(settings.seed, "repeat", annotator, i))
    return ids[:min(settings.repeats, len(ids))]


def shown_order(settings: Settings, annotator: str, item_id: str, repeat: int) -> str:
    return presentation_order(f"{annotator}:{item_id}", repeat, settings.seed)


# --- starting a session ----------------------------------------------------------------------------


def start(data: Path, names: list[str], db_path: Path, *, strategy: str = "informative", seed: int = 0, repeats: int = 2,
          target_items: int | None = None, per_item: int = 3, reissue: bool = False,
          judgments_from: Path | None = None) -> tuple[Settings, dict[str, str | None]]:
    """Create or reopen the database for ``data`` and the annotators; returns the settings and each
    annotator's new token (None: the annotator already has a link, which keeps working)."""
    from audit.data.items import load_items

    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}: use {', '.join(STRATEGIES)}")
    bad = [n for n in names if not n or not all(c.isalnum() or c in "-_." for c in n)]
    if bad or not names:
        raise ConfigError("--annotators: give names of letters, digits, '-', '_' or '.' separated by commas"
                          + (f" (got {bad[0]!r})" if bad else ""))
    dataset = load_items(data)
    rated_in_data = {r.annotator for it in dataset.items for r in it.human_ratings}
    clash = [n for n in names if n in rated_in_data]
    if clash:
        raise ConfigError(f"annotator {clash[0]!r} already has ratings in {data}: choose another name")
    called = called_disagreement(judgments_from) if judgments_from else None
    settings = Settings(str(Path(data).resolve()), dataset.sha256, strategy, seed, repeats, target_items, per_item, called)
    with db.connect(db_path) as con:
        meta = db.get_meta(con)
        if meta:
            old = Settings.from_meta(meta)
            if old.data_sha256 != dataset.sha256:
                raise ConfigError(f"{db_path} holds ratings of another data file ({old.data_path}, sha256 "
                                  f"{old.data_sha256[:12]}…): use another --db")
            settings = Settings(old.data_path, old.data_sha256, strategy, old.seed, old.repeats, target_items or old.target_items,
                                per_item, called if called is not None else old.called_disagreement)
        con.execute("BEGIN IMMEDIATE")
        db.set_meta(con, settings.to_meta())
        db.store_items(con, [it.model_dump(exclude_unset=True) for it in dataset.items])
        tokens = {n: db.add_annotator(con, n, reissue=reissue) for n in names}
        con.execute("COMMIT")
    return settings, tokens


def settings_of(con) -> Settings:
    meta = db.get_meta(con)
    if not meta:
        raise ConfigError("this database holds no annotation session: start one with `judge-audit annotate serve`")
    return Settings.from_meta(meta)


# --- the queue -------------------------------------------------------------------------------------


def _counts(items: list[dict], rows: list[dict]) -> dict[str, int]:
    counts = {it["id"]: len(it.get("human_ratings") or []) for it in items}
    for r in rows:
        if r["repeat"] == 0:
            counts[r["item_id"]] = counts.get(r["item_id"], 0) + 1
    return counts


def remaining(con, annotator: str) -> tuple[list[tuple[str, int]], int, int]:
    """(the annotator's queue of (item id, repeat) still to rate, done, total planned)."""
    settings = settings_of(con)
    items = db.load_items(con)
    rows = db.ratings(con)
    mine = {(r["item_id"], r["repeat"]) for r in rows if r["annotator"] == annotator}
    first = [i for i in order_queue(settings.strategy, items, annotator, settings.seed, _counts(items, rows),
                                    settings.called_disagreement) if (i, 0) not in mine]
    n_first_done = sum(1 for _, rep in mine if rep == 0)
    queue: list[tuple[str, int]] = []
    reps = planned_repeats(settings, items, annotator)
    done_at = {r["item_id"]: k for k, r in enumerate([r for r in rows if r["annotator"] == annotator and r["repeat"] == 0])}
    for item_id in reps:
        if (item_id, 1) not in mine and item_id in done_at and n_first_done - done_at[item_id] > REPEAT_GAP:
            queue.append((item_id, 1))
    queue += [(i, 0) for i in first]
    if not first:  # the first pass is done: every planned repeat that is left
        queue += [(i, 1) for i in reps if (i, 1) not in mine and (i, 1) not in queue]
    return queue, len(mine), len(items) + len(reps)


def next_item(con, annotator: str) -> dict | None:
    """What ``GET /api/next`` returns: the next item as Response A / B with a fresh nonce, or None."""
    queue, done, total = remaining(con, annotator)
    if not queue:
        return None
    item_id, repeat = queue[0]
    item = db.load_item(con, item_id)  # one row, not the whole item table a second time
    order = shown_order(settings_of(con), annotator, item_id, repeat)
    a, b = (item["generic"], item["personalized"]) if order == "generic_first" else (item["personalized"], item["generic"])
    nonce = db.issue_nonce(con, annotator, item_id, repeat)
    return {"item_id": item_id, "attributes": list(item["attributes"]), "prompt": item["prompt"], "response_a": a,
            "response_b": b, "nonce": nonce, "progress": {"done": done, "total": total}}


def rate(con, annotator: str, body) -> dict:
    """Validate and store one rating (``POST /api/rate``); raises :class:`ratings_db.Refused`."""
    if not isinstance(body, dict):
        raise db.Refused(422, "the body must be a JSON object")
    item_id, nonce, raw, comment = body.get("item_id"), body.get("nonce"), body.get("rating"), body.get("comment")
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= 5:
        raise db.Refused(422, "rating must be a whole number from 1 to 5")
    if not isinstance(item_id, str) or not isinstance(nonce, str):
        raise db.Refused(422, "item_id and nonce are required strings")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
        raise db.Refused(422, "comment must be a string of at most 2000 characters")
    row = con.execute("SELECT repeat FROM nonces WHERE nonce = ? AND annotator = ? AND item_id = ?",
                      (nonce, annotator, item_id)).fetchone()
    repeat = int(row[0]) if row else 0
    order = shown_order(settings_of(con), annotator, item_id, repeat)
    rating = to_preference_scale(raw, order)
    repeat = db.record_rating(con, annotator, item_id, nonce, raw, rating, order, (comment or "").strip() or None)
    return {"ok": True, "item_id": item_id, "repeat": repeat}


# --- status and export -------------------------------------------------------------------------------


def status(db_path: Path) -> dict:
    """Progress, agreement so far (Krippendorff's ordinal alpha over every human rating of the items --
    the data's and this session's first-pass ratings -- and over this session's annotators alone),
    self-consistency on planned repeats, and items still needed for the target."""
    from audit.stats.agreement import krippendorff_alpha

    with db.connect(db_path) as con:
        settings = settings_of(con)
        items = db.load_items(con)
        rows = db.ratings(con)
        names = db.annotators(con)
        per = {n: remaining(con, n) for n in names}
    first = [r for r in rows if r["repeat"] == 0]
    counts = _counts(items, rows)
    ids = [it["id"] for it in items]
    known = [(h["annotator"], it["id"], h["rating"]) for it in items for h in it.get("human_ratings") or []]
    known += [(r["annotator"], r["item_id"], r["rating"]) for r in first]
    everyone = sorted({a for a, _, _ in known})

    def alpha_of(raters: list[str]) -> float | None:
        matrix = np.full((len(raters), len(ids)), np.nan)
        for a, i, v in known:
            if a in raters:
                matrix[raters.index(a), ids.index(i)] = v
        if len(raters) < 2 or np.sum(np.sum(~np.isnan(matrix), axis=0) >= 2) < 2:
            return None
        value = float(krippendorff_alpha(matrix, values=[1, 2, 3, 4, 5], level="ordinal"))
        return value if np.isfinite(value) else None  # e.g. every pairable rating identical
    consistency = {}
    for n in names:
        pairs = [(r0["rating"], r1["rating"]) for r1 in rows if r1["annotator"] == n and r1["repeat"] == 1
                 for r0 in first if r0["annotator"] == n and r0["item_id"] == r1["item_id"]]
        consistency[n] = {"n_repeats": len(pairs), "same": sum(a == b for a, b in pairs),
                          "mean_abs_difference": float(np.mean([abs(a - b) for a, b in pairs])) if pairs else None}
    target = settings.target_items
    enough = sum(1 for i in ids if counts.get(i, 0) >= settings.per_item)
    return {
        "data": settings.data_path, "strategy": settings.strategy, "n_items": len(ids), "n_ratings": len(rows),
        "annotators": {n: {"done": per[n][1], "total": per[n][2]} for n in names},
        "items_by_ratings": {str(k): sum(1 for i in ids if counts.get(i, 0) == k) for k in sorted(set(counts.values()))},
        "items_with_enough": enough, "per_item": settings.per_item, "target_items": target,
        "items_still_needed": None if target is None else max(0, target - enough),
        "krippendorff_alpha_ordinal": alpha_of(everyone), "krippendorff_alpha_session": alpha_of(names),
        "self_consistency": consistency,
    }


def export(db_path: Path, out: Path) -> int:
    """Write the data with this session's first-pass ratings merged into ``human_ratings`` (JSONL; every
    original field kept). Refuses to overwrite the input data. Returns the number of ratings added."""
    from audit.data.files import atomic_write

    with db.connect(db_path) as con:
        settings = settings_of(con)
        items = db.load_items(con)
        rows = db.ratings(con)
    if Path(out).resolve() == Path(settings.data_path).resolve():
        raise InputError(out, None, None, "is the session's input data: export to another file (the input is never overwritten)")
    by_item: dict[str, list[dict]] = {}
    for r in rows:
        if r["repeat"] == 0:
            by_item.setdefault(r["item_id"], []).append({"annotator": r["annotator"], "rating": r["rating"]})
    lines = ["# judge-audit annotate export: the items of " + settings.data_path + " with the ratings collected in "
             + str(db_path) + " merged into human_ratings"]
    for it in items:
        merged = dict(it)
        merged["human_ratings"] = list(it.get("human_ratings") or []) + by_item.get(it["id"], [])
        lines.append(json.dumps(merged, ensure_ascii=False))
    atomic_write(Path(out), "\n".join(lines) + "\n")
    return sum(len(v) for v in by_item.values())


# --- the strategies on a simulation ------------------------------------------------------------------


def simulate_collection(strategy: str, *, n_items: int = 120, n_annotators: int = 3, target_width: float = 0.5,
                        seed: int = 0) -> int | None:
    """Ratings needed until the 95% CI of the mean human rating over items (t interval of the item
    means of the items rated so far) is narrower than ``target_width``, when ``n_annotators`` rate in
    turn, each in the order ``strategy`` gives (informative sees the counts so far). Synthetic:
    item means ~ N(3.4, 0.9), annotator noise N(0, 1), rounded to 1..5. None if never reached."""
    from scipy import stats as st

    rng = np.random.default_rng(seed)
    truth = rng.normal(3.4, 0.9, n_items)
    items = [{"id": f"s{k:03d}", "judge_ratings": []} for k in range(n_items)]
    names = [f"sim-{a}" for a in range(n_annotators)]
    given: dict[str, list[float]] = {}
    mine = {n: set() for n in names}
    for step in range(n_items * n_annotators):
        who = names[step % n_annotators]
        counts = {i: len(v) for i, v in given.items()}
        queue = [i for i in order_queue(strategy, items, who, seed, counts) if i not in mine[who]]
        item = queue[0]
        mine[who].add(item)
        k = int(item[1:])
        given.setdefault(item, []).append(float(np.clip(np.round(truth[k] + rng.normal(0, 1)), 1, 5)))
        means = [np.mean(v) for v in given.values()]
        if len(means) >= 3:
            half = st.t.ppf(0.975, len(means) - 1) * np.std(means, ddof=1) / np.sqrt(len(means))
            if 2 * half < target_width:
                return step + 1
    return None
