"""audit.stats.simulate and `judge-audit simulate`: planted biases are recovered, and the 95% cluster
bootstrap intervals cover them at their nominal rate."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from audit.stats import measure
from audit.stats.bootstrap import ClusterBootstrap
from audit.cli import cli
from audit.data.items import load_items
from audit.stats.simulate import SimParams, _e_clip, draw, expected_values, to_rows
from cli_coverage import covers


def test_params_validation():
    with pytest.raises(ValueError, match="one per judge"):
        SimParams(judges=("a", "b", "c"), inflation=(0.1, 0.2))
    with pytest.raises(ValueError, match="raters per item"):
        SimParams(n_annotators=2, raters_per_item=3)
    with pytest.raises(ValueError, match="distinct"):
        SimParams(judges=("a", "a"))
    p = SimParams(judges=("a", "b", "c"), inflation=(0.3,), mention_bias=(0.1,), position_bias=(0.0,))
    assert p.inflation == (0.3, 0.3, 0.3)


def test_draw_structure_and_reproducibility():
    p = SimParams(n_items=50, n_annotators=4, raters_per_item=2, n_users=10, mention_rate=0.3, seed=3)
    a, b = draw(p), draw(p)
    assert np.array_equal(a.human, b.human, equal_nan=True) and np.array_equal(a.verdicts, b.verdicts)
    assert not np.array_equal(draw(p, seed=4).verdicts, a.verdicts)
    assert (~np.isnan(a.human)).sum(axis=1).tolist() == [2] * 50
    assert a.mention.sum() == 15
    assert set(np.unique(a.verdicts)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert a.user.max() < 10


def test_clipped_expectation_closed_form_matches_numerical_integration():
    from scipy.integrate import quad
    from scipy.stats import norm

    for mu, sd in [(3.0, 1.0), (4.6, 0.8), (1.2, 1.5), (3.5, 0.0)]:
        if sd == 0:
            ref = min(max(mu, 1), 5)
        else:
            ref = (norm.cdf(1, mu, sd) * 1 + norm.sf(5, mu, sd) * 5
                   + quad(lambda v: v * norm.pdf(v, mu, sd), 1, 5)[0])
        assert float(_e_clip(mu, sd)) == pytest.approx(ref, abs=1e-9)


def test_truth_equals_planted_values_when_nothing_is_clipped():
    # tiny variances keep every latent rating far from 1 and 5: the expectations are the plants
    p = SimParams(item_sd=0.01, user_sd=0.0, noise=0.01, judge_noise=0.01, inflation=(0.6, -0.3),
                  mention_bias=(0.4, 0.0), position_bias=(0.3, 0.2), human_mention_effect=0.1)
    t = expected_values(p)
    a, b = t["judges"]["sim-judge-a"], t["judges"]["sim-judge-b"]
    assert a["inflation"] == pytest.approx(0.6) and b["inflation"] == pytest.approx(-0.3)
    assert a["excess_mention_uplift"] == pytest.approx(0.4) and a["mention_delta"] == pytest.approx(0.5)
    assert a["position_shift"] == pytest.approx(0.3) and b["position_shift"] == pytest.approx(0.2)
    assert t["humans"]["mention_delta"] == pytest.approx(0.1)


@pytest.mark.slow  # worker processes / a big simulation
def test_large_dataset_recovers_the_planted_values():
    p = SimParams(n_items=6000, inflation=(0.5, -0.2), mention_bias=(0.4, 0.0), position_bias=(0.4, 0.0), seed=1)
    d = draw(p)
    hm, jr = d.human_mean, d.judge_rating
    for k, name in enumerate(p.judges):
        truth = d.truth["judges"][name]
        planted = truth["planted"]
        # clipping at 1 and 5 shrinks the expectations only a little with these defaults
        assert truth["inflation"] == pytest.approx(planted["inflation"], abs=0.06)
        assert truth["excess_mention_uplift"] == pytest.approx(planted["mention_bias"], abs=0.06)
        assert truth["position_shift"] == pytest.approx(planted["position_bias"], abs=0.06)
        # and the estimates land on the expectations
        assert measure.inflation(jr[:, k], hm, clusters=d.user).estimate == pytest.approx(truth["inflation"], abs=0.03)
        up = measure.excess_mention_uplift(jr[:, k], hm, d.mention, clusters=d.user)
        assert up.estimate == pytest.approx(truth["excess_mention_uplift"], abs=0.06)
        # position bias, from both orders' verdicts
        shift = (d.verdicts[:, k, 1] - d.verdicts[:, k, 0]).mean()
        assert shift == pytest.approx(truth["position_shift"], abs=0.04)
    assert measure.mention_delta(hm, d.mention).estimate == pytest.approx(d.truth["humans"]["mention_delta"], abs=0.06)


@pytest.mark.slow  # worker processes / a big simulation
def test_cluster_bootstrap_intervals_cover_the_truth_at_the_nominal_rate():
    """300 datasets (200 items, 100 users, 2 judges): each 95% interval of inflation and of mention
    delta must cover the exact expectation in 92-98% of them."""
    p = SimParams(n_items=200, seed=0)
    n_sets = 300
    hits: dict[tuple[str, str], list[bool]] = {}
    for r in range(n_sets):
        d = draw(p, seed=10_000 + r)
        users = [f"u{u}" for u in d.user]
        boot = ClusterBootstrap(users, seed=r)
        for k, name in enumerate(p.judges):
            truth = d.truth["judges"][name]
            ests = {
                "inflation": measure.inflation(d.judge_rating[:, k], d.human_mean, clusters=users, boot=boot),
                "mention_delta": measure.mention_delta(d.judge_rating[:, k], d.mention, clusters=users, boot=boot),
                "excess_mention_uplift": measure.excess_mention_uplift(d.judge_rating[:, k], d.human_mean, d.mention,
                                                                       clusters=users, boot=boot),
            }
            for key, est in ests.items():
                hits.setdefault((name, key), []).append(est.ci_low <= truth[key] <= est.ci_high)
    rates = {f"{name} {key}": float(np.mean(v)) for (name, key), v in hits.items()}
    print("coverage of 95% cluster-bootstrap intervals over", n_sets, "datasets:", json.dumps(rates, indent=1))
    for label, rate in rates.items():
        assert 0.92 <= rate <= 0.98, f"{label}: coverage {rate:.3f}"


@covers("simulate",
        "simulate --out",
        "simulate --items",
        "simulate --annotators",
        "simulate --judges",
        "simulate --inflation")
def test_rows_are_valid_input_and_labelled_synthetic(tmp_path):
    runner = CliRunner()
    out = tmp_path / "sim.jsonl"
    res = runner.invoke(cli, ["simulate", "--out", str(out), "--items", "120", "--annotators", "4", "--judges",
                              "sim-j1,sim-j2,sim-j3", "--inflation", "0.5,0.2,0", "--mention-bias", "0.3",
                              "--position-bias", "0.2", "--noise", "0.6", "--seed", "5"])
    assert res.exit_code == 0, res.output
    assert "sim-j1: expected inflation +0.4" in res.output
    text = out.read_text()
    assert text.startswith("# SYNTHETIC DATA")
    header = [line for line in text.splitlines() if line.startswith("# truth: ")][0]
    truth = json.loads(header[len("# truth: "):])
    ds = load_items(out)
    assert len(ds.items) == 120 and ds.imported_judges == ["sim-j1", "sim-j2", "sim-j3"]
    item = ds.items[0]
    assert item.meta["synthetic"] is True and len(item.meta["judge_verdicts"]) == 6
    v = item.meta["judge_verdicts"][1]
    assert v["order"] == "personalized_first" and v["raw_rating"] == 6 - v["rating"]
    # the written judge rating is one of the two orders' verdicts
    both = {x["rating"] for x in item.meta["judge_verdicts"] if x["judge"] == "sim-j1"}
    assert item.judge_ratings[0].rating in both

    # the whole audit on the file: results.json with the new keys, CIs covering the truth
    res = runner.invoke(cli, ["run", "--data", str(out), "--out", str(tmp_path / "audit"), "--seed", "3"])
    assert res.exit_code == 0, res.output
    r = json.loads((tmp_path / "audit" / "results.json").read_text())
    for name in ("sim-j1", "sim-j2", "sim-j3"):
        j = r["judges"][name]
        lo, hi = j["inflation"]["ci"]
        assert lo < j["inflation"]["estimate"] < hi
        # coverage itself is tested above; here only the wiring: the truth lies within about four
        # standard errors (one CI width) of the estimate
        assert abs(j["inflation"]["estimate"] - truth["judges"][name]["inflation"]) <= hi - lo
        assert 0 <= j["inflation"]["p_value_holm"] <= 1 and j["inflation"]["p_value_holm"] >= j["inflation"]["p_value"]
        for key in ("spearman", "kendall", "kappa_quadratic", "exact_agreement", "sign_accuracy"):
            assert j["agreement"][key]["ci"] is not None
        assert j["spearman"]["estimate"] == j["agreement"]["spearman"]["estimate"]
        assert set(j["agreement"]["per_annotator"]) == {"annotator-A", "annotator-B", "annotator-C", "annotator-D"}
        assert "excess_mention_uplift" in j and "mention_slope" in j
    assert r["humans"]["krippendorff_alpha"]["estimate"] > 0
    assert r["humans"]["ceiling"]["kappa_quadratic"]["ci"] is not None
    assert r["agreement"]["raters"][:4] == ["annotator-A", "annotator-B", "annotator-C", "annotator-D"]
    assert r["agreement"]["mean_within_judges"]["n_pairs"] == 3
    assert r["bootstrap"] == {**r["bootstrap"], "n_resamples": 2000, "seed": 3}


def test_to_rows_round_trip_of_ratings():
    d = draw(SimParams(n_items=10, seed=2))
    rows = to_rows(d)
    for i, row in enumerate(rows):
        got = sorted(r["rating"] for r in row["human_ratings"])
        assert got == sorted(int(v) for v in d.human[i] if not np.isnan(v))
        assert row["mention"] == bool(d.mention[i])


@pytest.mark.parametrize("args,message", [
    (["--inflation", "0.1,0.2,0.3"], "one per judge"),
    (["--inflation", "lots"], "must be a number"),
    (["--out-csv"], ".jsonl"),
    (["--annotators", "2", "--raters-per-item", "3"], "raters per item"),
])
def test_simulate_usage_errors_exit_2(tmp_path, args, message):
    out = tmp_path / ("x.csv" if args == ["--out-csv"] else "x.jsonl")
    args = [] if args == ["--out-csv"] else args
    res = CliRunner().invoke(cli, ["simulate", "--out", str(out), *args])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output
