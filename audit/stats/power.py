"""``judge-audit plan``: how many human-rated items are needed to detect a judge's bias.

Two questions, each answered analytically with pingouin's power functions and checked by a
seeded simulation of the same design:

* **inflation** — does the judge rate higher than people? Per item d_i = judge - human mean; the
  audit's test is the paired t-test (one-sample t on the d_i). pingouin.power_ttest(contrast="paired").
* **mention-delta** — does the judge rate answers with an explicit mention differently? A two-sample
  comparison with unequal groups (share ``mention_share`` of items mention an attribute).
  pingouin.power_ttest2n (Student t), searched over the total n.

The noise model (all normal):

    d_i = effect * [mention_i] + u_c + e_i + r_i
    u_c ~ N(0, icc * sd^2)          shared by the m items of cluster c (a user)
    e_i ~ N(0, (1 - icc) * sd^2)    item-level
    r_i ~ N(0, rater_sd^2 / raters) the human mean over ``raters`` annotators with rater noise

With clusters (m > 1) the unit of analysis is the cluster mean (what a cluster-robust analysis
effectively uses), whose variance is ``icc sd^2 + ((1 - icc) sd^2 + rater_sd^2 / raters) / m``; its
ratio to the item variance times m is Kish's design effect 1 + (m - 1) ICC when rater_sd = 0. For
mention-delta with clusters, mention status is taken as constant within a cluster (the worst case;
when it varies within users the clusters partly cancel and fewer items suffice).

References
----------
Cohen, J. (1988). *Statistical Power Analysis for the Behavioral Sciences*, 2nd ed., ch. 2.
Champely, S. (2020). pwr: Basic functions for power analysis, R package 1.3-0 (``pwr.t.test``,
``pwr.t2n.test``). G*Power 3: Faul, Erdfelder, Lang & Buchner (2007), *Behav. Res. Methods* 39, 175-191.
Kish, L. (1965). *Survey Sampling*, sec. 5.4 (design effect). Donner, A. & Klar, N. (2000).
*Design and Analysis of Cluster Randomization Trials in Health Research*, ch. 5.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from audit.errors import ConfigError

METRICS = ("inflation", "mention-delta")
SIMULATIONS = 2000
MAX_CLUSTERS = 10_000_000


@dataclass(frozen=True)
class Design:
    """What the plan assumes (see the module docstring for the noise model)."""

    metric: str = "inflation"
    effect: float = 0.3
    sd: float = 1.0
    alpha: float = 0.05
    power: float = 0.8
    icc: float = 0.0
    cluster_size: int = 1
    raters: int = 1
    rater_sd: float = 0.0
    mention_share: float = 0.5

    def validate(self) -> "Design":
        checks = [
            (self.metric in METRICS, f"metric must be one of {', '.join(METRICS)} (got {self.metric!r})"),
            (math.isfinite(self.effect) and self.effect != 0, "effect must be a non-zero number"),
            (math.isfinite(self.sd) and self.sd > 0, "sd must be positive"),
            (0 < self.alpha < 1, "alpha must be between 0 and 1"),
            (self.alpha < self.power < 1, "power must be between alpha and 1"),
            (0 <= self.icc < 1, "icc must be in [0, 1)"),
            (self.cluster_size >= 1, "cluster size must be at least 1"),
            (self.raters >= 1, "raters must be at least 1"),
            (math.isfinite(self.rater_sd) and self.rater_sd >= 0, "rater sd must be >= 0"),
            (0 < self.mention_share < 1, "mention share must be between 0 and 1"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg)
        return self

    @property
    def item_sd(self) -> float:
        """SD of one item's difference, rater noise included: sqrt(sd^2 + rater_sd^2 / raters)."""
        return math.sqrt(self.sd**2 + self.rater_sd**2 / self.raters)

    @property
    def unit_sd(self) -> float:
        """SD of the analysis unit (a cluster mean of ``cluster_size`` items)."""
        within = (1 - self.icc) * self.sd**2 + self.rater_sd**2 / self.raters
        return math.sqrt(self.icc * self.sd**2 + within / self.cluster_size)

    @property
    def design_effect(self) -> float:
        """Variance of the cluster mean x m / item variance (Kish's 1 + (m-1) ICC without rater noise)."""
        return self.unit_sd**2 * self.cluster_size / self.item_sd**2

    @property
    def d(self) -> float:
        """Standardized effect per analysis unit: effect / unit_sd (Cohen's d of the test)."""
        return self.effect / self.unit_sd


@dataclass
class Plan:
    """The answer: clusters and items needed, the power they achieve, how it was computed."""

    design: Design
    n_clusters: int
    n_items: int
    achieved_power: float
    d: float
    design_effect: float
    method: str
    n_mention_clusters: int | None = None
    simulation: dict | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["design"] = asdict(self.design)
        return out


def _paired_power(d: float, n: int, alpha: float) -> float:
    import pingouin as pg

    return float(pg.power_ttest(d=d, n=n, alpha=alpha, contrast="paired"))


def _two_sample_power(d: float, n1: int, n2: int, alpha: float) -> float:
    import pingouin as pg

    return float(pg.power_ttest2n(nx=n1, ny=n2, d=d, alpha=alpha))


def split(n_clusters: int, share: float) -> tuple[int, int]:
    """(mention clusters, other clusters): round(share * n), at least 2 in each group."""
    n1 = min(max(2, int(round(share * n_clusters))), n_clusters - 2)
    return n1, n_clusters - n1


