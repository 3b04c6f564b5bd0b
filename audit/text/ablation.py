"""Ablation: delete the explicit attribute mentions of an answer (the clause or sentence that names the
attribute), re-flag, and delete again until no mention is left. Pure text, no model."""

from __future__ import annotations

import re
from dataclasses import dataclass

from audit.text.edits import ABLATED, Variant, text_changes, word_list
from audit.text.mention import flag_offline
from audit.text.words import sentence_spans, span_containing


MAX_ROUNDS = 3  # re-flag and delete again at most this often


MIN_KEPT_SHARE = 0.5  # an ablation may not delete more than half of the answer's characters


# words that open an adverbial clause or phrase that can be dropped without breaking the sentence
_INTRO = frozenset("""as since because given considering being with in for now seeing knowing like at
    after while whereas unlike""".split())


_COORD = frozenset("and but so also plus then".split())


SEPARATORS = ",;:\u2014\u2013"


def _adverbial(span_text: str) -> bool:
    """True when the span opens with a subordinating word or a participle (after coordinators):
    "As a nurse", "Since you're ...", "Living in Toronto", "and as someone living in Lisbon"."""
    words = word_list(span_text)
    while words and words[0] in _COORD:
        words = words[1:]
    if not words:
        return False
    return words[0] in _INTRO or (words[0].endswith("ing") and len(words[0]) > 4)


def _coordinated(span_text: str) -> bool:
    words = word_list(span_text)
    return bool(words) and words[0] in _COORD


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    how: str  # "clause" | "sentence"
    capitalise_from: int | None = None  # uppercase the first letter kept at or after this position


def _sentence_edit(text: str, sent: tuple[int, int]) -> _Edit:
    """Delete a whole sentence and the whitespace on one side of it (keeping paragraph breaks)."""
    ss, se = sent
    after = se
    while after < len(text) and text[after] in " \t":
        after += 1
    if after > se and after < len(text) and text[after] != "\n":
        return _Edit(ss, after, "sentence")
    before = ss
    while before > 0 and text[before - 1] in " \t":
        before -= 1
    if before < ss:
        return _Edit(before, se, "sentence")
    if se < len(text) and text[se] == "\n":
        return _Edit(ss, se + 1, "sentence")
    if ss > 0 and text[ss - 1] == "\n":
        return _Edit(ss - 1, se, "sentence")
    return _Edit(ss, se, "sentence")


def _span_edit(text: str, span: tuple[int, int], sents: list[tuple[int, int]]) -> _Edit:
    """The smallest deletion that removes ``span`` and leaves a grammatical sentence (see module doc)."""
    s, e = span
    sent = span_containing(sents, s) or (s, e)
    ss, se = sent
    e = min(e, se)
    span_text = text[s:e]
    prefix, suffix = text[ss:s], text[e:se]
    prefix_words, suffix_words = word_list(prefix), word_list(suffix)
    adverbial = _adverbial(span_text)

    # fronted: nothing but coordinators (or bullets/quotes) before the span, the main clause after it
    if adverbial and all(w in _COORD for w in prefix_words) and len(suffix_words) >= 2:
        m = re.match(r"\s*[" + SEPARATORS + r"]?\s*", suffix)
        end = e + (m.end() if m else 0)
        return _Edit(s, end, "clause", capitalise_from=end if not prefix_words else None)

    before = prefix.rstrip()
    sep_before = before[-1] if before and before[-1] in SEPARATORS else None
    # trailing: the span ends the sentence, after a main clause
    if ((adverbial or (_coordinated(span_text) and sep_before)) and re.fullmatch(r"\s*[.!?\"')\]]*\s*", suffix)
            and len(prefix_words) >= 2):
        start = ss + len(before) - 1 if sep_before else ss + len(prefix.rstrip())
        return _Edit(start, e, "clause")

    # parenthetical: ", as a vegetarian, "
    after = suffix.lstrip()
    if adverbial and sep_before == "," and after.startswith(",") and len(prefix_words) >= 1 and len(suffix_words) >= 1:
        start = ss + len(before) - 1
        end = e + (len(suffix) - len(after)) + 1
        return _Edit(start, end, "clause")

    return _sentence_edit(text, sent)


