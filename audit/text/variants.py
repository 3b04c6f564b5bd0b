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
import hashlib
import random
import re
from dataclasses import dataclass, field

from audit.text.mention import flag_offline, sentence_spans, span_containing

__all__ = [
    "Change", "Variant", "Skip", "ablate", "inject", "attribute_phrases", "text_changes", "changes_within",
    "check_rewrite", "INJECTION_TEMPLATES", "ABLATED", "INJECTED",
]

ABLATED, INJECTED = "ablation", "injection"
MAX_ROUNDS = 3  # re-flag and delete again at most this often
MIN_KEPT_SHARE = 0.5  # an ablation may not delete more than half of the answer's characters
MAX_REWRITE_ADDED_WORDS = 4  # a model rewrite may add at most this many words per change


@dataclass(frozen=True)
class Change:
    """One changed region: ``original[start:end]`` became ``variant[new_start:new_end]``."""

    start: int
    end: int
    new_start: int
    new_end: int
    removed: str
    inserted: str

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "removed": self.removed,
                "variant_start": self.new_start, "variant_end": self.new_end, "inserted": self.inserted}


@dataclass(frozen=True)
class Variant:
    """A personalized answer with only its mention changed."""

    item_id: str
    kind: str  # ABLATED | INJECTED
    original: str
    text: str
    changes: tuple[Change, ...]
    method: str  # ablation: "clause" | "sentence" | "rewrite:<model>"; injection: "template"
    mention_spans: tuple[tuple[int, int], ...]  # ablation: flagged in the original; injection: in the variant
    attribute: str | None = None  # injection: the attribute named
    template: str | None = None  # injection: the template's name
    notes: tuple[str, ...] = field(default_factory=tuple)  # e.g. why a model rewrite was rejected

    def meta(self) -> dict:
        """What variants.jsonl records about the variant (``meta.counterfactual``)."""
        return {
            "original_id": self.item_id, "kind": self.kind, "method": self.method,
            "changes": [c.to_dict() for c in self.changes],
            "mention_spans": [list(s) for s in self.mention_spans],
            "mention_spans_in": "original" if self.kind == ABLATED else "variant",
            "attribute": self.attribute, "template": self.template, "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Skip:
    """An item that got no variant of ``kind``, and why."""

    item_id: str
    kind: str
    reason: str


# --- text structure (the same sentence split as audit.text.mention) --------------------------------------

_WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)?")
_TOKEN_RE = re.compile(r"\s+|[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)?|[^\sA-Za-z0-9]")

# words that open an adverbial clause or phrase that can be dropped without breaking the sentence
_INTRO = frozenset("""as since because given considering being with in for now seeing knowing like at
    after while whereas unlike""".split())
_COORD = frozenset("and but so also plus then".split())
_SEPARATORS = ",;:\u2014\u2013"


def _words(text: str) -> list[str]:
    return [w.lower().replace("\u2019", "'") for w in _WORD_RE.findall(text)]


def _adverbial(span_text: str) -> bool:
    """True when the span opens with a subordinating word or a participle (after coordinators):
    "As a nurse", "Since you're ...", "Living in Toronto", "and as someone living in Lisbon"."""
    words = _words(span_text)
    while words and words[0] in _COORD:
        words = words[1:]
    if not words:
        return False
    return words[0] in _INTRO or (words[0].endswith("ing") and len(words[0]) > 4)


def _coordinated(span_text: str) -> bool:
    words = _words(span_text)
    return bool(words) and words[0] in _COORD