def plan(design: Design, *, simulations: int = SIMULATIONS, seed: int = 0) -> Plan:
    """Smallest number of clusters (and items) whose test reaches ``design.power``; plus a simulation check.

    Inflation: n = pingouin.power_ttest(d, power, alpha, contrast="paired") analysis units, rounded
    up (the unit is the item, or the cluster mean with clusters). Mention-delta: the smallest total
    number of units with pingouin.power_ttest2n(round(share n), n - round(share n), d) >= power
    (bisection; power grows with n). ``simulations=0`` skips the simulation.
    """
    import pingouin as pg

    design.validate()
    d, a, target = abs(design.d), design.alpha, design.power
    if design.metric == "inflation":
        n_float = float(pg.power_ttest(d=d, power=target, alpha=a, contrast="paired"))
        n_units = max(2, math.ceil(n_float - 1e-9))
        achieved = _paired_power(d, n_units, a)
        method = ('paired t-test of judge vs human mean; n from pingouin.power_ttest(contrast="paired")'
                  + ("; unit = cluster mean" if design.cluster_size > 1 else ""))
        n1 = None
        notes = [f"exact n = {n_float:.4f} analysis units before rounding up"]
    else:
        lo, hi = 4, 8
        while _two_sample_power(d, *split(hi, design.mention_share), a) < target:
            lo, hi = hi, hi * 2
            if hi > MAX_CLUSTERS:
                raise ConfigError("the effect is too small to detect with any practical number of items")
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _two_sample_power(d, *split(mid, design.mention_share), a) >= target:
                hi = mid
            else:
                lo = mid
        n_units = hi if _two_sample_power(d, *split(lo, design.mention_share), a) < target else lo
        n1, n2 = split(n_units, design.mention_share)
        achieved = _two_sample_power(d, n1, n2, a)
        method = ("two-sample t-test, items with vs without an explicit mention; smallest n with "
                  "pingouin.power_ttest2n(nx, ny) >= power" + ("; unit = cluster mean, mention constant within a cluster"
                                                                if design.cluster_size > 1 else ""))
        notes = [f"{n1} of {n_units} analysis units with a mention (share {design.mention_share:g})"]
    out = Plan(design=design, n_clusters=n_units, n_items=n_units * design.cluster_size, achieved_power=achieved,
               d=design.d, design_effect=design.design_effect, method=method, n_mention_clusters=n1, notes=notes)
    if simulations:
        p, se = simulate_power(design, n_units, simulations=simulations, seed=seed)
        out.simulation = {"power": p, "mc_se": se, "n_simulations": simulations, "seed": seed,
                          "test": ("one-sample t-test of the cluster-mean differences (scipy.stats.ttest_1samp)"
                                   if design.metric == "inflation" else
                                   "Welch t-test of cluster means with vs without a mention (scipy.stats.ttest_ind)")}
    return out


def simulate_power(design: Design, n_clusters: int, *, simulations: int = SIMULATIONS, seed: int = 0,
                   chunk: int = 250) -> tuple[float, float]:
    """Share of simulated data sets (the module's noise model) in which the audit's test rejects at alpha.

    Returns (power, Monte Carlo standard error sqrt(p (1 - p) / simulations)). Seeded with
    ``numpy.random.default_rng(seed)``; vectorised over simulations in chunks.
    """
    from scipy.stats import ttest_1samp, ttest_ind

    design.validate()
    rng = np.random.default_rng(seed)
    m, sd = design.cluster_size, design.sd
    n1 = split(n_clusters, design.mention_share)[0] if design.metric == "mention-delta" else 0
    rejected = 0
    for start in range(0, simulations, chunk):
        b = min(chunk, simulations - start)
        u = rng.normal(0.0, math.sqrt(design.icc) * sd, size=(b, n_clusters, 1))
        e = rng.normal(0.0, math.sqrt(1 - design.icc) * sd, size=(b, n_clusters, m))
        r = rng.normal(0.0, design.rater_sd / math.sqrt(design.raters), size=(b, n_clusters, m))
        means = (u + e + r).mean(axis=2)
        if design.metric == "inflation":
            p = ttest_1samp(means + design.effect, 0.0, axis=1).pvalue
        else:
            p = ttest_ind(means[:, :n1] + design.effect, means[:, n1:], axis=1, equal_var=False).pvalue
        rejected += int((p < design.alpha).sum())
    power = rejected / simulations
    return power, math.sqrt(power * (1 - power) / simulations)


def plan_text(p: Plan) -> str:
    """The terminal answer."""
    dsg = p.design
    what = ("a judge's inflation (judge - human mean)" if dsg.metric == "inflation"
            else "a judge's mention bias (rating difference, mention vs no mention)")
    lines = [f"to detect {what} of {dsg.effect:+g} (sd {dsg.sd:g}) with {dsg.power:.0%} power at alpha {dsg.alpha:g}:"]
    if dsg.cluster_size > 1:
        lines.append(f"  needed: {p.n_items} human-rated items = {p.n_clusters} clusters of {dsg.cluster_size} "
                     f"(ICC {dsg.icc:g}, design effect {p.design_effect:.2f})")
    else:
        lines.append(f"  needed: {p.n_items} human-rated items")
    if dsg.metric == "mention-delta":
        lines.append(f"    of which {p.n_mention_clusters * dsg.cluster_size} with an explicit mention")
    lines.append(f"  achieved power {p.achieved_power:.3f}; standardized effect d = {p.d:.3f}")
    if dsg.rater_sd:
        lines.append(f"  rater noise: sd {dsg.rater_sd:g} per rating, {dsg.raters} raters per item")
    lines.append(f"  method: {p.method}")
    if p.simulation:
        s = p.simulation
        lines.append(f"  simulation check: power {s['power']:.3f} +/- {s['mc_se']:.3f} at that n "
                     f"({s['n_simulations']} simulated data sets, seed {s['seed']}; {s['test']})")
    return "\n".join(lines)
