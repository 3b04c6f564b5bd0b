"""The CI gate behind ``judge-audit check``: a policy of thresholds, the checks, and the paired
comparison of a new judge with its baseline. Pure: dicts and DataFrames in, :class:`Check` out.

A threshold is always tested on the 95% CI bound in the failing direction, never on the point
estimate alone; a check whose number or interval is missing (too few items, constant ratings,
not measured) FAILS -- a gate never passes by default.

Policy file (TOML, every key optional; see fixtures/judge-policy.toml and docs/GATE.md)::

    min_items = 30                  # items with both judge and human ratings
    max_inflation = 0.75            # upper CI bound of mean(judge - human)
    max_mention_gap = 0.75          # CI bound farthest from 0 of (judge mention delta - human mention delta)
    min_spearman = 0.5              # lower CI bound of Spearman rho(judge, human mean)
    max_position_flip_rate = 0.2    # upper CI bound; judges the items in both presentation orders
    max_over_selection_ratio = 2.0  # upper CI bound of judge / human relevance selection rate (--relevance-data)
    min_relevance_f1 = 0.4          # lower CI bound of relevance F1 against the human majority (--relevance-data)
    max_counterfactual_effect = 0.5 # CI bound farthest from 0 of the causal mention effect (counterfactual test)

    [baseline]                      # used with --baseline
    metrics = ["inflation", "mention_gap", "spearman"]
    n_resamples = 2000
    seed = 0
"""

from __future__ import annotations

import difflib
import math
import tomllib
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import measure
from .errors import ConfigError
from .measure import Estimate

# threshold key -> (display name, comparison, which CI bound is tested)
THRESHOLDS: dict[str, tuple[str, str, str]] = {
    "min_items": ("items with judge and human ratings", ">=", "count"),
    "max_inflation": ("inflation: mean(judge - human)", "<=", "CI upper bound"),
    "max_mention_gap": ("excess mention uplift: judge mention delta - human mention delta", "<=", "|CI bound| farthest from 0"),
    "min_spearman": ("Spearman rho with the human mean", ">=", "CI lower bound"),
    "max_position_flip_rate": ("position flip rate (both presentation orders)", "<=", "CI upper bound"),
    # measured by the relevance audit on --relevance-data (audit.relevance_run.relevance_checks)
    "max_over_selection_ratio": ("relevance over-selection ratio: judge / human selection rate", "<=", "CI upper bound"),
    "min_relevance_f1": ("relevance F1 against the human majority", ">=", "CI lower bound"),
    # measured by the counterfactual test on --data (audit.counterfactual_run.counterfactual_checks)
    "max_counterfactual_effect": ("causal mention effect: rating(with the mention) - rating(without), same answer "
                                  "otherwise", "<=", "|CI bound| farthest from 0"),
}
# which stage measures each threshold
AUDIT_KEYS = ("min_items", "max_inflation", "max_mention_gap", "min_spearman", "max_position_flip_rate")
RELEVANCE_KEYS = ("max_over_selection_ratio", "min_relevance_f1")
COUNTERFACTUAL_KEYS = ("max_counterfactual_effect",)
COUNTERFACTUAL_KINDS = ("ablation", "injection")  # one check per kind (audit.counterfactual.ABLATED / INJECTED)
# baseline metric -> the threshold it belongs to
BASELINE_METRICS = {
    "inflation": "max_inflation",
    "mention_gap": "max_mention_gap",
    "spearman": "min_spearman",
    "position_flip_rate": "max_position_flip_rate",
}
DEFAULT_BASELINE_METRICS = ("inflation", "mention_gap", "spearman")
_BASELINE_KEYS = {"metrics", "n_resamples", "seed"}
MIN_VALID_RESAMPLES = 0.9  # share of bootstrap resamples on which the statistic must be defined


