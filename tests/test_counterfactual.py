"""Counterfactual variants: exact, deterministic construction on hand-made answers (only the mention
changes), the injection templates, and the check of a model rewrite."""

import itertools
import re

import pytest

from audit.text.ablation import ablate
from audit.text.edits import ABLATED, INJECTED, changes_within, text_changes
from audit.text.injection import INJECTION_TEMPLATES, _rng, attribute_phrases, inject
from audit.text.variants import build_variants, check_rewrite, variant_item
from audit.text.mention import flag_offline
from audit.data.items import Item, load_items
from audit.audits.preference import bundled_example

FILLER = (" Bring a water bottle and a light jacket. Check the forecast the night before."
          " Start early to avoid the crowds.")


def _norm(text: str) -> str:
    """Lower-case, separators dropped, whitespace collapsed: what may differ besides the mention."""
    text = " ".join(re.sub(r"[,;:\u2014\u2013]", " ", text.lower()).split())
    return re.sub(r" (?=[.!?])", "", text)


def _sentence_of(text: str, pos: int) -> tuple[int, int]:
    start = 0
    for m in re.finditer(r"(?<=[.!?])\s+|\n+", text):
        if m.start() > pos:
            return start, m.start()
        start = m.end()
    return start, len(text)


def only_mention_changed(original: str, variant, attributes) -> None:
    """The variant equals the original minus each flagged span (and its separators) or minus the
    span's whole sentence, up to capitalisation, separators and whitespace; and it is not flagged.
    ("sentence" variants must delete at least one sentence, "clause" variants none.)"""
    spans = flag_offline(original, attributes).spans
    assert spans and variant.mention_spans == spans
    matches = []
    for choice in itertools.product((False, True), repeat=len(spans)):
        cut = [_sentence_of(original, s) if whole else (s, e) for (s, e), whole in zip(spans, choice)]
        kept, pos = [], 0
        for s, e in sorted(cut):
            kept.append(original[pos:max(s, pos)])
            pos = max(pos, e)
        kept.append(original[pos:])
        if _norm(variant.text) == _norm("".join(kept)):
            matches.append((choice, cut))
    assert matches, f"not the original minus its mentions: {variant.text!r}"
    choice, cut = matches[0]
    assert any(choice) == (variant.method == "sentence")
    assert not flag_offline(variant.text, attributes).flagged
    # every change of the token diff touches a removed region
    for c in variant.changes:
        assert any(c.start <= e and s <= c.end for s, e in cut), c


# --- ablation: one hand-made case per grammatical position ----------------------------------------

ABLATIONS = [
    # fronted clause with its comma; the next word is capitalised
    ("Since you're vegetarian, try the lentil soup. It takes 20 minutes.", ["vegetarian"],
     "Try the lentil soup. It takes 20 minutes.", "clause"),
    # trailing clause with the comma before it
    ("Try the lentil soup, since you're vegetarian. It takes 20 minutes.", ["vegetarian"],
     "Try the lentil soup. It takes 20 minutes.", "clause"),
    # parenthetical: both commas go
    ("This soup, given your vegetarian diet, is a good pick. It takes 20 minutes.", ["vegetarian"],
     "This soup is a good pick. It takes 20 minutes.", "clause"),
    # "As a X" without a comma, in a later sentence
    ("Use flexbox to center it. As a designer you'll also like CSS Grid.", ["graphic designer"],
     "Use flexbox to center it. You'll also like CSS Grid.", "clause"),
    # a coordinator before the clause stays, lower case stays
    ("Feed on demand. And as a new parent, you'll want to rest when the baby sleeps.", ["new parent"],
     "Feed on demand. And you'll want to rest when the baby sleeps.", "clause"),
    # a participle clause
    ("Pack light. Living in Toronto, you can take the UP Express to the airport.", ["lives in Toronto"],
     "Pack light. You can take the UP Express to the airport.", "clause"),
    # line breaks are kept
    ("Start slowly.\nAs a beginner runner, keep it to three runs a week.\nStretch after.", ["beginner runner"],
     "Start slowly.\nKeep it to three runs a week.\nStretch after.", "clause"),
    # the mention is the main clause: its sentence goes (with one space)
    ("Make a lentil soup. You're a nurse, so you know hydration matters." + FILLER, ["nurse"],
     "Make a lentil soup." + FILLER, "sentence"),
    # ... the last sentence (the space before it goes)
    ("Book early." + FILLER + " Then you can sign up for hiking club newsletters.", ["loves hiking"],
     "Book early." + FILLER, "sentence"),
    # ... a sentence on its own line (one line break goes)
    ("Book early." + FILLER + "\nThen you can sign up for hiking club newsletters.\nHave fun.", ["loves hiking"],
     "Book early." + FILLER + "\nHave fun.", "sentence"),
    # two mentions: one fronted clause each
    ("Since you're vegetarian, try a chickpea curry. As a busy software developer, you can double the batch." + FILLER,
     ["vegetarian", "software developer"], "Try a chickpea curry. You can double the batch." + FILLER, "clause"),
]


