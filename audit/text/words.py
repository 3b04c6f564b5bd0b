"""The words and sentences the mention rules see: tokens, stems, a small synonym map from words to
concepts ("coder", "programmer" -> code), the concepts of an attribute, and sentence spans. Part of the
offline mention rules: a change here can change a flag, so bump
:data:`audit.text.mention.RULES_VERSION` with it. Pure text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple


TOKEN_RE = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")


STOP = frozenset(
    """a an the of in on at to for with and or is are am be been was were who
    that which this my me i someone person people user""".split()
)


# relation words that frame an attribute but do not carry its content
_LIGHT = frozenset(
    """live lives living lived based resident reside loves love loving loved
    like likes enjoy enjoys interested interest interests into fan fans
    enthusiast passionate about work works working worker has have having
    year years old aged age diet really very currently""".split()
)


_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten twelve".split()
)


_WEAK = _NUMBER_WORDS | frozenset(
    """first new big small good great young real self single time day avid
    free full part""".split()
)


SYNONYMS: dict[str, tuple[str, ...]] = {
    "parent": ("parent", "parents", "parenting", "mom", "mum", "mother",
               "mommy", "dad", "father", "daddy", "mama", "papa"),
    "kid": ("kid", "kids", "child", "children", "son", "sons", "daughter",
            "daughters", "toddler", "toddlers", "baby", "babies", "teen",
            "teenager"),
    "code": ("code", "coder", "coding", "program", "programmer", "programming",
             "developer", "develop", "software", "dev"),
    "hike": ("hike", "hiker", "hiking", "trek", "trekking", "hillwalking"),
    "run": ("run", "runner", "running", "jog", "jogger", "jogging"),
    "vegetarian": ("vegetarian", "veggie", "meatless"),
    "vegan": ("vegan", "veganism", "plant-based"),
    "cook": ("cook", "cooking", "chef", "baking", "baker"),
    "diabetes": ("diabetes", "diabetic"),
    "retire": ("retired", "retiree", "retirement", "retire"),
    "photo": ("photographer", "photography", "photo", "photos"),
    "music": ("musician", "music", "musical"),
    "write": ("writer", "writing", "author"),
    "teach": ("teacher", "teaching", "educator", "teach"),
    "nurse": ("nurse", "nursing"),
    "garden": ("gardener", "gardening", "garden"),
    "pregnant": ("pregnant", "pregnancy", "expecting"),
    "allergy": ("allergy", "allergies", "allergic"),
    "account": ("accountant", "accounting", "accountancy", "bookkeeper"),
    "finance": ("finance", "financial", "banker", "banking"),
    "design": ("designer", "design", "designing"),
    "science": ("scientist", "science", "scientific"),
    "invest": ("invest", "investing", "investor", "investment"),
    "guitar": ("guitar", "guitarist"),
    "astronomy": ("astronomy", "astronomer", "stargazing", "stargazer"),
    "introvert": ("introvert", "introverted", "introversion"),
    "extrovert": ("extrovert", "extroverted"),
    "anxiety": ("anxiety", "anxious"),
    "afraid": ("afraid", "fear", "scared", "phobia"),
    "travel": ("travel", "traveler", "traveller", "traveling", "travelling"),
    "student": ("student", "students", "studying", "undergrad", "undergraduate"),
    "doctor": ("doctor", "physician", "gp"),
    "lawyer": ("lawyer", "attorney", "solicitor"),
    "medicine": ("medicine", "medical"),
    "remote": ("remote", "remotely", "wfh"),
    "buy": ("buyer", "homebuyer", "buying"),
    "speak": ("speaker", "speaking", "speak"),
    "language": ("language", "tongue"),
    "dog": ("dog", "dogs", "puppy", "pup"),
    "cat": ("cat", "cats", "kitten"),
}


PERSON_SUFFIXES = ("er", "ers", "or", "ors", "ist", "ists", "ian", "ians",
                    "ent", "ents", "ant", "ants")


PERSON_NOUNS = frozenset(
    """mom mum mother dad father parent parents kid kids child children son
    daughter nurse doctor chef coach boss partner wife husband friend friends
    family sister brother""".split()
)


def _stem(word: str) -> str:
    w = word.lower().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    w = w.split("'")[0]
    if len(w) <= 3 or w.isdigit():
        return w
    for suf, rep in (("ies", "y"), ("sses", "ss")):
        if w.endswith(suf):
            w = w[: -len(suf)] + rep
            break
    else:
        if w.endswith("s") and not w.endswith(("ss", "us", "is")):
            w = w[:-1]
    for suf in ("ing", "ers", "er", "ed", "ly", "ist", "ian"):
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            w = w[: -len(suf)]
            if len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "ls":
                w = w[:-1]  # running -> runn -> run
            break
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w


_SYN_MAP: dict[str, str] = {}
for _canon, _words in SYNONYMS.items():
    for _w in _words:
        for _part in re.split(r"[-\s]", _w):
            _SYN_MAP.setdefault(_stem(_part), _canon)
            _SYN_MAP.setdefault(_part, _canon)


@lru_cache(maxsize=1 << 16)  # a pure word -> concept map; texts repeat words, so most calls are hits
def _concept(word: str) -> str:
    low = word.lower().replace("\u2019", "'")
    if low in _SYN_MAP:
        return _SYN_MAP[low]
    s = _stem(low)
    return _SYN_MAP.get(s, s)


@dataclass(frozen=True)
class Attr:
    content: frozenset[str]
    strong: frozenset[str]


def attr_concepts(attribute: str) -> Attr:
    words = [w.lower() for w in TOKEN_RE.findall(attribute.replace("\u2019", "'"))]
    kept = [w for w in words if w not in STOP and w not in _LIGHT]
    if not kept:  # e.g. "loves" alone -- keep everything but stop words
        kept = [w for w in words if w not in STOP]
    content = frozenset(_concept(w) for w in kept)
    strong = frozenset(c for c, w in ((_concept(w), w) for w in kept)
                       if w not in _WEAK and not w.isdigit() and c not in _WEAK
                       and c not in _LIGHT)
    return Attr(content, strong)


class Tok(NamedTuple):  # a tuple: tens of thousands are made per thousand answers
    start: int
    end: int
    low: str
    concept: str


_SENT_END_RE = re.compile(r"(?<=[.!?])\s+|\n+")


def tokens(text: str) -> list[Tok]:
    return [Tok(m.start(), m.end(), m.group().lower(), _concept(m.group()))
            for m in TOKEN_RE.finditer(text)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every sentence: text split after . ! ? followed by whitespace, and at newlines."""
    out, pos = [], 0
    for m in _SENT_END_RE.finditer(text):
        if m.start() > pos:
            out.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        out.append((pos, len(text)))
    return out


def span_containing(ranges: list[tuple[int, int]], pos: int) -> tuple[int, int] | None:
    """The (start, end) range of ``ranges`` that holds position ``pos`` (None if none does)."""
    for r in ranges:
        if r[0] <= pos < r[1]:
            return r
    return None
