"""Counterfactual variants of personalized answers: the same answer with only the mention changed.

Pure and deterministic: text and attributes in, :class:`Variant` out; no I/O, no model call (the
optional model rewrite is requested in :mod:`audit.audits.counterfactual` and *checked* here by
:func:`check_rewrite`).

Two kinds (docs/COUNTERFACTUAL.md):

* **ablation** -- an answer with a flagged explicit mention (:func:`audit.text.mention.flag_offline`) minus
  the mention: :func:`ablate` deletes each flagged span with the least text it can, by position:

  - a fronted clause ("As a nurse, ...", "Since you're vegetarian, ...", "Living in Toronto, ...",
    "And as a new parent, ...") goes with its comma; the next word is capitalised;
  - a trailing clause (", since you're vegetarian." / ", and as someone living in Lisbon you're
    surrounded by ...") goes with the comma before it;
  - a parenthetical ("Lentils, as a vegetarian, are ...") goes with both commas;
  - anything else -- the span is the sentence's subject or main clause ("You're a nurse, so ...",
    "Then you can sign up for hiking club newsletters.") -- deletes its whole sentence.

  The result is flagged again; a mention that is still found (the deletion exposed another one) is
  removed by deleting its sentence, up to three rounds; an answer that still mentions an attribute,
  or that would lose its only sentence or more than half its text, gets no variant (the reason is
  recorded). Every ablation variant is therefore *not* flagged.

* **injection** -- an answer without a mention plus one templated mention of one of the item's
  attributes, put in front of its first sentence ("Since you're a nurse, ...", "As someone who
  plays guitar, ...", "Given that you live in Lisbon, ..."); template and attribute are drawn from
  an RNG seeded by (seed, item id), and when the offline flagger does not flag the result at the
  inserted words the next template (then the next attribute) is tried. Every injection variant is
  flagged.

Each variant carries its :class:`Change` list (token-level diff against the original, character
offsets into both texts) so a report can highlight exactly what changed and tests can check that
nothing else did (:func:`changes_within`).
"""

from __future__ import annotations

import difflib
import re

from audit.text.ablation import SEPARATORS, ablate
from audit.text.edits import ABLATED, INJECTED, WORD_RE, Change, Skip, Variant, changes_within, norm_tokens, text_changes
from audit.text.injection import INJECTION_TEMPLATES, attribute_phrases, inject
from audit.text.mention import flag_offline
from audit.text.words import sentence_spans, span_containing

__all__ = [
    "Change", "Variant", "Skip", "ablate", "inject", "attribute_phrases", "text_changes", "changes_within",
    "check_rewrite", "INJECTION_TEMPLATES", "ABLATED", "INJECTED",
]

MAX_REWRITE_ADDED_WORDS = 4  # a model rewrite may add at most this many words per change


# --- text structure (the same sentence split as audit.text.mention) --------------------------------------


# --- ablation -----------------------------------------------------------------------------------


# --- injection ----------------------------------------------------------------------------------


# --- diffs and the check of a model rewrite ------------------------------------------------------


def _zone(text: str, span: tuple[int, int], sents: list[tuple[int, int]], extra_words: int = 2) -> tuple[int, int]:
    """A flagged span widened by its separators and ``extra_words`` words each side, within its sentence."""
    ss, se = span_containing(sents, span[0]) or span
    s, e = span
    words = list(WORD_RE.finditer(text, ss, se))
    before = [w for w in words if w.end() <= s][-extra_words:]
    after = [w for w in words if w.start() >= e][:extra_words]
    zs = before[0].start() if before else ss
    ze = after[-1].end() if after else se
    # the separator right after the widened zone (the comma of a fronted clause) belongs to it too
    m = re.match(r"\s*[" + SEPARATORS + r".!?]?", text[ze:se])
    return min(zs, s), max(ze + (m.end() if m else 0), e)


def _sentence_zone(text: str, sent: tuple[int, int]) -> tuple[int, int]:
    """A sentence with the end mark of the sentence before it (a diff may align a deleted sentence
    as ". Sentence" instead of "Sentence.")."""
    s = sent[0]
    while s > 0 and text[s - 1].isspace():
        s -= 1
    if s > 0 and text[s - 1] in ".!?":
        s -= 1
    return s, sent[1]


