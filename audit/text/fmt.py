"""The one formatter family: how every number, percentage, interval, p-value, token count and dollar
amount is written as text, in the terminal, in warnings, in Markdown, JUnit and HTML. Statistics are
never rounded where they are computed; they are rounded here, when they are shown."""

from __future__ import annotations

import math


def usd(x: float | None) -> str:
    if x is None:
        return "unknown"
    return f"${x:.4f}" if x < 1 else f"${x:,.2f}"


def token_count(x: int | float | None) -> str:
    if x is None:
        return "?"
    return f"{x / 1000:.1f}k" if x >= 1000 else f"{int(x)}"


def pct(x: float | None) -> str:
    return "?" if x is None else f"{100 * x:.0f}%"


def ci_pct(est: dict) -> str:
    ci = as_dict(est).get("ci")
    return f" [95% CI {pct(ci[0])}, {pct(ci[1])}]" if ci else ""


MINUS = "\u2212"  # the typographic minus of the HTML report, figures and Markdown


def is_finite(x) -> bool:
    """A real number that is not NaN or infinite (bools are not numbers here)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def num(x: float | None, digits: int = 2, signed: bool = False, missing: str = "n/a", *, minus: bool = False,
        percent: bool = False) -> str:
    """A number to ``digits`` decimals (``+`` sign when ``signed``; a typographic minus when ``minus``;
    as a percentage with ``digits`` decimals when ``percent``); ``missing`` for None, NaN or inf."""
    if not is_finite(x):
        return missing
    if percent:
        return f"{100 * x:.{digits}f}%"
    s = f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    return s.replace("-", MINUS) if minus else s


def ci_text(ci, digits: int = 2, signed: bool = False, *, minus: bool = False, percent: bool = False) -> str:
    """``[lo, hi]``."""
    return "[" + ", ".join(num(v, digits, signed, minus=minus, percent=percent) for v in ci) + "]"


def as_dict(est):
    """An estimate as a dict: typed results (pydantic models) and dicts read alike."""
    return est.model_dump() if hasattr(est, "model_dump") else est


def has_ci(est: dict | None) -> bool:
    """Whether an estimate dict has a 95% CI with two finite bounds."""
    est = as_dict(est)
    ci = est.get("ci") if isinstance(est, dict) else None
    return bool(ci) and len(ci) == 2 and is_finite(ci[0]) and is_finite(ci[1])


def estimate_text(est: dict | None, *, signed: bool = False, digits: int = 2, ci: bool = True, reason: bool = False,
                  missing: str = "n/a", minus: bool = False, percent: bool = False) -> str:
    """An estimate dict as ``0.43 [0.31, 0.54]``: the estimate, then its 95% CI when it has one.

    ``reason``: say why when there is no estimate (``n/a (fewer than 3 items)``)."""
    est = as_dict(est)
    if not isinstance(est, dict) or est.get("estimate") is None:
        why = est.get("reason") if isinstance(est, dict) else None
        return missing + (f" ({why})" if reason and why else "")
    text = num(est["estimate"], digits, signed, minus=minus, percent=percent)
    if ci and has_ci(est):
        text += " " + ci_text(est["ci"], digits, signed, minus=minus, percent=percent)
    return text


def p_text(p: float | None, *, style: str = "short") -> str:
    """A p-value: ``p<0.001`` / ``p=0.038`` (``short``), ``p < 0.001`` / ``p = 0.038`` (``spaced``),
    ``<0.001`` / ``0.038`` (``bare``) or ``p=0.0383`` with 3 significant digits (``g``)."""
    if p is None:
        return ""
    if style == "g":
        return f"p={p:.3g}"
    if style == "bare":
        return "<0.001" if p < 0.001 else f"{p:.3f}"
    if style == "spaced":
        return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def rating_text(x) -> str:
    """A rating: ``4``, ``3.5``, ``3.67``; ``–`` when missing."""
    if x is None:
        return "–"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.2f}".rstrip("0")
