"""Injection: insert one templated mention of an attribute into an answer that names none
("As someone who is vegetarian, ..."), at a seeded template and a sentence boundary. Pure text, no model."""

from __future__ import annotations

import hashlib
import random
import re

from audit.text.edits import INJECTED, WORD_RE, Variant, text_changes
from audit.text.mention import flag_offline
from audit.text.words import sentence_spans


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
    m = WORD_RE.match(text, at)
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