# --- the policy ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """Thresholds (None = not gated) and the settings of the baseline comparison."""

    min_items: int | None = None
    max_inflation: float | None = None
    max_mention_gap: float | None = None
    min_spearman: float | None = None
    max_position_flip_rate: float | None = None
    max_over_selection_ratio: float | None = None
    min_relevance_f1: float | None = None
    max_counterfactual_effect: float | None = None
    baseline_metrics: tuple[str, ...] | None = None  # None: the gated metrics (or the defaults)
    n_resamples: int = 2000
    seed: int = 0
    sources: dict[str, str] = field(default_factory=dict)  # threshold -> where its value came from

    def thresholds(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in THRESHOLDS if getattr(self, k) is not None}

    def with_overrides(self, source: str = "option", **values: Any) -> "Policy":
        """The same policy with the non-None ``values`` replacing the file's (command-line options)."""
        given = {k: v for k, v in values.items() if v is not None}
        for key, value in given.items():
            if key not in THRESHOLDS:
                raise ConfigError(f"unknown threshold {key!r}")
            _check_value(key, value, f"--{key.replace('_', '-')}")
        sources = dict(self.sources) | {k: f"{source} --{k.replace('_', '-')}" for k in given}
        return replace(self, **given, sources=sources)

    def compared_metrics(self) -> tuple[str, ...]:
        """Metrics compared with a baseline: as configured, else those gated by a threshold, else the defaults."""
        if self.baseline_metrics is not None:
            return self.baseline_metrics
        gated = tuple(m for m, key in BASELINE_METRICS.items() if getattr(self, key) is not None)
        return gated or DEFAULT_BASELINE_METRICS

    def gates(self, keys: tuple[str, ...]) -> bool:
        """Whether any of ``keys`` (e.g. :data:`RELEVANCE_KEYS`) has a limit."""
        return any(getattr(self, k) is not None for k in keys)

    def needs_both_orders(self, with_baseline: bool = False) -> bool:
        return self.max_position_flip_rate is not None or (with_baseline and "position_flip_rate" in self.compared_metrics())

    def to_dict(self) -> dict:
        return {
            "thresholds": self.thresholds(),
            "sources": {k: self.sources.get(k, "") for k in self.thresholds()},
            "baseline": {"metrics": list(self.compared_metrics()), "n_resamples": self.n_resamples, "seed": self.seed},
        }


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_value(key: str, value: Any, where: str) -> None:
    if key == "min_items":
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{where}: must be a whole number >= 1 (got {value!r})")
        return
    if not _is_number(value):
        raise ConfigError(f"{where}: must be a number (got {value!r})")
    if key == "min_spearman" and not -1 <= value <= 1:
        raise ConfigError(f"{where}: must be between -1 and 1 (got {value!r})")
    if key == "max_position_flip_rate" and not 0 <= value <= 1:
        raise ConfigError(f"{where}: must be a rate between 0 and 1 (got {value!r})")
    if key == "max_mention_gap" and value < 0:
        raise ConfigError(f"{where}: must be >= 0, it bounds an absolute gap (got {value!r})")
    if key == "max_over_selection_ratio" and value < 0:
        raise ConfigError(f"{where}: must be >= 0, it bounds a ratio of selection rates (got {value!r})")
    if key == "min_relevance_f1" and not 0 <= value <= 1:
        raise ConfigError(f"{where}: must be between 0 and 1 (got {value!r})")
    if key == "max_counterfactual_effect" and value < 0:
        raise ConfigError(f"{where}: must be >= 0, it bounds an absolute effect (got {value!r})")


def _unknown(key: str, allowed, where: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"{where}: unknown key {key!r}{hint} (allowed: {', '.join(sorted(allowed))})")


