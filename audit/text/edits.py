"""The records of a counterfactual edit (which spans of an answer changed, the variant, why an item
gave none) and the token diff that finds the changes between two texts. Pure text, no model."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field


ABLATED, INJECTED = "ablation", "injection"


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


WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)?")


_TOKEN_RE = re.compile(r"\s+|[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)?|[^\sA-Za-z0-9]")


def word_list(text: str) -> list[str]:
    return [w.lower().replace("\u2019", "'") for w in WORD_RE.findall(text)]


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


def norm_tokens(text: str) -> list[tuple[str, int, int]]:
    """Word and punctuation tokens, lower-cased (whitespace and capitalisation do not count)."""
    return [(t.lower().replace("\u2019", "'"), s, e) for t, s, e in _tokens(text) if not t.isspace()]


def changes_within(original: str, variant: str, zones: list[tuple[int, int]]) -> list[str]:
    """The differences between ``original`` and ``variant`` (ignoring whitespace and capitalisation)
    that are NOT inside one of ``zones`` (character ranges of ``original``); empty = only the zones
    changed. An insertion counts as inside a zone when its position is within or at its edge."""
    a, b = norm_tokens(original), norm_tokens(variant)
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