@pytest.mark.parametrize("text,attributes,expected,method", ABLATIONS)
def test_ablation_is_exact_and_changes_only_the_mention(text, attributes, expected, method):
    v = ablate(text, attributes)
    assert not isinstance(v, str), v
    assert v.kind == ABLATED and v.method == method
    assert v.text == expected
    only_mention_changed(text, v, attributes)
    assert ablate(text, attributes) == v  # deterministic


def test_ablation_changes_are_exact_diffs():
    text = "Since you're vegetarian, try the lentil soup. It takes 20 minutes."
    v = ablate(text, ["vegetarian"])
    assert [c.to_dict() for c in v.changes] == [
        {"start": 0, "end": 28, "removed": "Since you're vegetarian, try", "variant_start": 0, "variant_end": 3,
         "inserted": "Try"}]


@pytest.mark.parametrize("text,attributes,why", [
    ("As a nurse, you know hydration matters.", ["nurse"], None),  # fine: one clause of one sentence
    ("You're a nurse, so you know hydration matters. Bring water.", ["nurse"], "more than 50%"),
    ("You're a nurse.", ["nurse"], "nothing would be left"),
    ("Bring water and rest.", ["nurse"], "no explicit mention"),
])
def test_ablation_refuses_to_gut_the_answer(text, attributes, why):
    v = ablate(text, attributes)
    if why is None:
        assert v.text == "You know hydration matters."
    else:
        assert isinstance(v, str) and why in v


def test_every_ablation_of_the_example_changes_only_its_mentions():
    data = load_items(bundled_example())
    variants, skipped = build_variants(data.items)
    items = {it.id: it for it in data.items}
    ablations = [v for v in variants if v.kind == ABLATED]
    assert len(ablations) == sum(flag_offline(it.personalized, it.attributes).flagged for it in data.items) == 23
    assert skipped == []
    for v in ablations:
        only_mention_changed(items[v.item_id].personalized, v, items[v.item_id].attributes)
    assert {v.method for v in ablations} == {"clause", "sentence"}


# --- injection ------------------------------------------------------------------------------------


@pytest.mark.parametrize("attribute,you,who,np", [
    ("lives in Toronto", "you live in Toronto", "lives in Toronto", None),
    ("software developer", "you're a software developer", "is a software developer", "a software developer"),
    ("vegetarian", "you're vegetarian", "is vegetarian", None),
    ("writing a first fantasy novel", "you're writing a first fantasy novel", "is writing a first fantasy novel", None),
    ("has type 2 diabetes", "you have type 2 diabetes", "has type 2 diabetes", None),
    ("over 60", "you're over 60", "is over 60", None),
    ("uses R", "you use R", "uses R", None),
    ("interested in machine learning", "you're interested in machine learning", "is interested in machine learning", None),
    ("lactose intolerant", "you're lactose intolerant", "is lactose intolerant", None),
    ("is pregnant", "you're pregnant", "is pregnant", None),
    ("my kids are 5 and 7", "your kids are 5 and 7", None, None),
    ("I am a nurse", "you are a nurse", None, None),
    ("running coach", "you're a running coach", "is a running coach", "a running coach"),
    ("electrical engineer", "you're an electrical engineer", "is an electrical engineer", "an electrical engineer"),
])
def test_attribute_phrases(attribute, you, who, np):
    assert attribute_phrases(attribute) == {"you": you, "who": who, "np": np}


