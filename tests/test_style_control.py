"""Mention bias or just length? The style-controlled mention effect (audit.stats.style), verbosity
bias, and their gate key -- on SYNTHETIC data generated here (no people, no models).

Data model: n items in clusters of 3 (users); half the personalized answers name an attribute, and those
are longer (normalised length difference L ~ 0.35 vs 0.05, sd 0.15); markdown density D is noise.
Planted judges: ``length`` rewards length only (+2 per unit of L), ``mention`` rewards the mention only
(+0.8), people reward neither.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from audit.cli import cli
from audit.stats.bootstrap import ClusterBootstrap
from audit.stats.style import style_regression, verbosity
from audit.text.style import markdown_elements, style_covariates, words
from cli_coverage import covers


def synthetic(n=300, seed=0):
    rng = np.random.default_rng(seed)
    m = np.arange(n) % 2 == 0
    L = np.where(m, 0.35, 0.05) + rng.normal(0, 0.15, n)
    D = rng.normal(0, 0.3, n)
    clusters = np.arange(n) // 3
    user = np.repeat(rng.normal(0, 0.3, n // 3 + 1), 3)[:n]
    human = 3 + user + rng.normal(0, 0.6, n)
    judges = {"length": 3 + user + 2.0 * L + rng.normal(0, 0.6, n),
              "mention": 3 + user + 0.8 * m + rng.normal(0, 0.6, n)}
    return m, L, D, clusters, human, judges


def fit(y, m, L, D, clusters, human, reps=2000, seed=0):
    boot = ClusterBootstrap(clusters, n_reps=reps, seed=seed)
    return style_regression({"judge": y, "humans": human}, m, L, D, clusters=clusters, boot=boot, excess=("judge", "humans"))


def covers0(e):
    return e.ci_low <= 0 <= e.ci_high


def test_a_length_judge_loses_its_mention_effect_and_a_mention_judge_keeps_it():
    m, L, D, cl, human, judges = synthetic()
    raw = judges["length"][m].mean() - judges["length"][~m].mean()
    assert raw > 0.45  # the raw mention delta is clearly positive: mentions come with longer answers
    length = fit(judges["length"], m, L, D, cl, human)
    assert covers0(length["judge"]["mention"]) and length["judge"]["length"].ci_low > 1.0
    assert covers0(length["excess"]["mention"]) and length["excess"]["length"].ci_low > 1.0
    mention = fit(judges["mention"], m, L, D, cl, human)
    assert mention["judge"]["mention"].ci_low > 0.4 and covers0(mention["judge"]["length"])
    assert mention["excess"]["mention"].estimate == pytest.approx(
        mention["judge"]["mention"].estimate - mention["humans"]["mention"].estimate)


def test_coefficients_equal_numpy_least_squares_and_statsmodels_ols():
    import statsmodels.api as sm

    m, L, D, cl, human, judges = synthetic(n=90, seed=3)
    out = fit(judges["length"], m, L, D, cl, human, reps=200)
    X = np.column_stack([np.ones(len(m)), m, L, D])
    beta = np.linalg.lstsq(X, judges["length"], rcond=None)[0]
    ols = sm.OLS(judges["length"], X).fit().params
    for i, c in enumerate(("mention", "length", "markdown"), start=1):
        assert out["judge"][c].estimate == pytest.approx(beta[i]) == pytest.approx(ols[i])
    excess = np.linalg.lstsq(X, judges["length"] - human, rcond=None)[0]
    assert out["excess"]["length"].estimate == pytest.approx(excess[2])


def test_bootstrap_interval_equals_a_resample_loop_by_hand():
    """The summed-X'X shortcut gives the same coefficient on every resample as refitting the rows."""
    m, L, D, cl, human, judges = synthetic(n=60, seed=5)
    boot = ClusterBootstrap(cl, n_reps=50, seed=9)
    out = style_regression({"judge": judges["mention"]}, m, L, D, clusters=cl, boot=boot)["judge"]["mention"]
    X = np.column_stack([np.ones(len(m)), m, L, D])
    reps = [np.linalg.lstsq(X[idx], judges["mention"][idx], rcond=None)[0][1]
            for idx in boot.index_resamples(boot.codes(cl))]
    assert (out.ci_low, out.ci_high) == pytest.approx(tuple(np.percentile(reps, [2.5, 97.5])))


@pytest.mark.slow  # 400 simulated data sets
def test_style_controlled_mention_ci_covers_the_truth_92_to_98_percent():
    rng = np.random.default_rng(42)
    hits = []
    for s in range(400):
        m, L, D, cl, human, judges = synthetic(n=90, seed=1000 + s)
        y = 3 + 0.5 * m + 1.0 * L + 0.3 * D + rng.normal(0, 0.7, len(m))  # true mention coefficient 0.5
        e = style_regression({"judge": y}, m, L, D, clusters=cl, boot=ClusterBootstrap(cl, n_reps=500, seed=s))
        hits.append(e["judge"]["mention"].ci_low <= 0.5 <= e["judge"]["mention"].ci_high)
    assert 0.92 <= np.mean(hits) <= 0.98, np.mean(hits)


