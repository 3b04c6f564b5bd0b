"""The one threshold mechanism of the gate: every check of every section (preference, relevance,
counterfactual, and the sections to come) reads its estimate and 95% CI from results.json where
:data:`audit.gate.policy.GATE_KEYS` says it is, tests the CI bound in the failing direction, and
fails when it cannot decide. The gate never recomputes a statistic: it decides on exactly the
numbers the report shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from audit.gate.policy import COUNTERFACTUAL_KINDS, GATE_KEYS, Policy

CANNOT_DECIDE = "FAIL (cannot decide): {why}; a check without a CI never passes"


@dataclass(frozen=True)
class Check:
    """One gate check: a number, its 95% CI, the limit and the verdict."""

    name: str  # a policy key ("max_inflation") or "baseline:<metric>"
    metric: str
    estimate: float | None
    ci: tuple[float, float] | None
    limit: float | None
    comparison: str  # "<=" or ">=": bound <comparison> limit passes
    tested: str  # which number is compared with the limit
    bound: float | None
    passed: bool
    detail: str
    method: str = ""
    n: int = 0
    p_value: float | None = None
    source: str = ""

    @property
    def status(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def to_dict(self) -> dict:
        return {
            "name": self.name, "metric": self.metric, "status": self.status, "passed": self.passed,
            "estimate": self.estimate, "ci": None if self.ci is None else list(self.ci),
            "limit": self.limit, "comparison": self.comparison, "tested": self.tested, "bound": self.bound,
            "detail": self.detail, "method": self.method, "n": self.n, "p_value": self.p_value, "source": self.source,
        }


def ci_of(est: dict | None) -> tuple[float, float] | None:
    """The 95% CI of an estimate dict, or None when it has none (or a bound is missing or not finite)."""
    ci = (est or {}).get("ci")
    if not ci or len(ci) != 2 or any(v is None or not math.isfinite(v) for v in ci):
        return None
    return float(ci[0]), float(ci[1])


def tested_bound(tested: str, ci: tuple[float, float]) -> float:
    """The number compared with the limit: the CI bound in the failing direction."""
    if tested == "CI upper bound":
        return ci[1]
    if tested == "CI lower bound":
        return ci[0]
    if tested == "|CI bound| farthest from 0":
        return max(abs(ci[0]), abs(ci[1]))
    raise ValueError(f"unknown tested bound {tested!r}")


def threshold_check(key: str, est: dict | None, limit: float, source: str = "", *, name: str | None = None,
                    metric: str | None = None, missing: str | None = None) -> Check:
    """The check of one threshold on one estimate (a results.json estimate dict).

    ``missing``: why the estimate could not be measured (the check then fails and says so).
    ``name`` / ``metric``: for checks of one key per judge or per kind (default: the key's own)."""
    g = GATE_KEYS[key]
    est = est or {}
    ci = ci_of(est)
    common = dict(name=name or key, metric=metric or g.metric, estimate=est.get("estimate"), ci=ci, limit=limit,
                  comparison=g.comparison, tested=g.tested, method=est.get("method", ""), n=int(est.get("n") or 0),
                  p_value=est.get("p_value"), source=source)
    if missing is not None or ci is None:
        why = missing or est.get("reason") or "no confidence interval"
        return Check(**common, bound=None, passed=False, detail=CANNOT_DECIDE.format(why=why))
    bound = tested_bound(g.tested, ci)
    passed = bound <= limit if g.comparison == "<=" else bound >= limit
    rel = g.comparison if passed else (">" if g.comparison == "<=" else "<")
    shown = f"{bound:.3f}" if g.tested.startswith("|") else f"{bound:+.3f}"
    return Check(**common, bound=bound, passed=passed, detail=f"{g.tested} {shown} {rel} limit {limit:g}")


def fingerprint_check(drift: dict, previous: str, source: str = "") -> Check:
    """``require_same_fingerprint``: the judge's fingerprint equals the one of the ``--drift-from`` run;
    fails naming the differing fields, or saying that the saved run recorded none (cannot verify)."""
    diff = drift.get("fingerprint_diff")
    if diff is None:
        detail = f"cannot verify: {drift.get('fingerprint_note', 'no fingerprint recorded')}"
    else:
        detail = ("identical to " + previous) if not diff else f"differs from {previous} in: {', '.join(diff)}"
    return Check("require_same_fingerprint", "the judge's fingerprint (model snapshot, prompt, schema, parameters) "
                 "equals the --drift-from run's", None, None, None, "==", "fingerprint fields", None, diff == [],
                 detail, "audit.audits.drift.fingerprint_diff", int(drift.get("n_common_items") or 0), None, source)


def count_check(key: str, n: int, limit: int, source: str = "") -> Check:
    """A minimum count (``min_items``): too few is its own failure."""
    passed = n >= limit
    return Check(key, GATE_KEYS[key].metric, float(n), None, float(limit), ">=", "count", float(n), passed,
                 f"{n} items with judge and human ratings {'>=' if passed else '<'} {limit} required"
                 + ("" if passed else ": too few items to decide"), "count", n, None, source)


def unmeasured_checks(key: str, policy: Policy, why: str, names: tuple[str, ...] | None = None) -> list[Check]:
    """FAILING checks for a threshold that could not be measured (e.g. no --relevance-data given).

    ``names``: the check names (default: the key itself; the counterfactual key has one per kind).
    A gate never passes by default, so an unmeasured threshold is a failure that says why.
    """
    base = threshold_check(key, None, getattr(policy, key), policy.sources.get(key, ""), missing=why)
    out = []
    for name in names or (key,):
        kind = name.split(":")[1] if ":" in name else None
        out.append(replace(base, name=name, metric=f"{base.metric} ({kind})" if kind else base.metric))
    return out


def value_at(entry: dict | None, field: tuple[str, ...], **fmt):
    """The value at ``field`` (a path of keys, formatted with ``fmt``) in a judge's results entry."""
    value = entry
    for part in field:
        if not isinstance(value, dict):
            return None
        value = value.get(part.format(**fmt))
    return value


def estimate_at(entry: dict | None, field: tuple[str, ...], **fmt) -> dict | None:
    """The estimate dict at ``field``; a bare number becomes an estimate without interval."""
    value = value_at(entry, field, **fmt)
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # a bare number: no interval
        return {"estimate": float(value), "reason": f"{'.'.join(field)} has no confidence interval in results.json"}
    return value


def _limit(policy, key: str):
    return policy.get(key) if isinstance(policy, dict) else getattr(policy, key, None)


def evaluate(results: dict, judge: str, policy: Policy, *, position_note: str | None = None) -> list[Check]:
    """The preference checks (``judge-audit run``'s section) of ``policy`` for ``judge``, on the
    estimates of ``results["judges"][judge]``. ``position_note`` explains why the flip rate cannot be
    measured (e.g. imported ratings have no order)."""
    entry = results["judges"][judge]
    checks = []
    for key, limit in policy.thresholds().items():
        g = GATE_KEYS[key]
        if g.section != "preference":
            continue
        source = policy.sources.get(key, "")
        if g.tested == "count":
            checks.append(count_check(key, int(value_at(entry, g.field) or 0), limit, source))
            continue
        est = estimate_at(entry, g.field)
        missing = None
        if est is None:
            where = "judges.J." + ".".join(g.field)
            missing = ("not measured" + (f": {position_note}" if position_note else
                                         f" (results.json has no {where}; judge in both orders)")
                       if key == "max_position_flip_rate" else f"results.json has no {where}")
        checks.append(threshold_check(key, est, limit, source, missing=missing))
    return checks


def section_checks(results: dict, section: str, policy, judges: list[str] | None = None) -> list[Check]:
    """The checks of a judge-level section other than the preference one (``relevance``,
    ``counterfactual``): one per judge (and per kind, for the counterfactual effect).

    ``results``: a results.json dict with the section (or the section itself). ``policy``: a
    :class:`Policy` or a mapping of limits (None = not gated). A check's name is the key, with
    ``:kind`` and, when several judges are checked, ``:judge`` appended."""
    sec = results.get(section, results)
    names = judges or list(sec.get("judges", {}))
    checks = []
    for name in names:
        entry = sec.get("judges", {}).get(name)
        for key, g in GATE_KEYS.items():
            limit = _limit(policy, key)
            if g.section != section or limit is None:
                continue
            for kind in COUNTERFACTUAL_KINDS if "{kind}" in "".join(g.field) else (None,):
                label = key + (f":{kind}" if kind else "") + (f":{name}" if len(names) > 1 else "")
                missing = f"judge not in the {section} results" if entry is None else None
                checks.append(threshold_check(key, estimate_at(entry, g.field, kind=kind), float(limit), section,
                                              name=label, metric=f"{g.metric} ({kind})" if kind else None,
                                              missing=missing))
    return checks


def relevance_checks(results: dict, policy, judges: list[str] | None = None) -> list[Check]:
    """Gate checks of the relevance thresholds (``max_over_selection_ratio``, ``min_relevance_f1``)."""
    return section_checks(results, "relevance", policy, judges)


def counterfactual_checks(results: dict, policy, judges: list[str] | None = None) -> list[Check]:
    """Gate checks of the causal mention effect, one per judge and kind (ablation, injection)."""
    return section_checks(results, "counterfactual", policy, judges)


# --- the gate's verdict ------------------------------------------------------------------------


@dataclass(frozen=True)
class GateReport:
    judge: str
    checks: tuple[Check, ...]
    policy: Policy
    data: str | None = None
    baseline: str | None = None
    notes: tuple[str, ...] = ()
    relevance_data: str | None = None  # the relevance pairs behind the relevance checks

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and not self.failed

    def summary(self) -> str:
        if not self.checks:
            return "FAILED: no checks were run"
        if self.passed:
            return f"PASSED: all {len(self.checks)} checks passed for judge {self.judge!r}"
        names = ", ".join(c.name for c in self.failed)
        return f"FAILED: {len(self.failed)} of {len(self.checks)} checks failed for judge {self.judge!r} ({names})"

    def to_dict(self) -> dict:
        return {
            "judge": self.judge, "baseline": self.baseline, "data": self.data, "relevance_data": self.relevance_data,
            "passed": self.passed, "status": "PASS" if self.passed else "FAIL",
            "n_checks": len(self.checks), "n_failed": len(self.failed), "summary": self.summary(),
            "policy": self.policy.to_dict(), "checks": [c.to_dict() for c in self.checks], "notes": list(self.notes),
        }