def check_rewrite(original: str, rewrite: str, attributes: list[str], spans: tuple[tuple[int, int], ...]) -> str | None:
    """Why a model's rewrite is not an ablation of ``spans``, or None when it is.

    Accepted only when (1) it is not empty and differs from the original, (2) the offline flagger
    finds no mention in it, and (3) compared token by token with the original
    (difflib.SequenceMatcher; whitespace and capitalisation ignored) every change either lies within
    a flagged span widened by two words and its separators and adds at most
    ``MAX_REWRITE_ADDED_WORDS`` words, or deletes words of a flagged span's sentence and adds none
    (what the deterministic sentence deletion does).
    """
    if not rewrite or not rewrite.strip():
        return "the rewrite is empty"
    if not spans:
        return "the original has no flagged mention"
    flag = flag_offline(rewrite, attributes)
    if flag.flagged:
        return f"the rewrite still mentions an attribute: {flag.span_texts(rewrite)[0]!r}"
    sents = sentence_spans(original)
    zones = [_zone(original, sp, sents) for sp in spans]
    whole = [_sentence_zone(original, span_containing(sents, sp[0]) or sp) for sp in spans]
    a, b = norm_tokens(original), norm_tokens(rewrite)
    sm = difflib.SequenceMatcher(None, [t[0] for t in a], [t[0] for t in b], autojunk=False)
    changed, outside = False, []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        changed = True
        s = a[i1][1] if i1 < len(a) else len(original)
        e = a[i2 - 1][2] if i2 > i1 else s
        added = [t[0] for t in b[j1:j2] if WORD_RE.fullmatch(t[0])]
        if any(zs <= s and e <= ze for zs, ze in zones):
            if len(added) > MAX_REWRITE_ADDED_WORDS:
                return f"the rewrite added {len(added)} words in one place (at most {MAX_REWRITE_ADDED_WORDS})"
            continue
        if not added and any(ws <= s and e <= we for ws, we in whole):
            continue  # words of the mention's own sentence deleted
        removed = original[s:e] if i2 > i1 else ""
        outside.append(f"{op} at {s}: {removed!r} -> {' '.join(t[0] for t in b[j1:j2])!r}")
    if outside:
        return f"the rewrite changed text outside the mention ({len(outside)} changes; first: {outside[0]})"
    if not changed:
        return "the rewrite is identical to the original"
    return None


# --- variants of a data set ---------------------------------------------------------------------

SUFFIX = {ABLATED: "#ablated", INJECTED: "#injected"}


def build_variants(items, *, seed: int = 0) -> tuple[list[Variant], list[Skip]]:
    """One variant per item: an ablation when the offline flagger finds an explicit mention in its
    personalized answer, else an injection; and the items that got none, with the reason.

    An item whose own ``mention`` field disagrees with the offline flagger is skipped: the edit
    needs the flagger's spans, and the flagger is wrong on that item.
    """
    import dataclasses

    variants, skipped = [], []
    for item in items:
        flag = flag_offline(item.personalized, item.attributes)
        kind = ABLATED if flag.flagged else INJECTED
        if item.mention is not None and item.mention != flag.flagged:
            skipped.append(Skip(item.id, kind, f"the data's mention field says {str(item.mention).lower()} but the "
                                               f"offline rules say {str(flag.flagged).lower()}: no span to edit"))
            continue
        if kind == ABLATED:
            out = ablate(item.personalized, item.attributes, flag.spans)
        else:
            context = " ".join([item.prompt, item.generic, *item.attributes])
            out = inject(item.personalized, item.attributes, item_id=item.id, seed=seed, context=context)
        if isinstance(out, str):
            skipped.append(Skip(item.id, kind, out))
        else:
            variants.append(dataclasses.replace(out, item_id=item.id))
    return variants, skipped


def variant_id(item_id: str, kind: str) -> str:
    return item_id + SUFFIX[kind]


def variant_item(item, variant: Variant):
    """The item with its personalized answer replaced by the variant's (an :class:`audit.data.items.Item`).

    Same prompt, attributes, generic answer, user and generator; id ``<id>#ablated`` /
    ``<id>#injected``; ``mention`` set to what the variant is (false / true); the human and judge
    ratings of the original are dropped (they rated the other text); ``meta.counterfactual``
    records the original id, the kind, the method and every changed span.
    """
    meta = {k: v for k, v in item.meta.items() if k != "counterfactual"}
    meta["counterfactual"] = variant.meta()
    return item.model_copy(update={
        "id": variant_id(item.id, variant.kind), "personalized": variant.text, "mention": variant.kind == INJECTED,
        "human_ratings": [], "judge_ratings": [], "meta": meta,
    })
