"""The one plurality rule for several annotators' labels (pairwise studies, stage-1 extraction, the
direction of a run's human ratings): the most frequent label, and a named tie label when two labels
share the top count (three-way ties included)."""

from __future__ import annotations

from collections import Counter
from typing import Hashable, Iterable


def plurality(labels: Iterable[Hashable], tie: Hashable) -> Hashable | None:
    """The most frequent of ``labels``; ``tie`` when the top count is shared; None without labels."""
    counts = Counter(labels)
    if not counts:
        return None
    ranked = counts.most_common()
    return ranked[0][0] if len(ranked) == 1 or ranked[0][1] > ranked[1][1] else tie


def is_tie(labels: Iterable[Hashable]) -> bool:
    """Whether the top count of ``labels`` is shared (the plurality is the tie label)."""
    ranked = Counter(labels).most_common(2)
    return len(ranked) == 2 and ranked[0][1] == ranked[1][1]
