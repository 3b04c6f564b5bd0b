"""Offline (no model) detector for *explicit* mentions of user attributes.

An answer mentions an attribute explicitly when it names the attribute (or a
clear paraphrase) as a fact about the user: "As a software developer, you ...",
"Given your interest in hiking", "Since you're vegetarian", "for a beginner
runner like you", "You mentioned you have two kids".  Implicit tailoring
(suggesting lentil recipes to a vegetarian without saying so) is NOT a mention.

``flag_offline(text, attributes)`` is a pure, rule-based function.  It returns a
``MentionFlag`` whose ``spans`` are character offsets ``[start, end)`` covering
roughly the phrase/clause that names the attribute.

How it works
------------
1. Attribute normalisation.  Each attribute string is tokenised, lower-cased and
   crudely stemmed (plural -s/-ies, -ing, -er, -ed, -ly, -ist, -ian, trailing
   -e), then mapped through a small synonym table (``SYNONYMS``: mom/dad ->
   parent, coder/programmer/developer/software -> code, hiker/hiking -> hike,
   ...).  Stop words and "light" relation words (lives, loves, interested,
   fan, user, works, years, old, ...) are dropped, leaving *content concepts*.
   Numbers and generic adjectives (two, new, small, first, ...) are *weak*: they
   count towards overlap but can never trigger a match on their own unless the
   attribute has nothing else (e.g. "70 years old").

2. Cue rules (second-person framing).  A regex cue opens a *window* of text in
   which the attribute must appear (>= 1 strong content concept):
     forward window (cue start -> next clause boundary):
       "as a/an ...", "as someone who/with ...", "being (a/an) ...",
       "since/because/given that/now that/considering (that)/seeing as/
        knowing (that|how much) you ...", "given/considering/with/
        in light of your ...", "your experience/background/work/... as|in ...",
       "in your role/capacity/line of work as ...", "you mentioned/said/
        told me/noted/...", "you're/you are ...", "for someone who/that ..."
     backward window (clause start -> cue end; previous clause as fallback):
       "... like you(rself)", "... as you mentioned/said", "... as you do".
   Cues without a second-person word of their own ("as a", "being",
   "for someone who") only count when the sentence addresses the user
   (you/your/yourself).  For "as a/an" and "being" the window also stops at the
   first you/your token so the span is the framing phrase only.
   "as a rule/an example/a result/a whole/..." (``_AS_A_EXCLUDE``) are ignored.

3. Fallback (claim about the user without a listed cue).  In a sentence, a
   second-person token (you/your/yourself/you're/...) within ``_NEAR`` tokens of
   *most* (> half) of an attribute's content concepts, at least one strong,
   is flagged ("Living in Berlin, you ...", "your accounting background",
   "At 70, you ...").  The span is the clause(s) holding the attribute words.
   A matched attribute word is ignored when it clearly refers to someone else:
   preceded by the/this/that/his/her/their/our/my or a possessive ("your
   child's teacher"), or a person noun right after "your" ("your parents").

4. Conditionals / hypotheticals.  A cue or second-person token whose clause
   contains if/whether/unless/suppose/imagine/pretend/when/in case/even if
   before it is not an assertion ("If you're vegetarian, ...", "Whether you're
   a developer or ...", "When you visit Toronto") and is skipped.

Labelling conventions (see fixtures/mention_labels.jsonl): a mention asserts or
presupposes the attribute of the user; conditionals, hypotheticals, generic
statements ("Vegetarian dishes are popular"), implicit tailoring and attribute
words about other people are not mentions.

Known blind spots
-----------------
* "as a <attribute-word> <non-person noun>" ("As a vegetarian option, ...",
  "As a developer-friendly option, you ...") and quotations ("As a
  photographer once told me, ... you ...") are flagged: no parser, so the head
  noun is not identified.
* Role-play framings ("Think of yourself as a teacher ...") are flagged.
* Paraphrases with no shared content word and no synonym entry are missed
  ("since you don't eat animal products" for "vegan"), as are references
  through pronouns ("Toronto ... since you live there") beyond ``_NEAR`` tokens.
* The fallback can fire on an attribute word that is merely near "you" and
  used as a modifier or about something else ("You could try a vegetarian
  lasagna", "Your running shoes ..." for "runner", "This recipe is vegan,
  which works for you"), and on place names/numbers in a sentence that
  addresses the user for another reason ("Toronto has a great transit system
  you can use").
* The "you're/you are" cue accepts any attribute word later in the clause, so
  "You're going to love the vegetarian menu" is flagged.
* English only; stemming is crude; sentence splitting is naive (abbreviations
  such as "a.m." split sentences).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

from audit.data.items import MentionFlag
from audit.text.words import Attr, PERSON_NOUNS, PERSON_SUFFIXES, STOP, TOKEN_RE, Tok, attr_concepts, sentence_spans, span_containing, tokens

__all__ = ["RULES_VERSION", "flag_offline", "locate_quote", "sentence_spans", "span_containing"]

# The version of the rules below. Offline flags are remembered in the cache under this version
# (audit.audits.flagging.flag_offline_cached): bump it whenever a change to this module can change a
# flag or a span, or stale flags will be reused.
RULES_VERSION = "mention-rules-1"


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------




# ---------------------------------------------------------------------------
# Text structure
# ---------------------------------------------------------------------------


_SECOND_PERSON = frozenset(
    """you your yours yourself yourselves you're you've you'll you'd""".split()
)
_HYPOTHETICAL = frozenset(
    """if whether unless suppose supposing imagine pretend when whenever""".split()
)
_HYPOTHETICAL_PHRASES = ("in case", "even if", "what if")
_CLAUSE_BOUND_RE = re.compile(r"[,;:()\u2014\u2013]|\s-\s|\b(?:but|so|which|while|whereas)\b",
                              re.IGNORECASE)
_OTHER_REF = frozenset("the this that these those his her their our my its".split())


def _clauses(text: str, sent: tuple[int, int]) -> list[tuple[int, int]]:
    s, e = sent
    out, pos = [], s
    for m in _CLAUSE_BOUND_RE.finditer(text, s, e):
        if m.start() > pos:
            out.append((pos, m.start()))
        # conjunction words start the next clause; punctuation is dropped
        pos = m.start() if m.group()[0].isalpha() else m.end()
    if pos < e:
        out.append((pos, e))
    return out


def _strip(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and not text[s].isalnum():
        s += 1
    while e > s and text[e - 1] in " \t\n,;:.!?\u2014\u2013-":
        e -= 1
    return s, e


def _is_hypothetical(text: str, clause: tuple[int, int], pos: int) -> bool:
    prefix = text[clause[0]:pos].lower().replace("\u2019", "'")
    words = set(TOKEN_RE.findall(prefix))
    if words & _HYPOTHETICAL:
        return True
    return any(p in prefix for p in _HYPOTHETICAL_PHRASES)


# ---------------------------------------------------------------------------
# Cues
# ---------------------------------------------------------------------------

_AS_A_EXCLUDE = frozenset(
    """rule example result whole matter bonus reminder side note first
    starting general last final consequence precaution courtesy default
    guideline alternative aside quick compromise start sanity simple
    baseline""".split()
)

_YOU = r"you(?:'re|'ve|'d|\s+are|\s+have|\s+were)?"
# (regex, direction, needs_second_person_in_sentence, stop_at_you)
_CUES: list[tuple[re.Pattern[str], str, bool, bool]] = [
    (re.compile(r"\bas\s+(?:an?)\s+(?P<np>[A-Za-z-]+)", re.I), "fwd", True, True),
    # a sentence that opens with "As a/an X, ..." addresses the reader even without "you"
    # ("As a beginner runner, keep it to three runs a week")
    (re.compile(r"(?:^|(?<=[.!?]\s))as\s+(?:an?)\s+(?P<np>[A-Za-z-]+)", re.I | re.M), "fwd", False, True),
    (re.compile(r"\bas\s+someone\s+(?:who|with|that)\b", re.I), "fwd", True, False),
    (re.compile(r"(?:^|(?<=[.!?,;:]\s))being\s+(?:an?\s+)?", re.I | re.M), "fwd", True, True),
    (re.compile(r"\b(?:since|because|given\s+that|now\s+that|considering(?:\s+that)?|"
                r"seeing\s+(?:as|that)|knowing(?:\s+that|\s+how\s+much)?)\s+" + _YOU + r"\b",
                re.I), "fwd", False, False),
    (re.compile(r"\b(?:given|considering|with|in\s+light\s+of|because\s+of|due\s+to)\s+your\b",
                re.I), "fwd", False, False),
    (re.compile(r"\byour\s+(?:experience|background|work|career|job|role|training|"
                r"expertise|time|years)\s+(?:as|in|with)\b", re.I), "fwd", False, False),
    (re.compile(r"\bin\s+your\s+(?:role|capacity|job|work|line\s+of\s+work|position)\s+as\b",
                re.I), "fwd", False, False),
    (re.compile(r"\byou\s+(?:mentioned|said|told\s+me|noted|wrote|indicated|shared|"
                r"explained|described)\b", re.I), "fwd", False, False),
    (re.compile(r"\byou(?:'re|\s+are)\b", re.I), "fwd", False, False),
    (re.compile(r"\bfor\s+(?:someone|somebody|a\s+person|people|anyone)\s+(?:who|that)\b",
                re.I), "fwd", True, False),
    (re.compile(r"\blike\s+you(?:rself)?(?:\s+do)?\b", re.I), "bwd", False, False),
    (re.compile(r"\bas\s+you\s+(?:mentioned|said|noted|do|are)\b", re.I), "bwd", False, False),
]


def _overlap(toks: list[Tok], attr: Attr) -> list[Tok]:
    return [t for t in toks if t.concept in attr.content and t.low not in STOP]


def _strong_hit(hits: list[Tok], attr: Attr) -> bool:
    if not attr.content:
        return False
    if attr.strong:
        return any(t.concept in attr.strong for t in hits)
    return bool(hits)  # attribute made only of weak words ("70 years old")


def _tok_range(toks: list[Tok], s: int, e: int) -> range:
    """Indices of the tokens lying wholly inside ``[s, e)`` (tokens are sorted and disjoint)."""
    lo = bisect_left(toks, s, key=lambda t: t.start)
    hi = bisect_right(toks, e, key=lambda t: t.end)
    return range(lo, max(lo, hi))


def _toks_in(toks: list[Tok], s: int, e: int) -> list[Tok]:
    return [toks[i] for i in _tok_range(toks, s, e)]


def _cue_spans(text: str, toks: list[Tok], attrs: list[Attr]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    sents = sentence_spans(text)
    for rx, direction, needs_2p, stop_at_you in _CUES:
        for m in rx.finditer(text):
            sent = span_containing(sents, m.start())
            if sent is None:
                continue
            if "np" in rx.groupindex and m.group("np").lower() in _AS_A_EXCLUDE:
                continue
            sent_toks = _toks_in(toks, *sent)
            if needs_2p and not any(t.low in _SECOND_PERSON for t in sent_toks):
                continue
            clauses = _clauses(text, sent)
            clause = span_containing(clauses, m.start()) or sent
            if _is_hypothetical(text, clause, m.start()):
                continue
            if direction == "fwd":
                w_end = clause[1]
                if m.end() > w_end:  # cue itself spans a boundary
                    w_end = (span_containing(clauses, m.end() - 1) or sent)[1]
                if stop_at_you:
                    for t in _toks_in(toks, m.end(), w_end):
                        if t.low in _SECOND_PERSON:
                            w_end = t.start
                            break
                windows = [(m.start(), w_end)]
            else:
                windows = [(clause[0], m.end())]
                idx = clauses.index(clause) if clause in clauses else -1
                if idx > 0:
                    windows.append((clauses[idx - 1][0], m.end()))
            for ws, we in windows:
                win = _toks_in(toks, ws, we)
                if any(_strong_hit(_overlap(win, a), a) for a in attrs):
                    spans.append(_strip(text, ws, we))
                    break
    return spans


# ---------------------------------------------------------------------------
# Fallback
# ---------------------------------------------------------------------------

_NEAR = 6


def _refers_to_other(toks: list[Tok], i: int) -> bool:
    """True if token i is an attribute word that clearly belongs to someone else."""
    if i == 0:
        return False
    prev = toks[i - 1]
    if prev.low in _OTHER_REF or prev.low.endswith("'s"):
        return True
    tok = toks[i]
    if prev.low in ("your", "yours") and (
        tok.low in PERSON_NOUNS or tok.low.endswith(PERSON_SUFFIXES)
    ):
        return True
    return False


def _fallback_spans(text: str, toks: list[Tok], attrs: list[Attr]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for sent in sentence_spans(text):
        idxs = _tok_range(toks, *sent)
        if not idxs:
            continue
        clauses = _clauses(text, sent)
        you_idx = []
        for i in idxs:
            if toks[i].low in _SECOND_PERSON:
                cl = span_containing(clauses, toks[i].start) or sent
                if not _is_hypothetical(text, cl, toks[i].start):
                    you_idx.append(i)
        if not you_idx:
            continue
        for attr in attrs:
            if not attr.content:
                continue
            for y in you_idx:
                near = [i for i in idxs
                        if abs(i - y) <= _NEAR and toks[i].low not in _SECOND_PERSON
                        and toks[i].concept in attr.content and toks[i].low not in STOP
                        and not _refers_to_other(toks, i)]
                found = {toks[i].concept for i in near}
                if len(found) * 2 <= len(attr.content):
                    continue
                if not _strong_hit([toks[i] for i in near], attr):
                    continue
                cls = {(span_containing(clauses, toks[i].start) or sent) for i in near}
                s, e = min(c[0] for c in cls), max(c[1] for c in cls)
                spans.append(_strip(text, s, e))
                break
    return spans


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------

def _merge(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(x for x in spans if x[1] > x[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return tuple(out)


def flag_offline(text: str, attributes: list[str]) -> MentionFlag:
    """Flag explicit mentions of any of ``attributes`` in ``text`` (rule-based).

    Returns ``MentionFlag(flagged, spans, source="offline")``; spans are
    merged, sorted ``[start, end)`` character offsets into ``text``.
    """
    attrs = [a for a in (attr_concepts(x) for x in attributes if x and x.strip())
             if a.content]
    if not text or not attrs:
        return MentionFlag(False, (), "offline")
    norm = text.replace("\u2019", "'")  # same length, so offsets are preserved
    toks = tokens(norm)
    cue = _cue_spans(norm, toks, attrs)
    # fallback spans are whole clauses; keep them only where no cue already
    # produced a tighter span, so "As a developer you ..." stays "As a developer"
    extra = [(s, e) for s, e in _fallback_spans(norm, toks, attrs)
             if not any(s < ce and cs < e for cs, ce in cue)]
    merged = _merge(cue + extra)
    return MentionFlag(bool(merged), merged, "offline")


# ---------------------------------------------------------------------------
# The flagging stage: the user's own flag, else the offline rules or an LLM
# ---------------------------------------------------------------------------


def locate_quote(text: str, quote: str | None) -> tuple[tuple[int, int], ...]:
    """Character span of the LLM's quoted words in ``text`` (case-insensitive), if found."""
    if not quote:
        return ()
    at = text.lower().find(quote.strip().lower())
    return ((at, at + len(quote.strip())),) if at >= 0 and quote.strip() else ()