# --- ablation -----------------------------------------------------------------------------------


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
    prefix_words, suffix_words = _words(prefix), _words(suffix)
    adverbial = _adverbial(span_text)

    # fronted: nothing but coordinators (or bullets/quotes) before the span, the main clause after it
    if adverbial and all(w in _COORD for w in prefix_words) and len(suffix_words) >= 2:
        m = re.match(r"\s*[" + _SEPARATORS + r"]?\s*", suffix)
        end = e + (m.end() if m else 0)
        return _Edit(s, end, "clause", capitalise_from=end if not prefix_words else None)

    before = prefix.rstrip()
    sep_before = before[-1] if before and before[-1] in _SEPARATORS else None
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
    if not _words(new):
        return "the mention is the whole answer: nothing would be left"
    if len(new.strip()) < MIN_KEPT_SHARE * len(text.strip()):
        return (f"deleting the mention would remove more than {1 - MIN_KEPT_SHARE:.0%} of the answer "
                f"({len(text.strip()) - len(new.strip())} of {len(text.strip())} characters)")
    method = "sentence" if any(e.how == "sentence" for e in edits) else "clause"
    return Variant("", ABLATED, text, new, text_changes(text, new), method, tuple(spans))


# --- injection ----------------------------------------------------------------------------------

# (name, template); {you} is a clause with subject "you", {who} a verb phrase after "someone who",
# {np} a noun phrase with its article (only for attributes that are a kind of person)
INJECTION_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("since", "Since {you}, "),
    ("because", "Because {you}, "),
    ("given_that", "Given that {you}, "),
    ("as_someone_who", "As someone who {who}, "),
    ("as_a", "As {np}, "),
)

_PREPOSITIONS = frozenset("on in over under from at into with without between near about after before".split())
_BE = frozenset("is am are".split())
_NOT_VERBS = frozenset("""diabetes glasses twins crafts sports arts athletics series species news politics
    economics physics mathematics maths""".split())
_PERSON_WORDS = frozenset("""student parent mom mum dad mother father nurse chef owner retiree athlete teen
    teenager adult senior beginner expert accountant consultant assistant resident immigrant graduate
    undergrad freelancer professional veteran engineer scientist doctor lawyer artist musician
    homeowner renter tenant guitarist pianist runner cyclist hiker coach fan enthusiast""".split())
_ADJECTIVE_NOUNS = frozenset("vegetarian vegan pescatarian diabetic celiac coeliac introvert extrovert".split())
_ADJ_ER = frozenset("""older younger other over under after later never ever eager sober clever proper super
    bitter fewer newer bigger smaller""".split())


def _verb_base(word: str) -> str:
    w = word.lower()
    if w == "has":
        return "have"
    if w == "does":
        return "do"
    if w == "goes":
        return "go"
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "sses", "xes", "zes")):
        return w[:-2]
    return w[:-1]


def _article(np: str) -> str:
    first = np.lstrip().lower()
    return "an" if first[:1] in "aeiou" and not first.startswith(("uni", "use", "usu", "eu", "one")) else "a"


def _is_person(word: str) -> bool:
    w = word.lower()
    if w in _ADJECTIVE_NOUNS:
        return False
    if w in _PERSON_WORDS:
        return True
    return w.endswith(("er", "or", "ist", "ian", "yst", "ee", "eer")) and w not in _ADJ_ER and len(w) > 3


def attribute_phrases(attribute: str) -> dict[str, str | None]:
    """The attribute as a clause about "you", a verb phrase after "someone who" and (for a kind of
    person) a noun phrase with its article.

    ``"lives in Toronto"`` -> you "you live in Toronto", who "lives in Toronto", np None;
    ``"software developer"`` -> "you're a software developer", "is a software developer",
    "a software developer"; ``"vegetarian"`` -> "you're vegetarian", "is vegetarian", None;
    ``"writing a first fantasy novel"`` -> "you're writing a first fantasy novel", ...;
    ``"my kids are 5 and 7"`` -> "your kids are 5 and 7", None, None.
    """
    attr = " ".join(attribute.split())
    words = attr.split()
    if not words:
        return {"you": None, "who": None, "np": None}
    first, rest = words[0].lower().replace("\u2019", "'"), " ".join(words[1:])
    tail = (" " + rest) if rest else ""
    if first == "my":
        return {"you": "your" + tail, "who": None, "np": None}
    if first in ("i", "i'm"):
        swapped = {"am": "are", "was": "were", "i'm": "you're"}
        if first == "i'm":
            return {"you": "you're" + tail, "who": None, "np": None}
        if not rest:
            return {"you": None, "who": None, "np": None}
        verb, more = words[1], " ".join(words[2:])
        verb = swapped.get(verb.lower(), verb)
        return {"you": f"you {verb}" + (f" {more}" if more else ""), "who": None, "np": None}
    if first in _BE:
        return {"you": "you're" + tail, "who": "is" + tail, "np": None}
    if first in ("was", "were"):
        return {"you": "you were" + tail, "who": "was" + tail, "np": None}
    if (len(words) >= 2 and first.endswith("s") and not first.endswith(("ss", "us", "is", "ous"))
            and first not in _NOT_VERBS and first.isalpha()) or first in ("has", "does", "goes"):
        return {"you": f"you {_verb_base(first)}" + tail, "who": attr, "np": None}
    if first in _PREPOSITIONS:
        return {"you": f"you're {attr}", "who": f"is {attr}", "np": None}
    if _is_person(words[-1]) and not first.endswith("ing"):
        np = f"{_article(attr)} {attr}"
        return {"you": f"you're {np}", "who": f"is {np}", "np": np}
    if first.endswith("ing") and len(first) > 4 and len(words) >= 2 and _is_person(words[-1]):
        np = f"{_article(attr)} {attr}"  # "running coach"
        return {"you": f"you're {np}", "who": f"is {np}", "np": np}
    return {"you": f"you're {attr}", "who": f"is {attr}", "np": None}