def test_verbosity_shares_by_hand():
    L = np.array([0.5, 0.5, -0.5, -0.5, 0.05, 0.3])
    judge = np.array([4, 5, 2, 4, 5, 3])  # prefers longer on items 0, 1, 2; not 3; item 4 too close; 5 a tie
    human = np.array([4, 2, 2, 2, 1, 4])  # longer on 0, 2, 3 (generic longer, rated below 3), 5; not 1
    cl = np.arange(6)
    out = verbosity(judge, human, L, clusters=cl, boot=ClusterBootstrap(cl, n_reps=500, seed=0))
    assert out["n"] == 5 and out["margin"] == 0.1
    assert out["judge_prefers_longer"].estimate == pytest.approx(3 / 5)
    assert out["humans_prefer_longer"].estimate == pytest.approx(4 / 5)
    assert out["excess"].estimate == pytest.approx(3 / 5 - 4 / 5)


def test_style_covariates_by_hand():
    md = "# Plan\n- **tofu** stir fry\n- lentils\n1. cook\n"
    assert words(md) == 7 and markdown_elements(md) == 5  # a header, three list items, one bold span
    s = style_covariates(md, "Cook some rice and beans tonight.")
    assert s["length"] == pytest.approx((7 - 6) / 13) and s["markdown"] == 1.0
    assert style_covariates("", "")["length"] == 0.0


# --- end to end: a server judge that rewards length only ----------------------------------------------

def write_pairs(path, n=60):
    """Even items name the attribute and are longer on average (3 more sentences), but lengths overlap:
    every item has (7 i) mod 9 sentences besides."""
    with path.open("w") as fh:
        fh.write("# SYNTHETIC TEST DATA written by tests/test_style_control.py\n")
        for i in range(n):
            named = i % 2 == 0
            extra = " ".join(f"Step {k}: keep going." for k in range((7 * i) % 9 + (3 if named else 0)))
            pers = (f"As a vegetarian, PERSONAL answer {i}. " if named else f"PERSONAL answer {i}. ") + extra
            fh.write(json.dumps({
                "id": f"s{i:02d}", "user_id": f"u{i // 3}", "prompt": f"Question {i}?", "attributes": ["vegetarian"],
                "generic": f"GENERIC answer {i}.", "personalized": pers, "generator": "style-test",
                "human_ratings": [{"annotator": "annotator-A", "rating": 3 + (i % 3 == 0) - (i % 3 == 1)},
                                  {"annotator": "annotator-B", "rating": 3}]}) + "\n")
    return path


@covers("check --max-style-controlled-mention-gap")
def test_a_length_only_judge_fails_the_mention_gap_but_passes_the_style_controlled_one(tmp_path, monkeypatch):
    from openai_server import OpenAIServer
    from test_cli_run_options import config, preference, slots

    monkeypatch.setenv("JA_OPTS_KEY", "sk")

    from audit.text.style import style_covariates

    def length_judge(request):
        a, b = slots(request)
        personal, generic = (a, b) if "PERSONAL" in a else (b, a)
        length = style_covariates(personal, generic)["length"]
        return preference(request, int(np.clip(round(1 + 4.5 * length), 1, 5)))  # longer -> higher, nothing else

    data = write_pairs(tmp_path / "pairs.jsonl")
    with OpenAIServer(length_judge, mode="json_schema") as srv:
        cfg = config(tmp_path, srv, "wordy")
        r = CliRunner().invoke(cli, ["check", "--judge", "wordy", "--data", str(data), "--config", str(cfg),
                                     "--max-mention-gap", "0.5", "--max-style-controlled-mention-gap", "1.5",
                                     "--json", str(tmp_path / "c.json"), "--out", str(tmp_path / "o")])
    checks = {c["name"]: c for c in json.loads((tmp_path / "c.json").read_text())["checks"]}
    assert checks["max_mention_gap"]["status"] == "FAIL"  # raw: mentions look rewarded
    assert checks["max_style_controlled_mention_gap"]["status"] == "PASS", checks  # at equal length: not
    res = json.loads((tmp_path / "o" / "results.json").read_text())["judges"]["wordy"]
    assert res["style_control"]["length"]["ci"][0] > 0
    assert res["verbosity"]["judge_prefers_longer"]["estimate"] > res["verbosity"]["humans_prefer_longer"]["estimate"]
    assert r.exit_code == 1