def parse_policy(text: str, source: str) -> Policy:
    """A :class:`Policy` from TOML text. Unknown keys and bad values raise ConfigError naming ``source`` and the key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "baseline":
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: [baseline] must be a table")
            values.update(_parse_baseline(value, source))
            continue
        if key not in THRESHOLDS:
            raise _unknown(key, [*THRESHOLDS, "baseline"], source)
        _check_value(key, value, f"{source}: {key}")
        values[key] = int(value) if key == "min_items" else float(value)
    sources = {k: source for k in values if k in THRESHOLDS}
    return Policy(**values, sources=sources)


def _parse_baseline(table: dict, source: str) -> dict:
    out: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{source}: baseline.{key}"
        if key not in _BASELINE_KEYS:
            raise _unknown(key, _BASELINE_KEYS, f"{source}: [baseline]")
        if key == "metrics":
            if not isinstance(value, list) or not value or not all(isinstance(m, str) for m in value):
                raise ConfigError(f"{where}: must be a non-empty list of metric names ({', '.join(BASELINE_METRICS)})")
            bad = [m for m in value if m not in BASELINE_METRICS]
            if bad:
                raise ConfigError(f"{where}: unknown metric {bad[0]!r} (allowed: {', '.join(BASELINE_METRICS)})")
            out["baseline_metrics"] = tuple(dict.fromkeys(value))
        elif key == "n_resamples":
            if not isinstance(value, int) or isinstance(value, bool) or value < 100:
                raise ConfigError(f"{where}: must be a whole number >= 100 (got {value!r})")
            out["n_resamples"] = value
        else:  # seed
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where}: must be a whole number >= 0 (got {value!r})")
            out["seed"] = value
    return out


def load_policy(path: str | Path) -> Policy:
    """Read a policy file (the only I/O in this module)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: policy file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read policy file: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_policy(text, str(path))


# --- checks -----------------------------------------------------------------------------------


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


def _ci_of(est: dict | None) -> tuple[float, float] | None:
    ci = (est or {}).get("ci")
    if not ci or len(ci) != 2 or any(v is None or not math.isfinite(v) for v in ci):
        return None
    return float(ci[0]), float(ci[1])


def _threshold_check(key: str, est: dict | None, limit: float, source: str, *, missing: str | None = None) -> Check:
    metric, comparison, tested = THRESHOLDS[key]
    est = est or {}
    ci = _ci_of(est)
    common = dict(name=key, metric=metric, estimate=est.get("estimate"), ci=ci, limit=limit, comparison=comparison,
                  tested=tested, method=est.get("method", ""), n=int(est.get("n") or 0),
                  p_value=est.get("p_value"), source=source)
    if missing is not None or ci is None:
        why = missing or est.get("reason") or "no confidence interval"
        return Check(**common, bound=None, passed=False,
                     detail=f"FAIL (cannot decide): {why}; a check without a CI never passes")
    if key == "max_inflation" or key == "max_position_flip_rate":
        bound = ci[1]
    elif key == "min_spearman":
        bound = ci[0]
    else:  # max_mention_gap: the bound farthest from zero
        bound = max(abs(ci[0]), abs(ci[1]))
    passed = bound <= limit if comparison == "<=" else bound >= limit
    rel = comparison if passed else (">" if comparison == "<=" else "<")
    shown = f"{bound:.3f}" if key == "max_mention_gap" else f"{bound:+.3f}"
    return Check(**common, bound=bound, passed=passed, detail=f"{tested} {shown} {rel} limit {limit:g}")


def unmeasured_checks(key: str, policy: Policy, why: str, names: tuple[str, ...] | None = None) -> list[Check]:
    """FAILING checks for a threshold that could not be measured (e.g. no --relevance-data given).

    ``names``: the check names (default: the key itself; the counterfactual key has one per kind).
    A gate never passes by default, so an unmeasured threshold is a failure that says why.
    """
    base = _threshold_check(key, None, getattr(policy, key), policy.sources.get(key, ""), missing=why)
    out = []
    for name in names or (key,):
        kind = name.split(":")[1] if ":" in name else None
        out.append(replace(base, name=name, metric=f"{base.metric} ({kind})" if kind else base.metric))
    return out


def excess_mention_uplift(judge_entry: dict, frame: pd.DataFrame | None, judge_col: str = "new") -> dict | None:
    """The judge's mention delta minus the humans' on the same items, as an Estimate dict.

    Uses ``judges.J.excess_mention_uplift`` from results.json when present. Otherwise computes it
    from the per-item table: with d_i = judge_i - human_i on items with both ratings,
    mean(d | mention) - mean(d | no mention) = judge delta - human delta exactly (both are
    differences of group means over the same items), and Welch's t-test on d gives its CI and p
    (:func:`audit.measure.group_difference`; Welch 1947).
    """
    given = judge_entry.get("excess_mention_uplift")
    if isinstance(given, dict) and given.get("estimate") is not None:
        return given
    if frame is None or judge_col not in frame:
        return None
    both = frame[frame[judge_col].notna() & frame["human_mean"].notna()]
    d = both[judge_col].to_numpy(float) - both["human_mean"].to_numpy(float)
    est = measure.group_difference(d, both["mention"].to_numpy(bool)).to_dict()
    est["method"] = ("judge mention delta - human mention delta on items with both ratings, computed by judge-audit "
                     "check (results.json had no excess_mention_uplift): " + est["method"]
                     + " on per-item (judge - human) differences")
    return est