def _rng(seed: int, item_id: str) -> random.Random:
    return random.Random(hashlib.sha256(f"{seed}:{item_id}:inject".encode()).digest())


def _insertion_point(text: str) -> int | None:
    """Start of the first sentence that begins with a letter (after bullets, quotes or markup),
    outside fenced code blocks."""
    fences = [m.start() for m in re.finditer(r"^\s*```", text, re.M)]
    code = [(fences[k], fences[k + 1] if k + 1 < len(fences) else len(text)) for k in range(0, len(fences), 2)]
    for ss, se in sentence_spans(text):
        if any(cs <= ss <= ce for cs, ce in code):
            continue
        i = ss
        while i < se and text[i] in "-*#>\"'( \t":
            i += 1
        if i < se and text[i].isalpha():
            return i
    return None


def _lowered(text: str, at: int, context: str = "") -> str:
    """``text`` with the first word at ``at`` lower-cased, unless it looks like a name.

    Kept as it is: "I" ("I'd", ...), words not written Capitalised-lower ("NASA", "iPhone"), and a
    word that also occurs capitalised in the middle of a sentence in ``text`` or ``context`` (the
    prompt, the other answer, the attributes: "Python", "Toronto"). Any other sentence-initial word
    is an ordinary word ("Try", "Cherry", "Dear") and is lower-cased.
    """
    m = _WORD_RE.match(text, at)
    if not m:
        return text
    word = m.group()
    if word == "I" or word.startswith(("I'", "I\u2019")) or not word[0].isupper() or word[1:] != word[1:].lower():
        return text
    named = re.compile(rf"(?<=[a-z0-9,;:] ){re.escape(word)}(?![A-Za-z])")
    if named.search(text) or named.search(context):
        return text
    return text[:at] + word[0].lower() + text[at + 1:]


def inject(text: str, attributes: list[str], *, item_id: str, seed: int = 0, context: str = "") -> Variant | str:
    """``text`` with one templated explicit mention of one of ``attributes`` in front of its first
    sentence (see the module docstring); the variant is flagged by :func:`flag_offline`.

    ``context`` (the prompt, the generic answer, the attributes) only helps decide whether the
    first word is a name, which keeps its capital letter (see :func:`_lowered`).
    Returns the :class:`Variant` (``kind="injection"``) or the reason there is none.
    """
    if flag_offline(text, attributes).flagged:
        return "the answer already has an explicit mention"
    at = _insertion_point(text)
    if at is None:
        return "no sentence that starts with a word to put the mention in front of"
    rng = _rng(seed, item_id)
    attrs = [a for a in attributes if a and a.strip()]
    attr_order = rng.sample(range(len(attrs)), len(attrs))
    tmpl_order = rng.sample(range(len(INJECTION_TEMPLATES)), len(INJECTION_TEMPLATES))
    tried = 0
    for ai in attr_order:
        phrases = attribute_phrases(attrs[ai])
        for ti in tmpl_order:
            name, tmpl = INJECTION_TEMPLATES[ti]
            slot = tmpl[tmpl.index("{") + 1:tmpl.index("}")]
            if not phrases.get(slot):
                continue
            tried += 1
            clause = tmpl.format(**{slot: phrases[slot]})
            new = text[:at] + clause + _lowered(text, at, context)[at:]
            flag = flag_offline(new, attributes)
            region = (at, at + len(clause))
            if flag.flagged and any(s < region[1] and region[0] < e for s, e in flag.spans):
                return Variant("", INJECTED, text, new, text_changes(text, new), "template", flag.spans,
                               attribute=attrs[ai], template=name)
    return f"none of {tried} templated mentions was flagged by the offline rules"


