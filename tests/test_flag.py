"""Tests for audit.text.mention: exact hand-made cases + measured quality on the
hand-labelled fixture (fixtures/mention_labels.jsonl).

Run with ``python -m pytest tests/test_flag.py -q -s`` to see the printed
precision/recall/F1.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # do not rely on a conftest.py for imports
    sys.path.insert(0, str(ROOT))

from audit.data.items import MentionFlag
from audit.text.mention import flag_offline

FIXTURE = ROOT / "fixtures" / "mention_labels.jsonl"

# Floors set a little below the measured values (first measurement, and final:
# P=0.944 R=1.000 F1=0.971, span overlap 66/68, n=134).  They can fail: losing
# 4 true positives (R<0.95), or gaining 4 more false positives (P<0.90), breaks them.
PRECISION_FLOOR = 0.90
RECALL_FLOOR = 0.95
F1_FLOOR = 0.92
SPAN_OVERLAP_FLOOR = 0.90


# ---------------------------------------------------------------------------
# (a) hand-made exact cases
# ---------------------------------------------------------------------------

def test_as_a_exact_span():
    text = "As a software developer, you probably already use git."
    f = flag_offline(text, ["software developer"])
    assert f == MentionFlag(True, ((0, 23),), "offline")
    assert f.span_texts(text) == ["As a software developer"]


def test_since_youre_exact_span():
    text = "Since you're vegetarian, I'd skip the ramen shops."
    f = flag_offline(text, ["vegetarian"])
    assert f.flagged and f.spans == ((0, 23),)
    assert f.span_texts(text) == ["Since you're vegetarian"]


def test_mid_paragraph_span_offsets():
    text = ("The larches turn gold in October. Book early, and as a "
            "photographer you'll want to be at the lake at sunrise.")
    f = flag_offline(text, ["photographer"])
    start = text.index("as a photographer")
    assert f.spans == ((start, start + len("as a photographer")),)


def test_like_you_backward_span():
    text = "For a beginner runner like you, a run-walk plan is safest."
    f = flag_offline(text, ["beginner runner"])
    assert f.span_texts(text) == ["For a beginner runner like you"]


def test_curly_apostrophe_offsets_preserved():
    text = "Since you\u2019re new to investing, start with an index fund."
    f = flag_offline(text, ["new to investing"])
    assert f.flagged
    assert f.span_texts(text) == ["Since you\u2019re new to investing"]


@pytest.mark.parametrize(
    "text, attrs",
    [
        ("Given your interest in hiking, try the coastal path.", ["interested in hiking"]),
        ("You mentioned you have two kids, so here are family hotels.", ["has two kids"]),
        ("With your background in finance, skim the DCF section.", ["background in finance"]),
        ("Being vegetarian, you may find rural menus limited.", ["vegetarian"]),
        ("In your role as a teacher, frame it as a lesson.", ["teacher"]),
        ("It's a tough call for you as a parent.", ["parent"]),
        ("Since you write code for a living, try scripting it.", ["software developer"]),
        ("As a mom of three, your evenings are precious.", ["mother of three"]),
        ("Living in Berlin, you can take night trains to Vienna.", ["lives in Berlin"]),
    ],
)
def test_explicit_mentions_flagged(text, attrs):
    f = flag_offline(text, attrs)
    assert f.flagged, text
    assert all(0 <= s < e <= len(text) for s, e in f.spans)


@pytest.mark.parametrize(
    "text, attrs",
    [
        ("Try a red lentil dal or a chickpea curry tonight.", ["vegetarian"]),  # implicit
        ("Vegetarian dishes are popular in southern India.", ["vegetarian"]),
        ("As a rule of thumb, add no more than 10% mileage a week.", ["beginner runner"]),
        ("As an example, you could open with a short quiz.", ["teacher"]),
        ("Since 2010, the city has added 100 km of bike lanes.", ["lives in Toronto"]),
        ("Given the weather, you should start your hike early.", ["avid hiker"]),
        ("If you are a beginner, start with three runs a week.", ["beginner runner"]),
        ("Whether you're a developer or a designer, get a second monitor.", ["software developer"]),
        ("You can book the class online and you'll get an email.", ["vegetarian"]),
        ("Your parents might like a photo book.", ["parent"]),
    ],
)
def test_non_mentions_not_flagged(text, attrs):
    f = flag_offline(text, attrs)
    assert not f.flagged, (text, f.span_texts(text))
    assert f.spans == ()


def test_degenerate_inputs():
    assert flag_offline("", ["vegetarian"]) == MentionFlag(False, (), "offline")
    assert not flag_offline("As a developer, you know.", []).flagged
    assert not flag_offline("As a developer, you know.", ["", "  "]).flagged


def test_any_of_several_attributes_and_frozen():
    text = "Since you're vegetarian, skip the ramen."
    f = flag_offline(text, ["lives in Toronto", "vegetarian"])
    assert f.flagged and f.source == "offline"
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.flagged = False  # type: ignore[misc]


# ---------------------------------------------------------------------------
# (b) measured quality on the hand-labelled set
# ---------------------------------------------------------------------------

def _load_rows() -> list[dict]:
    rows = []
    with FIXTURE.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip() and not line.lstrip().startswith("#"):
                rows.append(json.loads(line))
    return rows


def _prf(y_true: list[bool], y_pred: list[bool]) -> tuple[float, float, float]:
    try:
        from sklearn.metrics import precision_recall_fscore_support
    except ImportError:
        tp = sum(t and p for t, p in zip(y_true, y_pred))
        fp = sum(p and not t for t, p in zip(y_true, y_pred))
        fn = sum(t and not p for t, p in zip(y_true, y_pred))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        return prec, rec, f1
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, average="binary", pos_label=True, zero_division=0
    )
    return float(p), float(r), float(f)


def test_fixture_is_well_formed():
    rows = _load_rows()
    assert FIXTURE.read_text(encoding="utf-8").startswith("#")
    assert len(rows) >= 120
    assert len({r["id"] for r in rows}) == len(rows)
    pos = sum(r["mention"] for r in rows)
    assert 0.4 <= pos / len(rows) <= 0.6
    for r in rows:
        assert isinstance(r["attributes"], list) and r["attributes"]
        if r["mention"]:
            assert r["span"] and r["span"] in r["text"], r["id"]
        else:
            assert r["span"] is None, r["id"]


def test_flagger_quality_on_labelled_set():
    rows = _load_rows()
    y_true = [bool(r["mention"]) for r in rows]
    flags = [flag_offline(r["text"], r["attributes"]) for r in rows]
    y_pred = [f.flagged for f in flags]
    prec, rec, f1 = _prf(y_true, y_pred)

    # span agreement on true positives: predicted span overlaps the gold span
    tp_rows = [(r, f) for r, f in zip(rows, flags) if r["mention"] and f.flagged]
    overlap = 0
    for r, f in tp_rows:
        gs = r["text"].index(r["span"])
        ge = gs + len(r["span"])
        overlap += any(s < ge and gs < e for s, e in f.spans)
    span_rate = overlap / len(tp_rows) if tp_rows else 0.0

    print(f"\nflagger precision={prec:.3f} recall={rec:.3f} f1={f1:.3f} n={len(rows)} "
          f"span_overlap={overlap}/{len(tp_rows)}")
    for r, f in zip(rows, flags):
        if f.flagged != r["mention"]:
            kind = "FP" if f.flagged else "FN"
            print(f"  {kind} {r['id']}: {r['text']!r} -> {f.span_texts(r['text'])}")

    assert prec >= PRECISION_FLOOR
    assert rec >= RECALL_FLOOR
    assert f1 >= F1_FLOOR
    assert span_rate >= SPAN_OVERLAP_FLOOR


# ---------------------------------------------------------------------------
# (c) offline flags remembered in the cache's derived store
# ---------------------------------------------------------------------------

def _labelled_items():
    from audit.data.items import Item

    return [Item.model_validate({"id": r["id"], "user_id": "u", "prompt": "p", "generator": "gen", "attributes": r["attributes"],
                                 "generic": "g", "personalized": r["text"]}) for r in _load_rows()]


def test_offline_flags_cached_equal_computed_and_second_run_computes_nothing(tmp_path, monkeypatch):
    import audit.audits.flagging as F
    from audit.engine.cache import ResultCache

    items = _labelled_items()
    expected = {it.id: flag_offline(it.personalized, it.attributes) for it in items}
    cache = ResultCache(tmp_path)
    first = F.flag_items(items, None, cache)
    assert first == expected and list(first) == [it.id for it in items]
    cache.close()

    def boom(*a, **k):  # the second run must read every flag from the store
        raise AssertionError("flag_offline called on a cached answer")
    monkeypatch.setattr(F, "flag_offline", boom)
    cache = ResultCache(tmp_path)
    assert F.flag_items(items, None, cache) == expected
    assert len(cache) == 0  # paid-results store untouched: `cache stats` counts only model calls
    cache.close()


def test_offline_flag_cache_key_follows_rules_answer_and_attributes(tmp_path, monkeypatch):
    import audit.audits.flagging as F
    from audit.engine.cache import ResultCache
    from audit.data.items import Item

    item = Item.model_validate({"id": "a", "user_id": "u", "prompt": "p", "generator": "gen", "attributes": ["vegetarian"],
                                "generic": "g", "personalized": "Since you're vegetarian, try lentils."})
    cache = ResultCache(tmp_path)
    assert F.flag_items([item], None, cache)["a"].flagged
    calls = []
    real = F.flag_offline
    monkeypatch.setattr(F, "flag_offline", lambda t, a: calls.append(t) or real(t, a))
    F.flag_items([item], None, cache)
    assert calls == []  # cached
    other = item.model_copy(update={"attributes": ["lives in Toronto"]})
    assert not F.flag_items([other], None, cache)["a"].flagged and len(calls) == 1  # new attributes: recomputed
    monkeypatch.setattr(F, "RULES_VERSION", "changed rules")
    F.flag_items([item], None, cache)
    assert len(calls) == 2  # new rules: recomputed
    assert F.flag_items([item], None, ResultCache(tmp_path / "off", enabled=False))["a"].flagged
    assert not (tmp_path / "off").exists()  # --no-cache writes nothing
    cache.close()


def test_cache_clear_empties_the_derived_store(tmp_path):
    import audit.audits.flagging as F
    from audit.engine.cache import ResultCache

    items = _labelled_items()[:5]
    cache = ResultCache(tmp_path)
    F.flag_items(items, None, cache)
    assert len(cache.derived(F.OFFLINE_FLAG_STORE)) == 5
    cache.clear()
    assert len(cache.derived(F.OFFLINE_FLAG_STORE)) == 0
    cache.close()
