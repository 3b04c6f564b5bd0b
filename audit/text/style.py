"""The style of an answer pair, the covariates of the style-controlled mention effect
(:func:`audit.stats.style.style_regression`).

For a personalized answer P and a generic answer G of one item:

* ``length`` = (L_P - L_G) / (L_P + L_G), L = the number of words (runs of letters or digits);
  in [-1, 1], 0 when both are empty. Positive: the personalized answer is longer.
* ``markdown`` = (D_P - D_G) / (D_P + D_G), D = markdown elements per word: header lines
  (``#``..``######``), list items (``-``, ``*``, ``+``, ``1.``/``1)`` at the start of a line) and bold
  spans (``**x**`` / ``__x__``); 0 when neither answer has any.

The normalised difference follows AlpacaEval's length-controlled win rate and Chatbot Arena /
Arena-Hard's style control (which use normalised length and markdown-count differences as
covariates): it is bounded, symmetric in the two answers, and unit-free.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[^\W_]+", re.UNICODE)
HEADER = re.compile(r"^\s{0,3}#{1,6}\s+\S", re.M)
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+\S", re.M)
BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def words(text: str) -> int:
    return len(WORD.findall(text or ""))


def markdown_elements(text: str) -> int:
    text = text or ""
    return len(HEADER.findall(text)) + len(LIST_ITEM.findall(text)) + len(BOLD.findall(text))


def normalised_difference(p: float, g: float) -> float:
    """(p - g) / (p + g), 0 when both are 0."""
    return 0.0 if p + g == 0 else (p - g) / (p + g)


def style_covariates(personalized: str, generic: str) -> dict[str, float]:
    """``{"length", "markdown"}`` of one pair (see the module docstring) plus the raw counts."""
    lp, lg = words(personalized), words(generic)
    mp, mg = markdown_elements(personalized), markdown_elements(generic)
    dp, dg = (mp / lp if lp else 0.0), (mg / lg if lg else 0.0)
    return {"length": normalised_difference(lp, lg), "markdown": normalised_difference(dp, dg),
            "words_personalized": lp, "words_generic": lg,
            "markdown_personalized": mp, "markdown_generic": mg}