def evaluate(results: dict, judge: str, policy: Policy, frame: pd.DataFrame | None = None,
             *, position_note: str | None = None) -> list[Check]:
    """The threshold checks of ``policy`` for ``judge`` in a results.json dict (the keys of
    :data:`AUDIT_KEYS`; the relevance and counterfactual keys are checked by :mod:`audit.check`).

    ``frame``: the per-item table (columns ``human_mean``, ``mention`` and the judge's ratings in
    ``new``), used only when results.json lacks ``excess_mention_uplift``. ``position_note``
    explains why the flip rate cannot be measured (e.g. imported ratings have no order).
    """
    entry = results["judges"][judge]
    checks = []
    for key, limit in policy.thresholds().items():
        if key not in AUDIT_KEYS:
            continue
        source = policy.sources.get(key, "")
        if key == "min_items":
            n = int((entry.get("inflation") or {}).get("n") or 0)
            passed = n >= limit
            checks.append(Check(
                key, THRESHOLDS[key][0], float(n), None, float(limit), ">=", "count", float(n), passed,
                f"{n} items with judge and human ratings {'>=' if passed else '<'} {limit} required"
                + ("" if passed else ": too few items to decide"), "count", n, None, source))
        elif key == "max_inflation":
            checks.append(_threshold_check(key, entry.get("inflation"), limit, source))
        elif key == "min_spearman":
            checks.append(_threshold_check(key, entry.get("spearman"), limit, source))
        elif key == "max_mention_gap":
            est = excess_mention_uplift(entry, frame)
            checks.append(_threshold_check(key, est, limit, source,
                                           missing=None if est else "no per-item data to compute it"))
        elif key == "max_position_flip_rate":
            flip = (entry.get("position") or {}).get("flip_rate")
            if isinstance(flip, (int, float)) and not isinstance(flip, bool):
                flip = {"estimate": float(flip), "reason": "flip rate has no confidence interval in results.json"}
            missing = None
            if flip is None:
                missing = "not measured" + (f": {position_note}" if position_note else
                                            " (results.json has no judges.J.position.flip_rate; judge in both orders)")
            checks.append(_threshold_check(key, flip, limit, source, missing=missing))
    return checks


# --- the paired comparison with a baseline judge ----------------------------------------------