def test_injection_is_exact_deterministic_and_flagged():
    text = "Take the ferry to Centre Island. The ride is short."
    v = inject(text, ["has two young kids"], item_id="i1", seed=0)
    assert v.kind == INJECTED and v.method == "template" and v.attribute == "has two young kids"
    clause = dict(INJECTION_TEMPLATES)[v.template].format(you="you have two young kids", who="has two young kids")
    assert v.text == clause + "take the ferry to Centre Island. The ride is short."
    assert v == inject(text, ["has two young kids"], item_id="i1", seed=0)
    flag = flag_offline(v.text, ["has two young kids"])
    assert flag.flagged and flag.spans == v.mention_spans and flag.spans[0][0] == 0
    # only the insertion (and the capital T of "Take") changed
    assert changes_within(text, v.text, [(0, 1)]) == []
    assert [(c.start, c.end, c.inserted) for c in v.changes] == [(0, 4, clause + "take")]


def test_injection_keeps_names_and_I_capitalised():
    names = inject("Python makes this easy. Use sorted().", ["software developer"], item_id="x",
                   context="How do I sort a list in Python?")
    assert ", Python makes this easy." in names.text
    me = inject("I would start with the basics.", ["beginner runner"], item_id="x")
    assert ", I would start" in me.text
    common = inject("Cherry tomatoes grow well in pots.", ["has a small balcony garden"], item_id="x")
    assert ", cherry tomatoes grow well in pots." in common.text


def test_injection_tries_the_next_template_when_one_is_not_flagged():
    # "As someone who is vegetarian, ..." is not flagged in a sentence that never says "you"
    # (the offline rules need a second-person word for that cue): the next template is used.
    text = "Lentils are cheap and filling. Cook them with cumin."
    first_choices, used = set(), set()
    for seed in range(30):
        rng = _rng(seed, "x")
        rng.sample(range(1), 1)
        first_choices.add(INJECTION_TEMPLATES[rng.sample(range(len(INJECTION_TEMPLATES)), len(INJECTION_TEMPLATES))[0]][0])
        v = inject(text, ["vegetarian"], item_id="x", seed=seed)
        assert flag_offline(v.text, ["vegetarian"]).flagged
        used.add(v.template)
    assert "as_someone_who" in first_choices and "as_someone_who" not in used
    assert "as_a" not in used  # "vegetarian" is no kind of person: no "As a vegetarian," template
    assert len(used) >= 2  # the seed does change the choice


def test_injection_refusals():
    assert inject("As a nurse, rest.", ["nurse"], item_id="x") == "the answer already has an explicit mention"
    assert "no sentence" in inject("```\ncode()\n```", ["nurse"], item_id="x")


def test_every_injection_of_the_example_is_flagged_at_the_insertion():
    data = load_items(bundled_example())
    variants, _ = build_variants(data.items, seed=0)
    items = {it.id: it for it in data.items}
    injections = [v for v in variants if v.kind == INJECTED]
    assert len(injections) == 21
    for v in injections:
        orig = items[v.item_id].personalized
        assert not flag_offline(orig, items[v.item_id].attributes).flagged
        flag = flag_offline(v.text, items[v.item_id].attributes)
        assert flag.flagged and flag.spans == v.mention_spans
        assert len(v.changes) == 1  # one insertion (its first word may lose its capital letter)
        c = v.changes[0]
        assert orig[c.end:] == v.text[c.new_end:] and orig[:c.start] == v.text[:c.new_start]
        assert c.inserted.lower().endswith(c.removed.lower())
    assert build_variants(data.items, seed=0)[0] == variants