def _apply(text: str, edits: list[_Edit]) -> tuple[str, list[int]]:
    """Apply deletions (and capitalisations); return the new text and, per new character, its
    position in ``text``."""
    deleted = [False] * len(text)
    for ed in edits:
        for i in range(ed.start, ed.end):
            deleted[i] = True
    upper = set()
    for ed in edits:
        if ed.capitalise_from is None:
            continue
        i = ed.capitalise_from
        while i < len(text) and (deleted[i] or text[i].isspace() or text[i] in "\"'(*_`"):
            if text[i] == "`":
                break  # code: leave it as it is
            i += 1
        if i < len(text) and not deleted[i] and text[i].isalpha() and text[i].islower():
            upper.add(i)
    # tidy each junction: no doubled spaces, no space before punctuation, no leading space
    keep = [i for i in range(len(text)) if not deleted[i]]
    out: list[int] = []
    for n, i in enumerate(keep):
        junction = n > 0 and keep[n - 1] != i - 1
        if junction and out:
            prev = text[out[-1]]
            if text[i] in " \t" and prev in " \t\n":
                continue
            if text[i] in ",.;:!?" and prev in " \t":
                out.pop()
        if not out and text[i] in " \t\n" and deleted[0]:
            continue  # the text's start was deleted: no leading whitespace
        out.append(i)
    new = "".join(text[i].upper() if i in upper else text[i] for i in out)
    return new, out


def _merge(edits: list[_Edit]) -> list[_Edit]:
    """Sentence deletions swallow any edit they overlap; other overlapping edits are united."""
    sentences = [e for e in edits if e.how == "sentence"]
    others = [e for e in edits if e.how != "sentence"
              and not any(e.start < s.end and s.start < e.end for s in sentences)]
    return sorted(sentences + others, key=lambda e: (e.start, e.end))


def ablate(text: str, attributes: list[str], spans: tuple[tuple[int, int], ...] | None = None) -> Variant | str:
    """``text`` with its explicit mentions of ``attributes`` deleted (see the module docstring).

    Parameters
    ----------
    text : str
        The personalized answer.
    attributes : list of str
        The user's attributes.
    spans : tuple of (start, end), optional
        The flagged spans; default ``flag_offline(text, attributes).spans``.

    Returns
    -------
    Variant or str
        The variant (``kind="ablation"``, its method ``clause`` or ``sentence``), or the reason
        there is none.
    """
    if spans is None:
        spans = flag_offline(text, attributes).spans
    if not spans:
        return "no explicit mention is flagged"
    sents = sentence_spans(text)
    edits = [_span_edit(text, sp, sents) for sp in spans]
    for _ in range(MAX_ROUNDS):
        edits = _merge(edits)
        new, origin = _apply(text, edits)
        left = flag_offline(new, attributes)
        if not left.flagged:
            break
        # a mention is still there: delete the sentence of each remaining span (in original offsets)
        for s, _e in left.spans:
            pos = origin[min(s, len(origin) - 1)]
            sent = span_containing(sents, pos)
            if sent is not None:
                edits.append(_sentence_edit(text, sent))
    else:
        edits = _merge(edits)
        new, _origin = _apply(text, edits)
        left = flag_offline(new, attributes)
        if left.flagged:
            return f"a mention is still flagged after deleting {MAX_ROUNDS} times: {left.span_texts(new)[0]!r}"
    if not word_list(new):
        return "the mention is the whole answer: nothing would be left"
    if len(new.strip()) < MIN_KEPT_SHARE * len(text.strip()):
        return (f"deleting the mention would remove more than {1 - MIN_KEPT_SHARE:.0%} of the answer "
                f"({len(text.strip()) - len(new.strip())} of {len(text.strip())} characters)")
    method = "sentence" if any(e.how == "sentence" for e in edits) else "clause"
    return Variant("", ABLATED, text, new, text_changes(text, new), method, tuple(spans))
