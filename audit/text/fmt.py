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
    ci = est.get("ci")
    return f" [95% CI {pct(ci[0])}, {pct(ci[1])}]" if ci else ""


def num(x: float | None, digits: int = 2, signed: bool = False, missing: str = "n/a") -> str:
    """A number to ``digits`` decimals (``+`` sign when ``signed``); ``missing`` for None, NaN or inf."""
    if x is None or not math.isfinite(x):
        return missing
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def ci_text(ci, digits: int = 2, signed: bool = False) -> str:
    """``[lo, hi]``."""
    return "[" + ", ".join(num(v, digits, signed) for v in ci) + "]"


def estimate_text(est: dict | None, *, signed: bool = False, digits: int = 2, ci: bool = True, reason: bool = False,
                  missing: str = "n/a") -> str:
    """An estimate dict as ``0.43 [0.31, 0.54]``: the estimate, then its 95% CI when it has one.

    ``reason``: say why when there is no estimate (``n/a (fewer than 3 items)``)."""
    if not est or est.get("estimate") is None:
        return missing + (f" ({est['reason']})" if reason and est and est.get("reason") else "")
    text = num(est["estimate"], digits, signed)
    if ci and est.get("ci"):
        text += " " + ci_text(est["ci"], digits, signed)
    return text


def p_text(p: float | None, *, style: str = "short") -> str:
    """A p-value: ``p<0.001`` / ``p=0.038`` (``short``), or ``p = 0.038`` with 2 significant digits (``g``)."""
    if p is None:
        return ""
    if style == "g":
        return f"p={p:.3g}"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"
