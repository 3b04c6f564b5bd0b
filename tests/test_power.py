"""`judge-audit plan`: analytic sample sizes against published references, and simulation checks.

References (two-sided, alpha = 0.05):
* R pwr 1.3-0 (Champely 2020): pwr.t.test(d = 0.5, power = 0.8, type = "paired") -> n = 33.36713;
  pwr.t.test(d = 0.5, power = 0.8, type = "two.sample") -> n = 63.76561 per group.
* G*Power 3.1 (Faul et al. 2007), t tests, difference between two independent means, d = 0.5,
  n1 = n2 = 64 -> actual power 0.8014596.
"""

import json
import math

import pytest
from click.testing import CliRunner

from audit.cli import cli
from audit.errors import ConfigError
from audit.stats.power import Design, plan, simulate_power, split
from cli_coverage import covers


def test_paired_sample_size_matches_pwr():
    import pingouin as pg

    assert pg.power_ttest(d=0.5, power=0.8, contrast="paired") == pytest.approx(33.36713, abs=1e-5)
    p = plan(Design(effect=0.5, sd=1.0), simulations=0)
    assert p.n_items == 34 and p.d == pytest.approx(0.5)
    assert p.achieved_power >= 0.8
    assert "33.3671" in p.notes[0]


def test_two_sample_sample_size_matches_pwr_and_gpower():
    p = plan(Design(metric="mention-delta", effect=0.5, sd=1.0, mention_share=0.5), simulations=0)
    # pwr: 63.76561 per group -> 64 + 64; G*Power: power 0.8014596 at 64/64
    assert (p.n_items, p.n_mention_clusters) == (128, 64)
    assert p.achieved_power == pytest.approx(0.8014596, abs=1e-7)


def noncentral_t_power(d: float, n1: int, n2: int | None, alpha: float = 0.05) -> float:
    """Independent implementation (scipy.stats.nct) of the two-sided t-test power.

    One-sample/paired (n2 None): df = n1 - 1, noncentrality d sqrt(n1).
    Two-sample: df = n1 + n2 - 2, noncentrality d sqrt(n1 n2 / (n1 + n2)) (Cohen 1988, ch. 2).
    power = P(T > t_crit) + P(T < -t_crit) with T ~ noncentral t(df, ncp).
    """
    from scipy.stats import nct, t

    if n2 is None:
        df, ncp = n1 - 1, d * math.sqrt(n1)
    else:
        df, ncp = n1 + n2 - 2, d * math.sqrt(n1 * n2 / (n1 + n2))
    crit = t.ppf(1 - alpha / 2, df)
    return float(nct.sf(crit, df, ncp) + nct.cdf(-crit, df, ncp))


@pytest.mark.parametrize("design", [
    Design(effect=0.3, sd=1.0),
    Design(effect=-0.2, sd=0.7, alpha=0.01, power=0.9),
    Design(metric="mention-delta", effect=0.4, sd=1.2, mention_share=0.25),
    Design(metric="mention-delta", effect=0.3, sd=1.0, icc=0.3, cluster_size=4, raters=3, rater_sd=0.9),
])
def test_plan_is_the_smallest_n_with_enough_power(design):
    p = plan(design, simulations=0)
    d = abs(design.effect) / design.unit_sd
    if design.metric == "inflation":
        power_at = lambda n: noncentral_t_power(d, n, None, design.alpha)  # noqa: E731
    else:
        power_at = lambda n: noncentral_t_power(d, *split(n, design.mention_share), design.alpha)  # noqa: E731
    assert p.achieved_power == pytest.approx(power_at(p.n_clusters), abs=1e-9)
    assert power_at(p.n_clusters) >= design.power > power_at(p.n_clusters - 1)


def test_design_effect_is_kish_without_rater_noise():
    assert Design(icc=0.2, cluster_size=5).design_effect == pytest.approx(1 + 4 * 0.2)
    # rater noise adds rater_sd^2 / raters to the item variance, none of it shared
    dsg = Design(sd=1.0, icc=0.0, cluster_size=3, raters=4, rater_sd=1.0)
    assert dsg.item_sd == pytest.approx(math.sqrt(1.25)) and dsg.design_effect == pytest.approx(1.0)


def test_clusters_need_more_items():
    flat = plan(Design(effect=0.3, sd=1.0), simulations=0)
    clustered = plan(Design(effect=0.3, sd=1.0, icc=0.2, cluster_size=4), simulations=0)
    assert clustered.n_items > flat.n_items and clustered.n_items % 4 == 0


@pytest.mark.parametrize("design", [
    Design(effect=0.3, sd=1.0),
    Design(effect=0.3, sd=1.0, icc=0.2, cluster_size=4, raters=3, rater_sd=1.0),
    Design(metric="mention-delta", effect=0.4, sd=1.0, mention_share=0.5),
    Design(metric="mention-delta", effect=0.4, sd=1.0, mention_share=0.3, icc=0.1, cluster_size=3),
])
def test_simulated_power_at_the_planned_n_is_about_the_target(design):
    p = plan(design, simulations=4000, seed=7)
    sim = p.simulation
    # The simulation runs the audit's test on data from the noise model. Monte Carlo SE ~0.006;
    # Welch (simulated) vs Student (analytic) differ slightly with unequal groups.
    assert abs(sim["power"] - p.achieved_power) < 4 * sim["mc_se"] + 0.01
    assert abs(sim["power"] - 0.8) < 0.04


def test_simulation_is_seeded_and_rejects_at_alpha_under_the_null():
    dsg = Design(effect=0.3, sd=1.0)
    assert simulate_power(dsg, 40, simulations=500, seed=3) == simulate_power(dsg, 40, simulations=500, seed=3)
    null = Design(effect=1e-12, sd=1.0, icc=0.3, cluster_size=5)
    rate, se = simulate_power(null, 30, simulations=4000, seed=1)
    assert abs(rate - 0.05) < 4 * math.sqrt(0.05 * 0.95 / 4000)


@pytest.mark.parametrize("changes, words", [
    ({"effect": 0.0}, "effect"), ({"sd": -1.0}, "sd"), ({"power": 1.2}, "power"), ({"alpha": 0.0}, "alpha"),
    ({"icc": 1.0}, "icc"), ({"cluster_size": 0}, "cluster size"), ({"mention_share": 1.0}, "mention share"),
    ({"metric": "kappa"}, "metric"), ({"raters": 0}, "raters"), ({"rater_sd": float("nan")}, "rater sd"),
])
def test_bad_designs_are_config_errors(changes, words):
    base = dict(effect=0.3, sd=1.0)
    with pytest.raises(ConfigError, match=words):
        plan(Design(**{**base, **changes}), simulations=0)


@covers("plan", "plan --effect", "plan --sd", "plan --metric", "plan --json", "plan --simulations")
def test_cli_plan_text_and_json():
    res = CliRunner().invoke(cli, ["plan", "--effect", "0.3", "--sd", "1.0", "--simulations", "500"])
    assert res.exit_code == 0, res.output
    assert "needed: 90 human-rated items" in res.output and "simulation check" in res.output
    res = CliRunner().invoke(cli, ["plan", "--metric", "mention-delta", "--effect", "0.5", "--sd", "1", "--json",
                                   "--simulations", "0"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert (out["n_items"], out["n_mention_clusters"], out["simulation"]) == (128, 64, None)


def test_cli_plan_bad_input_exits_2():
    res = CliRunner().invoke(cli, ["plan", "--effect", "0.3", "--sd", "0"])
    assert res.exit_code == 2 and "sd must be positive" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["plan", "--effect", "0.3"])
    assert res.exit_code == 2 and "--sd" in res.output