# --- the data set level ---------------------------------------------------------------------------


def _item(**kw) -> Item:
    base = dict(id="a", user_id="u", prompt="Dinner?", attributes=["vegetarian"], generic="Cook pasta.",
                personalized="Since you're vegetarian, cook lentil pasta. It is quick and cheap.", generator="style-x",
                human_ratings=[{"annotator": "annotator-A", "rating": 4}])
    return Item.model_validate({**base, **kw})


def test_build_variants_skips_items_whose_mention_field_disagrees():
    variants, skipped = build_variants([_item(mention=False), _item(id="b", mention=True)])
    assert [v.item_id for v in variants] == ["b"]
    assert skipped[0].item_id == "a" and "mention field says false" in skipped[0].reason


def test_variant_item_is_valid_input_and_records_the_change():
    item = _item(meta={"source": "hand-written"})
    (v,), _ = build_variants([item])
    out = variant_item(item, v)
    assert out.id == "a#ablated" and out.mention is False and out.human_ratings == []
    assert out.personalized == "Cook lentil pasta. It is quick and cheap."
    assert out.prompt == item.prompt and out.generic == item.generic and out.user_id == item.user_id
    cf = out.meta["counterfactual"]
    assert out.meta["source"] == "hand-written"
    assert cf["original_id"] == "a" and cf["kind"] == "ablation" and cf["method"] == "clause"
    assert cf["changes"][0]["removed"] == "Since you're vegetarian, cook"
    assert Item.model_validate(out.model_dump(mode="json")) == out


# --- the check of a model rewrite ------------------------------------------------------------------

ORIGINAL = ("Since you're vegetarian, try a chickpea curry; it takes 25 minutes. Simmer it for 10 minutes. "
            "As a busy software developer, you can double the batch.")
ATTRS = ["vegetarian", "software developer"]


def _spans():
    return flag_offline(ORIGINAL, ATTRS).spans


@pytest.mark.parametrize("rewrite", [
    "Try a chickpea curry; it takes 25 minutes. Simmer it for 10 minutes. You can double the batch.",
    "Try a chickpea curry; it takes 25 minutes. Simmer it for 10 minutes. You can also double the batch.",
])
def test_rewrite_accepted_when_only_the_mentions_changed(rewrite):
    assert check_rewrite(ORIGINAL, rewrite, ATTRS, _spans()) is None


@pytest.mark.parametrize("rewrite,why", [
    ("Try a chickpea curry; it takes 25 minutes. Simmer it for 15 minutes. You can double the batch.", "outside the mention"),
    ("Try a chickpea curry; it takes 25 minutes. Simmer it for 10 minutes. You can double the batch. Enjoy!", "outside the mention"),
    ("Try a chickpea curry; it takes 25 minutes. Simmer it for 10 minutes. As a developer, you can double the batch.", "still mentions"),
    ("Try a chickpea curry; it takes 25 minutes. Simmer it for 10 minutes. To save lots of precious weekday time you can double the batch.",
     "added 7 words"),
    ("   ", "empty"),
])
def test_rewrite_rejected_with_a_reason(rewrite, why):
    reason = check_rewrite(ORIGINAL, rewrite, ATTRS, _spans())
    assert reason is not None and why in reason


def test_text_changes_round_trip():
    a, b = "One two, three. Four!", "One 2, three and four!"
    changes = text_changes(a, b)
    rebuilt, pos = [], 0
    for c in changes:
        rebuilt.append(a[pos:c.start] + c.inserted)
        pos = c.end
    rebuilt.append(a[pos:])
    assert "".join(rebuilt) == b
    assert all(b[c.new_start:c.new_end] == c.inserted and a[c.start:c.end] == c.removed for c in changes)