def _group_delta(x: np.ndarray, m: np.ndarray) -> float:
    if m.all() or not m.any():
        return math.nan
    return float(x[m].mean() - x[~m].mean())


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho = Pearson's r of the average ranks (what scipy.stats.spearmanr computes, without its
    per-call overhead, which dominates inside a bootstrap loop)."""
    from scipy.stats import rankdata

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def _badness(metric: str, cols: dict[str, np.ndarray], which: str) -> float:
    """How bad one judge is on one metric; larger = worse (Spearman enters with a minus sign)."""
    h, m = cols["human_mean"], cols["mention"]
    if metric == "inflation":
        return abs(float(np.mean(cols[which] - h)))
    if metric == "mention_gap":
        return abs(_group_delta(cols[which] - h, m))
    if metric == "spearman":
        return -_spearman(cols[which], h)
    if metric == "position_flip_rate":
        return float(np.mean(cols[f"flip_{which}"]))
    raise ValueError(f"unknown metric {metric!r}")


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def paired_judge_difference(frame: pd.DataFrame, metric: str, *, n_resamples: int = 2000, seed: int = 0) -> Estimate:
    """How much worse the new judge is than the baseline on the same items, with a cluster bootstrap CI.

    ``frame`` has one row per item rated by both judges: ``new``, ``base`` (their ratings),
    ``human_mean``, ``mention`` (bool), ``cluster`` (the user, else the item) and, for
    ``position_flip_rate``, ``flip_new`` / ``flip_base`` (0/1 per item).

    The estimate is badness(new) - badness(base), positive = the new judge is worse:

    - ``inflation``: |mean(new - human)| - |mean(base - human)|
    - ``mention_gap``: |delta(new - human)| - |delta(base - human)|, delta = mean over items with
      a mention minus mean over the rest (= |judge mention delta - human mention delta|)
    - ``spearman``: rho(base, human) - rho(new, human)
    - ``position_flip_rate``: flip rate(new) - flip rate(base)

    Method: a nonparametric cluster bootstrap of the paired statistic (Davison & Hinkley 1997,
    sec. 3.8; Field & Welsh 2007): users are resampled with replacement, each resample keeping
    all of a user's items for both judges, so the judges stay paired and within-user correlation
    is respected. Resampling and the percentile 95% CI are ``scipy.stats.bootstrap`` over the
    cluster labels. Resamples on which the statistic is undefined (e.g. no item with a mention)
    are dropped; if more than 10% are, there is no CI. The two-sided p-value of "no difference"
    is the bootstrap percentile p: ``min(1, 2 * min((1 + #{d* <= 0}), (1 + #{d* >= 0})) / (B + 1))``
    (Davison & Hinkley 1997, sec. 4.4), so p < 0.05 agrees with 0 lying outside the CI.
    """
    from scipy.stats import bootstrap

    method = (f"paired cluster bootstrap (users resampled, B={n_resamples}, seed={seed}; scipy.stats.bootstrap "
              "percentile CI over cluster labels) of badness(new) - badness(baseline); two-sided bootstrap p-value")
    need = ["new", "base", "human_mean", "mention", "cluster"] + (["flip_new", "flip_base"] if metric == "position_flip_rate" else [])
    missing = [c for c in need if c not in frame]
    if missing:
        return Estimate(None, n=0, method=method, reason=f"not measured for both judges ({', '.join(missing)} missing)")
    data = frame.dropna(subset=need)
    n = len(data)
    cols = {c: data[c].to_numpy(bool if c == "mention" else float) for c in need if c != "cluster"}
    labels, codes = np.unique(data["cluster"].astype(str).to_numpy(), return_inverse=True)
    members = [np.flatnonzero(codes == k) for k in range(len(labels))]

    def stat_on(idx: np.ndarray) -> float:
        sub = {c: v[idx] for c, v in cols.items()}
        return _badness(metric, sub, "new") - _badness(metric, sub, "base")

    if n == 0:
        return Estimate(None, n=0, method=method, reason="no items rated by both judges and by humans")
    new_bad, base_bad = _badness(metric, cols, "new"), _badness(metric, cols, "base")
    est = new_bad - base_bad
    sign = -1.0 if metric == "spearman" else 1.0  # report rho itself, not its badness
    extra = {"new": _finite(sign * new_bad), "baseline": _finite(sign * base_bad),
             "n_clusters": int(len(labels)), "direction": "positive = new judge worse"}
    if not math.isfinite(est):
        return Estimate(None, n=n, method=method, extra=extra,
                        reason="undefined on these items (constant ratings or no items with/without a mention)")
    if len(labels) < 3:
        return Estimate(est, n=n, method=method, extra=extra, reason=f"only {len(labels)} clusters: no interval")

    def statistic(cluster_ids: np.ndarray) -> float:
        idx = np.concatenate([members[int(k)] for k in cluster_ids])
        return stat_on(idx)

    with warnings.catch_warnings():  # undefined resamples are handled below, not warned about
        warnings.simplefilter("ignore", RuntimeWarning)
        res = bootstrap((np.arange(len(labels)),), statistic, vectorized=False, paired=False, n_resamples=n_resamples,
                        method="percentile", confidence_level=measure.CONFIDENCE, rng=np.random.default_rng(seed))
    dist = np.asarray(res.bootstrap_distribution, float)
    valid = dist[np.isfinite(dist)]
    extra["n_resamples_valid"] = int(len(valid))
    if len(valid) < MIN_VALID_RESAMPLES * n_resamples:
        return Estimate(est, n=n, method=method, extra=extra,
                        reason=f"statistic undefined on {n_resamples - len(valid)} of {n_resamples} resamples: no interval")
    if len(valid) == len(dist):
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    else:  # scipy's percentiles are NaN when any resample is; take them over the defined ones
        lo, hi = (float(v) for v in np.percentile(valid, [2.5, 97.5]))
    b = len(valid)
    p = min(1.0, 2 * min(1 + int((valid <= 0).sum()), 1 + int((valid >= 0).sum())) / (b + 1))
    return Estimate(est, lo, hi, p, n, method, extra)


def compare_with_baseline(frame: pd.DataFrame, policy: Policy, baseline_label: str) -> list[Check]:
    """One check per compared metric: FAIL when the new judge is significantly worse than the baseline.

    Significantly worse = the whole 95% CI of badness(new) - badness(base) lies above 0 (equivalently
    the two-sided p < 0.05 with the difference positive). A comparison without a CI fails.
    """
    checks = []
    for metric in policy.compared_metrics():
        est = paired_judge_difference(frame, metric, n_resamples=policy.n_resamples, seed=policy.seed)
        name = f"baseline:{metric}"
        label = {"inflation": "|inflation|", "mention_gap": "|excess mention uplift|", "spearman": "Spearman rho (sign flipped)",
                 "position_flip_rate": "position flip rate"}[metric]
        common = dict(name=name, metric=f"{label}: new - baseline {baseline_label} (positive = worse)",
                      estimate=est.estimate, limit=0.0, comparison="<=", tested="CI lower bound",
                      method=est.method, n=est.n, p_value=est.p_value, source="--baseline")
        if est.ci_low is None or est.estimate is None:
            why = est.reason or "no confidence interval"
            checks.append(Check(**common, ci=None, bound=None, passed=False,
                                detail=f"FAIL (cannot compare): {why}; a comparison without a CI never passes"))
            continue
        ci = (est.ci_low, est.ci_high)
        worse = est.ci_low > 0
        new, base = est.extra.get("new"), est.extra.get("baseline")
        values = f" (new {new:+.3f}, baseline {base:+.3f})" if new is not None and base is not None else ""
        detail = (f"significantly worse than the baseline: CI lower bound {est.ci_low:+.3f} > 0, p={est.p_value:.3g}{values}"
                  if worse else f"not significantly worse: CI lower bound {est.ci_low:+.3f} <= 0, p={est.p_value:.3g}{values}")
        checks.append(Check(**common, ci=ci, bound=est.ci_low, passed=not worse, detail=detail))
    return checks


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


def _num(x: float | None, signed: bool = True) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.2f}" if signed else f"{x:.2f}"


NAME_WIDTH = 28


def format_check(c: Check, width: int = NAME_WIDTH) -> str:
    """One terminal line: status, name (padded to ``width``), estimate, CI, limit (and the tested bound)."""
    if c.name == "min_items":
        est, ci = f"{int(c.estimate or 0)}", "-"
        limit = f">= {int(c.limit)}"
    else:
        est = _num(c.estimate)
        ci = "[" + ", ".join(_num(v) for v in c.ci) + "]" if c.ci else "no CI"
        short = {"CI upper bound": "upper", "CI lower bound": "lower", "|CI bound| farthest from 0": "|bound|"}[c.tested]
        limit = f"{short} {c.comparison} {c.limit:g}"
    line = f"{c.status}  {c.name:<{width}} {est:>6}  {ci:<16}  {limit:<16}"
    if c.p_value is not None and c.name.startswith("baseline:"):
        line += f"  p={c.p_value:.3g}"
    if not c.passed:
        line += f"  -- {c.detail}"
    return line.rstrip()


def format_report(report: GateReport) -> str:
    """The terminal summary: a header, one line per check, the verdict."""
    head = f"judge-audit check: judge {report.judge!r}"
    if report.baseline:
        head += f" vs baseline {report.baseline}"
    if report.data:
        head += f" on {report.data}"
    if report.relevance_data:
        head += f" (relevance: {report.relevance_data})" if report.data else f" on {report.relevance_data} (relevance pairs)"
    width = max([NAME_WIDTH] + [len(c.name) for c in report.checks])
    lines = [head, f"{'':6}{'check':<{width}} {'est.':>6}  {'95% CI':<16}  limit"]
    lines += [format_check(c, width) for c in report.checks]
    lines += [f"note: {n}" for n in report.notes]
    lines.append(report.summary())
    return "\n".join(lines)
