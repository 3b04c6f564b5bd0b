"""The one Jinja environment of every HTML page (report, relevance, counterfactual): templates from
reports/, autoescape on (model outputs are untrusted text), strict undefined, and the number filters
of the formatter family (:mod:`audit.text.fmt`)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

import jinja2

from audit.data.assets import asset_dir
from audit.text.fmt import num, rating_text


@lru_cache(maxsize=None)
def environment() -> jinja2.Environment:
    """The page environment (made once). Filters: ``num`` (signed, typographic minus), ``plain``,
    ``pct`` and ``rating``; every missing value shows as ``–``."""
    root = asset_dir("reports")
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: root.joinpath(name).read_text(encoding="utf-8")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda x, d=2: num(x, d, signed=True, missing="–", minus=True)
    env.filters["plain"] = lambda x, d=2: num(x, d, missing="–")
    env.filters["pct"] = lambda x: num(x, 1, missing="–", percent=True)
    env.filters["rating"] = rating_text
    return env


def render_page(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


@lru_cache(maxsize=None)
def asset(name: str) -> str:
    """A file of reports/ (CSS, JS), read once."""
    return asset_dir("reports").joinpath(name).read_text(encoding="utf-8")


def csp_hash(text: str) -> str:
    """The Content-Security-Policy hash source of an inline script or style."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def highlighted_pieces(text: str, ranges) -> list[tuple[str, bool]]:
    """``text`` cut into (segment, highlighted) pieces at the character ``ranges`` [start, end);
    overlapping or out-of-range ranges are clipped. The template escapes each piece."""
    pieces, pos = [], 0
    for start, end in sorted(ranges):
        start, end = max(start, pos), min(end, len(text))
        if end <= start:
            continue
        pieces.append((text[pos:start], False))
        pieces.append((text[start:end], True))
        pos = end
    pieces.append((text[pos:], False))
    return [p for p in pieces if p[0]]