# --- diffs and the check of a model rewrite ------------------------------------------------------


def _tokens(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]


def text_changes(original: str, variant: str) -> tuple[Change, ...]:
    """Token-level differences (difflib.SequenceMatcher over words, spaces and punctuation marks),
    as character ranges into both texts."""
    a, b = _tokens(original), _tokens(variant)
    sm = difflib.SequenceMatcher(None, [t[0] for t in a], [t[0] for t in b], autojunk=False)
    out = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        s = a[i1][1] if i1 < len(a) else len(original)
        e = a[i2 - 1][2] if i2 > i1 else s
        ns = b[j1][1] if j1 < len(b) else len(variant)
        ne = b[j2 - 1][2] if j2 > j1 else ns
        out.append(Change(s, e, ns, ne, original[s:e], variant[ns:ne]))
    return tuple(out)


def _norm_tokens(text: str) -> list[tuple[str, int, int]]:
    """Word and punctuation tokens, lower-cased (whitespace and capitalisation do not count)."""
    return [(t.lower().replace("\u2019", "'"), s, e) for t, s, e in _tokens(text) if not t.isspace()]


def changes_within(original: str, variant: str, zones: list[tuple[int, int]]) -> list[str]:
    """The differences between ``original`` and ``variant`` (ignoring whitespace and capitalisation)
    that are NOT inside one of ``zones`` (character ranges of ``original``); empty = only the zones
    changed. An insertion counts as inside a zone when its position is within or at its edge."""
    a, b = _norm_tokens(original), _norm_tokens(variant)
    sm = difflib.SequenceMatcher(None, [t[0] for t in a], [t[0] for t in b], autojunk=False)
    outside = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        s = a[i1][1] if i1 < len(a) else len(original)
        e = a[i2 - 1][2] if i2 > i1 else s
        if not any(zs <= s and e <= ze for zs, ze in zones):
            removed = original[s:e] if i2 > i1 else ""
            added = " ".join(t[0] for t in b[j1:j2])
            outside.append(f"{op} at {s}: {removed!r} -> {added!r}")
    return outside


def _zone(text: str, span: tuple[int, int], sents: list[tuple[int, int]], extra_words: int = 2) -> tuple[int, int]:
    """A flagged span widened by its separators and ``extra_words`` words each side, within its sentence."""
    ss, se = span_containing(sents, span[0]) or span
    s, e = span
    words = list(_WORD_RE.finditer(text, ss, se))
    before = [w for w in words if w.end() <= s][-extra_words:]
    after = [w for w in words if w.start() >= e][:extra_words]
    zs = before[0].start() if before else ss
    ze = after[-1].end() if after else se
    # the separator right after the widened zone (the comma of a fronted clause) belongs to it too
    m = re.match(r"\s*[" + _SEPARATORS + r".!?]?", text[ze:se])
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
    a, b = _norm_tokens(original), _norm_tokens(rewrite)
    sm = difflib.SequenceMatcher(None, [t[0] for t in a], [t[0] for t in b], autojunk=False)
    changed, outside = False, []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        changed = True
        s = a[i1][1] if i1 < len(a) else len(original)
        e = a[i2 - 1][2] if i2 > i1 else s
        added = [t[0] for t in b[j1:j2] if _WORD_RE.fullmatch(t[0])]
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
