"""The policy of ``judge-audit check``: one table of every gate key (:data:`GATE_KEYS`) and the
parsing of policy files and options against it.

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
    max_style_controlled_mention_gap = 0.5  # CI bound farthest from 0 of the judge's excess over people of the
                                    # mention coefficient at equal length and markdown (audit.stats.style)
    max_self_preference = 0.3       # upper CI bound of the judge's inflation on its own family's answers minus on the others
    max_judge_shift = 0.2           # CI bound farthest from 0 of the judge's rating shift on anchor items since --drift-from RUN
    require_same_fingerprint = true # with --drift-from: fail when the judge's fingerprint (model snapshot, prompt, params...) changed
    max_acceptance_inflation = 0.1  # stage 1 (--extraction-data): upper CI bound of verifier minus human acceptance rate
    min_reject_recall = 0.5         # stage 1: lower CI bound of the share of human-rejected attributes the verifier rejects
    min_extraction_kappa = 0.3      # stage 1: lower CI bound of Cohen's kappa of the verifier with the human label

    [baseline]                      # used with --baseline
    metrics = ["inflation", "mention_gap", "spearman"]
    n_resamples = 2000
    seed = 0
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from audit.errors import ConfigError

@dataclass(frozen=True)
class GateKey:
    """One threshold of the policy: what it bounds, where its estimate is in results.json, which CI
    bound is tested against the limit, and which limits are allowed."""

    key: str
    metric: str  # what is bounded, in words
    comparison: str  # "<=" or ">=": bound <comparison> limit passes
    tested: str  # "count", "CI upper bound", "CI lower bound" or "|CI bound| farthest from 0"
    section: str  # the audit that measures it: "preference" (judge-audit run), "relevance", "counterfactual"
    field: tuple[str, ...]  # path to the estimate in the judge's entry of that section
    low: float | None = None  # allowed limits: low <= limit <= high
    high: float | None = None
    why: str = ""  # said when a limit is out of range
    integer: bool = False


# Every gate key, in one table: the policy parser, the checks, the reports and docs/GATE.md read it.
GATE_KEYS: dict[str, GateKey] = {g.key: g for g in (
    GateKey("min_items", "items with judge and human ratings", ">=", "count", "preference", ("inflation", "n"),
            low=1, integer=True),
    GateKey("max_inflation", "inflation: mean(judge - human)", "<=", "CI upper bound", "preference", ("inflation",)),
    GateKey("max_mention_gap", "excess mention uplift: judge mention delta - human mention delta", "<=",
            "|CI bound| farthest from 0", "preference", ("excess_mention_uplift",), low=0, why="it bounds an absolute gap"),
    GateKey("min_spearman", "Spearman rho with the human mean", ">=", "CI lower bound", "preference", ("spearman",),
            low=-1, high=1),
    GateKey("max_style_controlled_mention_gap", "style-controlled mention gap: the judge's mention coefficient minus "
            "people's, at equal length and markdown", "<=", "|CI bound| farthest from 0", "preference",
            ("style_control", "excess", "mention"), low=0, why="it bounds an absolute gap"),
    GateKey("max_self_preference", "self-preference: inflation on its own model family's answers minus on the others",
            "<=", "CI upper bound", "preference", ("self_preference",)),
    GateKey("max_position_flip_rate", "position flip rate (both presentation orders)", "<=", "CI upper bound",
            "preference", ("position", "flip_rate"), low=0, high=1, why="a rate"),
    GateKey("max_over_selection_ratio", "relevance over-selection ratio: judge / human selection rate", "<=",
            "CI upper bound", "relevance", ("over_selection_ratio",), low=0, why="it bounds a ratio of selection rates"),
    GateKey("min_relevance_f1", "relevance F1 against the human majority", ">=", "CI lower bound", "relevance", ("f1",),
            low=0, high=1),
    GateKey("max_judge_shift", "judge shift since the --drift-from run: mean rating change on anchor items "
            "(identical in both runs)", "<=", "|CI bound| farthest from 0", "drift", ("judge_shift",), low=0,
            why="it bounds an absolute shift"),
    GateKey("max_acceptance_inflation", "stage 1: verifier acceptance rate minus people's, on the same extracted "
            "attributes", "<=", "CI upper bound", "extraction", ("acceptance_inflation",), low=-1, high=1,
            why="a difference of two shares"),
    GateKey("min_reject_recall", "stage 1: share of the attributes people reject that the verifier rejects", ">=",
            "CI lower bound", "extraction", ("reject_recall",), low=0, high=1),
    GateKey("min_extraction_kappa", "stage 1: Cohen's kappa of the verifier's labels with people's (accept / "
            "uncertain / reject)", ">=", "CI lower bound", "extraction", ("kappa_with_humans",), low=-1, high=1),
    GateKey("max_counterfactual_effect", "causal mention effect: rating(with the mention) - rating(without), same "
            "answer otherwise", "<=", "|CI bound| farthest from 0", "counterfactual", ("{kind}_effect",), low=0,
            why="it bounds an absolute effect"),
)}
# threshold key -> (display name, comparison, which CI bound is tested)
THRESHOLDS: dict[str, tuple[str, str, str]] = {k: (g.metric, g.comparison, g.tested) for k, g in GATE_KEYS.items()}
# which stage measures each threshold
AUDIT_KEYS = tuple(k for k, g in GATE_KEYS.items() if g.section == "preference")
RELEVANCE_KEYS = tuple(k for k, g in GATE_KEYS.items() if g.section == "relevance")
COUNTERFACTUAL_KEYS = tuple(k for k, g in GATE_KEYS.items() if g.section == "counterfactual")
DRIFT_KEYS = tuple(k for k, g in GATE_KEYS.items() if g.section == "drift")
EXTRACTION_KEYS = tuple(k for k, g in GATE_KEYS.items() if g.section == "extraction")
COUNTERFACTUAL_KINDS = ("ablation", "injection")  # one check per kind (audit.text.variants.ABLATED / INJECTED)
# baseline metric -> the threshold it belongs to
BASELINE_METRICS = {
    "inflation": "max_inflation",
    "mention_gap": "max_mention_gap",
    "spearman": "min_spearman",
    "position_flip_rate": "max_position_flip_rate",
}
DEFAULT_BASELINE_METRICS = ("inflation", "mention_gap", "spearman")
BASELINE_KEYS = {"metrics", "n_resamples", "seed"}


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
    max_style_controlled_mention_gap: float | None = None
    max_self_preference: float | None = None
    max_judge_shift: float | None = None
    max_acceptance_inflation: float | None = None
    min_reject_recall: float | None = None
    min_extraction_kappa: float | None = None
    require_same_fingerprint: bool = False  # with --drift-from: the judge's fingerprint must be unchanged
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
            "require_same_fingerprint": self.require_same_fingerprint,
            "sources": {k: self.sources.get(k, "") for k in self.thresholds()},
            "baseline": {"metrics": list(self.compared_metrics()), "n_resamples": self.n_resamples, "seed": self.seed},
        }


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_value(key: str, value: Any, where: str) -> None:
    g = GATE_KEYS[key]
    if g.integer:
        if not isinstance(value, int) or isinstance(value, bool) or value < g.low:
            raise ConfigError(f"{where}: must be a whole number >= {g.low:g} (got {value!r})")
        return
    if not _is_number(value):
        raise ConfigError(f"{where}: must be a number (got {value!r})")
    if g.low is not None and g.high is not None and not g.low <= value <= g.high:
        what = f"must be {g.why} between {g.low:g} and {g.high:g}" if g.why else f"must be between {g.low:g} and {g.high:g}"
        raise ConfigError(f"{where}: {what} (got {value!r})")
    if g.low is not None and g.high is None and value < g.low:
        raise ConfigError(f"{where}: must be >= {g.low:g}, {g.why} (got {value!r})")


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
        if key == "require_same_fingerprint":
            if not isinstance(value, bool):
                raise ConfigError(f"{source}: require_same_fingerprint: must be true or false (got {value!r})")
            values[key] = value
            continue
        if key not in THRESHOLDS:
            raise _unknown(key, [*THRESHOLDS, "require_same_fingerprint", "baseline"], source)
        _check_value(key, value, f"{source}: {key}")
        values[key] = int(value) if key == "min_items" else float(value)
    sources = {k: source for k in values if k in THRESHOLDS or k == "require_same_fingerprint"}
    return Policy(**values, sources=sources)


def _parse_baseline(table: dict, source: str) -> dict:
    out: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{source}: baseline.{key}"
        if key not in BASELINE_KEYS:
            raise _unknown(key, BASELINE_KEYS, f"{source}: [baseline]")
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


