"""audit.gate (policy, checks, paired baseline comparison), audit.render.markdown and audit.render.junit: pure functions."""

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from audit.errors import ConfigError
from audit.gate.checks import GateReport, evaluate
from audit.gate.policy import Policy, load_policy, parse_policy
from audit.gate.baseline import compare_with_baseline
from audit.render.terminal import format_report
from audit.stats.paired import paired_judge_difference
from audit.render.junit import junit_xml
from audit.render.markdown import check_markdown, checks_markdown, escape, results_markdown

# --- policy ------------------------------------------------------------------------------------


def test_parse_full_policy_and_sources():
    p = parse_policy(
        "min_items = 30\nmax_inflation = 0.5\nmax_mention_gap = 1\nmin_spearman = 0.4\nmax_position_flip_rate = 0.2\n"
        '[baseline]\nmetrics = ["spearman", "inflation"]\nn_resamples = 500\nseed = 7\n', "p.toml")
    assert p.thresholds() == {"min_items": 30, "max_inflation": 0.5, "max_mention_gap": 1.0, "min_spearman": 0.4,
                              "max_position_flip_rate": 0.2}
    assert isinstance(p.max_mention_gap, float) and isinstance(p.min_items, int)
    assert p.compared_metrics() == ("spearman", "inflation") and p.n_resamples == 500 and p.seed == 7
    assert p.sources["max_inflation"] == "p.toml"
    assert p.needs_both_orders()


def test_options_override_the_file_and_say_so():
    p = parse_policy("max_inflation = 0.5\nmin_spearman = 0.4\n", "p.toml").with_overrides(max_inflation=0.9, min_items=None)
    assert p.max_inflation == 0.9 and p.min_spearman == 0.4 and p.min_items is None
    assert p.sources == {"max_inflation": "option --max-inflation", "min_spearman": "p.toml"}
    with pytest.raises(ConfigError, match="--max-position-flip-rate: must be a rate between 0 and 1"):
        Policy().with_overrides(max_position_flip_rate=1.5)


@pytest.mark.parametrize("text, message", [
    ("max_inflaton = 0.5\n", r"p\.toml: unknown key 'max_inflaton'; did you mean 'max_inflation'\?"),
    ("[baseline]\nmetric = ['spearman']\n", r"p\.toml: \[baseline\]: unknown key 'metric'; did you mean 'metrics'"),
    ("[baseline]\nmetrics = ['kappa']\n", r"p\.toml: baseline\.metrics: unknown metric 'kappa'"),
    ("[baseline]\nn_resamples = 10\n", r"p\.toml: baseline\.n_resamples: must be a whole number >= 100"),
    ("min_items = true\n", r"p\.toml: min_items: must be a whole number >= 1"),
    ("min_items = 2.5\n", r"p\.toml: min_items: must be a whole number >= 1"),
    ("max_inflation = '0.5'\n", r"p\.toml: max_inflation: must be a number"),
    ("max_inflation = nan\n", r"p\.toml: max_inflation: must be a number"),
    ("min_spearman = 1.5\n", r"p\.toml: min_spearman: must be between -1 and 1"),
    ("max_mention_gap = -0.1\n", r"p\.toml: max_mention_gap: must be >= 0"),
    ("max_inflation = \n", r"p\.toml: invalid TOML"),
    ("baseline = 3\n", r"p\.toml: \[baseline\] must be a table"),
])
def test_bad_policies_name_file_and_key(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_policy(text, "p.toml")


def test_load_policy_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="policy file not found"):
        load_policy(tmp_path / "nope.toml")


def test_shipped_example_policy_parses():
    from audit.data.assets import read_asset

    text = read_asset("fixtures", "judge-policy.toml")  # installed: audit._fixtures; a checkout: fixtures/
    p = parse_policy(text, "judge-policy.toml")
    assert p.min_items == 30 and p.max_inflation == 0.75 and p.max_mention_gap == 0.75 and p.min_spearman == 0.5
    assert p.max_position_flip_rate is None  # commented out: imported example judges have no order
    assert p.compared_metrics() == ("inflation", "mention_gap", "spearman")


def test_baseline_metrics_default_to_the_gated_ones():
    assert Policy().compared_metrics() == ("inflation", "mention_gap", "spearman")
    assert Policy(min_spearman=0.3).compared_metrics() == ("spearman",)
    assert Policy(max_position_flip_rate=0.1).needs_both_orders()
    assert not Policy(min_spearman=0.3).needs_both_orders(with_baseline=True)
    assert Policy(baseline_metrics=("position_flip_rate",)).needs_both_orders(with_baseline=True)


# --- threshold checks --------------------------------------------------------------------------


def est(estimate, lo=None, hi=None, n=40, reason=None):
    d = {"estimate": estimate, "ci": None if lo is None else [lo, hi], "p_value": 0.01, "n": n, "method": "m"}
    if reason:
        d["reason"] = reason
    return d


def results_with(**judge):
    entry = {"inflation": est(0.3, 0.2, 0.5), "spearman": est(0.6, 0.45, 0.75), "mention_delta": est(0.1, -0.2, 0.4)}
    entry.update(judge)
    return {"judges": {"J": entry}}


def by_name(checks):
    return {c.name: c for c in checks}


def test_inflation_is_tested_on_the_upper_bound_with_limit_inclusive():
    res = results_with()
    assert by_name(evaluate(res, "J", Policy(max_inflation=0.5)))["max_inflation"].passed  # 0.5 <= 0.5
    c = by_name(evaluate(res, "J", Policy(max_inflation=0.49)))["max_inflation"]
    assert not c.passed and c.bound == 0.5 and "CI upper bound +0.500 > limit 0.49" in c.detail
    # the point estimate (0.3) is under 0.4, but the upper bound is not: FAIL
    assert not by_name(evaluate(res, "J", Policy(max_inflation=0.4)))["max_inflation"].passed


def test_spearman_is_tested_on_the_lower_bound():
    res = results_with()
    assert by_name(evaluate(res, "J", Policy(min_spearman=0.45)))["min_spearman"].passed
    c = by_name(evaluate(res, "J", Policy(min_spearman=0.5)))["min_spearman"]
    assert not c.passed and c.bound == 0.45  # estimate 0.6 >= 0.5, lower bound is not


def test_missing_ci_fails_never_passes():
    res = results_with(spearman=est(None, n=2, reason="fewer than 3 items"), inflation=est(0.1, n=1))
    checks = by_name(evaluate(res, "J", Policy(min_spearman=-1.0, max_inflation=100.0)))
    assert not checks["min_spearman"].passed and "fewer than 3 items" in checks["min_spearman"].detail
    assert not checks["max_inflation"].passed and "never passes" in checks["max_inflation"].detail


def test_min_items_counts_items_with_both_ratings():
    res = results_with(inflation=est(0.3, 0.2, 0.5, n=12))
    c = by_name(evaluate(res, "J", Policy(min_items=30)))["min_items"]
    assert not c.passed and c.estimate == 12 and "too few items" in c.detail
    assert by_name(evaluate(res, "J", Policy(min_items=12)))["min_items"].passed


def test_mention_gap_uses_results_value_and_the_bound_farthest_from_zero():
    res = results_with(excess_mention_uplift=est(-0.3, -0.9, 0.2))
    c = by_name(evaluate(res, "J", Policy(max_mention_gap=0.5)))["max_mention_gap"]
    assert not c.passed and c.bound == pytest.approx(0.9) and c.estimate == -0.3
    assert by_name(evaluate(res, "J", Policy(max_mention_gap=0.9)))["max_mention_gap"].passed


def test_mention_gap_without_the_results_value_cannot_decide():
    # the gate never recomputes a statistic: without judges.J.excess_mention_uplift in results.json
    # (an old file) the check fails and says where the number was missing
    c = by_name(evaluate(results_with(), "J", Policy(max_mention_gap=5.0)))["max_mention_gap"]
    assert not c.passed and c.estimate is None and c.ci is None
    assert "results.json has no judges.J.excess_mention_uplift" in c.detail and "cannot decide" in c.detail


def test_flip_rate_not_measured_fails_and_measured_is_gated():
    c = by_name(evaluate(results_with(), "J", Policy(max_position_flip_rate=0.2)))["max_position_flip_rate"]
    assert not c.passed and "not measured" in c.detail
    c = by_name(evaluate(results_with(), "J", Policy(max_position_flip_rate=0.2), position_note="imported"))["max_position_flip_rate"]
    assert "not measured: imported" in c.detail
    res = results_with(position={"flip_rate": est(0.1, 0.05, 0.18), "n_pairs": 40})
    assert by_name(evaluate(res, "J", Policy(max_position_flip_rate=0.2)))["max_position_flip_rate"].passed
    assert not by_name(evaluate(res, "J", Policy(max_position_flip_rate=0.15)))["max_position_flip_rate"].passed
    bare = results_with(position={"flip_rate": 0.0})  # a number without CI cannot pass
    assert not by_name(evaluate(bare, "J", Policy(max_position_flip_rate=0.2)))["max_position_flip_rate"].passed


def test_report_verdict_and_terminal_lines():
    checks = evaluate(results_with(), "J", Policy(min_items=10, max_inflation=0.4, min_spearman=0.3))
    report = GateReport("J", tuple(checks), Policy(), data="d.jsonl")
    assert not report.passed and [c.name for c in report.failed] == ["max_inflation"]
    text = format_report(report)
    assert "PASS  min_items" in text and "FAIL  max_inflation" in text
    assert "+0.30  [+0.20, +0.50]" in text and "upper <= 0.4" in text
    assert text.splitlines()[-1].startswith("FAILED: 1 of 3 checks failed")
    assert not GateReport("J", (), Policy()).passed  # no checks is not a pass


# --- paired comparison with a baseline ---------------------------------------------------------


def make_frame(n_clusters=15, per=4, seed=0, new_shift=0.0, new_noise=0.0, new_mention=0.0, cluster_effect=0.0):
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_clusters):
        ce = rng.normal(0, cluster_effect) if cluster_effect else 0.0
        for k in range(per):
            h = rng.uniform(1.5, 4.5)
            m = bool((c + k) % 2)
            base = h + 0.3 + rng.normal(0, 0.3)
            new = base + new_shift + ce + new_mention * m + rng.normal(0, new_noise) if new_noise else base + new_shift + ce + new_mention * m
            rows.append({"cluster": f"u{c}", "human_mean": h, "mention": m, "base": base, "new": new})
    return pd.DataFrame(rows)


def test_identical_judges_differ_by_exactly_zero():
    f = make_frame()
    f["new"] = f["base"]
    for metric in ("inflation", "mention_gap", "spearman"):
        e = paired_judge_difference(f, metric, n_resamples=300, seed=1)
        assert e.estimate == 0 and (e.ci_low, e.ci_high) == (0, 0) and e.p_value == 1.0, metric
    assert all(c.passed for c in compare_with_baseline(f, Policy(n_resamples=300), "B"))


def test_constant_shift_hand_worked():
    # base - human = 0.5 and new - human = 1.5 on every item: |1.5| - |0.5| = 1 on every resample,
    # so the CI is [1, 1] and no resample is <= 0: p = 2 * (1 + 0) / (B + 1).
    f = make_frame()
    f["base"] = f["human_mean"] + 0.5
    f["new"] = f["human_mean"] + 1.5
    e = paired_judge_difference(f, "inflation", n_resamples=999, seed=0)
    assert e.estimate == pytest.approx(1.0) and e.ci_low == pytest.approx(1.0) and e.ci_high == pytest.approx(1.0)
    assert e.p_value == pytest.approx(2 / 1000)
    assert e.extra["new"] == pytest.approx(1.5) and e.extra["baseline"] == pytest.approx(0.5)
    [c] = compare_with_baseline(f, Policy(baseline_metrics=("inflation",), n_resamples=999), "B")
    assert not c.passed and "significantly worse" in c.detail


def reference_cluster_bootstrap(f, b, seed):
    """Independent implementation: numpy resampling of clusters, the same statistic, percentile CI."""
    rng = np.random.default_rng(seed)
    groups = [g for _, g in f.groupby("cluster")]
    out = []
    for _ in range(b):
        s = pd.concat([groups[i] for i in rng.integers(0, len(groups), len(groups))])
        out.append(abs((s["new"] - s["human_mean"]).mean()) - abs((s["base"] - s["human_mean"]).mean()))
    return np.percentile(out, [2.5, 97.5])


def test_cluster_bootstrap_agrees_with_an_independent_implementation():
    f = make_frame(n_clusters=20, per=3, seed=3, new_shift=0.2, new_noise=0.5)
    e = paired_judge_difference(f, "inflation", n_resamples=4000, seed=11)
    lo, hi = reference_cluster_bootstrap(f, 4000, seed=99)  # different random stream: Monte Carlo error only
    assert e.ci_low == pytest.approx(lo, abs=0.03) and e.ci_high == pytest.approx(hi, abs=0.03)
    assert e.n == 60 and e.extra["n_clusters"] == 20


def test_resampling_whole_users_widens_the_interval_when_users_differ():
    f = make_frame(n_clusters=10, per=6, seed=5, cluster_effect=0.8)
    clustered = paired_judge_difference(f, "inflation", n_resamples=2000, seed=0)
    g = f.assign(cluster=[f"i{i}" for i in range(len(f))])  # every item its own cluster
    itemwise = paired_judge_difference(g, "inflation", n_resamples=2000, seed=0)
    assert clustered.estimate == itemwise.estimate
    assert (clustered.ci_high - clustered.ci_low) > 1.5 * (itemwise.ci_high - itemwise.ci_low)


def test_planted_mention_bias_and_noisy_ranking_are_significantly_worse_and_reverse_is_not():
    f = make_frame(n_clusters=15, per=4, seed=2, new_mention=1.5)
    worse = paired_judge_difference(f, "mention_gap", n_resamples=1000, seed=0)
    assert worse.ci_low > 0 and worse.p_value < 0.01
    swapped = f.rename(columns={"new": "base", "base": "new"})
    better = paired_judge_difference(swapped, "mention_gap", n_resamples=1000, seed=0)
    assert better.ci_high < 0 and better.estimate == pytest.approx(-worse.estimate)
    assert compare_with_baseline(swapped, Policy(baseline_metrics=("mention_gap",), n_resamples=1000), "B")[0].passed

    noisy = make_frame(n_clusters=15, per=4, seed=4, new_noise=2.0)
    e = paired_judge_difference(noisy, "spearman", n_resamples=1000, seed=0)
    assert e.estimate > 0 and e.ci_low > 0  # rho(base) - rho(new) > 0: the noisy judge ranks worse
    assert e.extra["new"] < e.extra["baseline"]  # reported as rho values


def test_seeded_and_deterministic():
    f = make_frame(new_noise=0.5)
    a = paired_judge_difference(f, "spearman", n_resamples=500, seed=3)
    b = paired_judge_difference(f, "spearman", n_resamples=500, seed=3)
    assert a == b


def test_undecidable_comparisons_fail():
    f = make_frame()
    f["mention"] = True  # no item without a mention: the mention gap is undefined
    [c] = compare_with_baseline(f, Policy(baseline_metrics=("mention_gap",), n_resamples=200), "B")
    assert not c.passed and "cannot compare" in c.detail
    tiny = make_frame(n_clusters=2, per=3)
    e = paired_judge_difference(tiny, "inflation", n_resamples=200)
    assert e.ci_low is None and "only 2 clusters" in e.reason
    e = paired_judge_difference(make_frame(), "position_flip_rate", n_resamples=200)
    assert e.estimate is None and "not measured" in e.reason


def test_flip_rate_comparison():
    f = make_frame(n_clusters=20, per=2)
    f["flip_base"] = 0.0
    f["flip_new"] = [float(i % 2) for i in range(len(f))]  # flips on half the items
    e = paired_judge_difference(f, "position_flip_rate", n_resamples=1000, seed=0)
    assert e.estimate == pytest.approx(0.5) and e.ci_low > 0


# --- markdown ----------------------------------------------------------------------------------


def test_escape_neutralises_markdown_html_and_mentions():
    s = escape("<img src=x onerror=alert(1)> | *bold* [link](http://x) `code` @team\nnext")
    assert "<" not in s and ">" not in s and "\n" not in s
    assert "\\|" in s and "\\*bold\\*" in s and "\\[link\\]" in s and "\\`code\\`" in s
    assert "@&#8203;team" in s


RESULTS = {
    "n_items": 44, "n_items_with_human_ratings": 44, "n_mention": 23,
    "humans": {"no_better_rate": est(0.55, 0.40, 0.68), "mention_delta": est(-0.22, -0.69, 0.25)},
    "judges": {"style-a": {"n_items_rated": 44, "inflation": est(0.56, 0.36, 0.76), "mention_delta": est(0.79, 0.3, 1.28),
                           "spearman": est(0.71, 0.52, 0.83), "warnings": []},
               "bad|<judge>": {"n_items_rated": 3, "inflation": est(0.1, n=3, reason="fewer than 2 items"),
                               "mention_delta": est(None), "spearman": est(None, reason="fewer than 3 items"),
                               "warnings": ["only 3 rated items"]}},
    "habit_bias": {"spearman_r": None},
}


def test_results_markdown_table():
    md = results_markdown(RESULTS)
    lines = md.splitlines()
    assert lines[0] == "### judge-audit: 44 items (44 with human ratings, 23 with an explicit mention)"
    assert "| style-a | 44 | +0.56 [+0.36, +0.76] | +0.79 [+0.30, +1.28] | +0.71 [+0.52, +0.83] | — |" in lines
    bad = next(line for line in lines if line.startswith("| bad"))
    assert bad.startswith("| bad\\|&lt;judge&gt; | 3 | +0.10 | n/a | n/a (fewer than 3 items) | only 3 rated items |")
    assert "mention Δ −0.22 [−0.69, +0.25]" in md


def test_checks_markdown_and_pr_comment():
    checks = evaluate(results_with(), "J", Policy(min_items=10, max_inflation=0.4))
    report = GateReport("J", tuple(checks), Policy(), data="d.jsonl").to_dict()
    md = checks_markdown(report)
    assert md.startswith("### ❌ judge-audit check failed (1 of 2 checks): judge J")
    assert "| ✅ | min\\_items | 40 | — | ≥ 10 | — |  |" in md
    assert "| ❌ | max\\_inflation | +0.30 | [+0.20, +0.50] | upper ≤ 0.4 | +0.50 |" in md
    full = check_markdown(report, RESULTS)
    assert "<details><summary>Audit summary</summary>" in full and "#### judge-audit: 44 items" in full


# --- junit ---------------------------------------------------------------------------------------


def test_junit_one_testcase_per_check_failures_as_failure_elements():
    checks = evaluate(results_with(), "J", Policy(min_items=10, max_inflation=0.4, min_spearman=0.3))
    report = GateReport("J\x07<x>", tuple(checks), Policy(max_inflation=0.4)).to_dict()
    root = ET.fromstring(junit_xml(report, time_s=1.5).encode())  # control character dropped: parses
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "1"
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "judge-audit check: J<x>" and suite.get("time") == "1.500"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["min_items", "max_inflation", "min_spearman"]
    [failure] = cases[1].findall("failure")
    assert failure.get("message") == "max_inflation: CI upper bound +0.500 > limit 0.4"
    assert "95% CI: [+0.2000, +0.5000]" in failure.text
    assert not cases[0].findall("failure") and cases[0].find("system-out") is not None
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["policy.max_inflation"] == "0.4" and props["status"] == "FAIL"


def test_nan_free_estimates():
    f = make_frame()
    e = paired_judge_difference(f, "spearman", n_resamples=200)
    assert all(v is None or math.isfinite(v) for v in (e.estimate, e.ci_low, e.ci_high, e.p_value))


def test_inner_spearman_equals_scipy_with_ties():
    from audit.stats.paired import spearman_rho as _spearman

    rng = np.random.default_rng(0)
    x, y = rng.integers(1, 6, 30).astype(float), rng.integers(1, 6, 30).astype(float)  # many ties
    assert _spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert math.isnan(_spearman(np.ones(5), np.arange(5.0)))


def test_every_markdown_table_row_has_the_same_number_of_cells():
    res = results_with(excess_mention_uplift=est(-0.3, -0.9, 0.2))
    checks = evaluate(res, "J", Policy(min_items=10, max_inflation=0.4, max_mention_gap=0.5, min_spearman=0.3))
    md = checks_markdown(GateReport("J|x", tuple(checks), Policy()).to_dict()) + results_markdown(RESULTS)
    for table in md.split("\n\n"):
        rows = [r for r in table.splitlines() if r.startswith("|")]
        if rows:  # unescaped | separate cells; escaped \\| do not
            counts = {len(re.split(r"(?<!\\)\|", r)) for r in rows}
            assert len(counts) == 1, table


# --- relevance and counterfactual thresholds ------------------------------------------------------


def test_relevance_and_counterfactual_keys_parse_and_say_which_stage_runs():
    from audit.gate.policy import AUDIT_KEYS, COUNTERFACTUAL_KEYS, RELEVANCE_KEYS

    p = parse_policy("max_over_selection_ratio = 2\nmin_relevance_f1 = 0.4\nmax_counterfactual_effect = 0.5\n", "p.toml")
    assert p.thresholds() == {"max_over_selection_ratio": 2.0, "min_relevance_f1": 0.4, "max_counterfactual_effect": 0.5}
    assert all(isinstance(v, float) for v in p.thresholds().values())
    assert p.sources == {k: "p.toml" for k in p.thresholds()}
    assert p.gates(RELEVANCE_KEYS) and p.gates(COUNTERFACTUAL_KEYS) and not p.gates(AUDIT_KEYS)
    assert not p.needs_both_orders(with_baseline=True)
    assert p.compared_metrics() == ("inflation", "mention_gap", "spearman")  # baseline metrics unchanged
    q = Policy().with_overrides(min_relevance_f1=0.7)
    assert q.min_relevance_f1 == 0.7 and q.sources == {"min_relevance_f1": "option --min-relevance-f1"}
    assert q.gates(RELEVANCE_KEYS) and not q.gates(COUNTERFACTUAL_KEYS)
    # the relevance and counterfactual keys are not the audit's: evaluate() leaves them to audit.gate.check
    assert evaluate(results_with(), "J", p) == []


@pytest.mark.parametrize("text, message", [
    ("min_relevance_f1 = 1.2\n", r"p\.toml: min_relevance_f1: must be between 0 and 1"),
    ("min_relevance_f1 = true\n", r"p\.toml: min_relevance_f1: must be a number"),
    ("max_over_selection_ratio = -0.5\n", r"p\.toml: max_over_selection_ratio: must be >= 0"),
    ("max_counterfactual_effect = -1\n", r"p\.toml: max_counterfactual_effect: must be >= 0"),
    ("max_counterfactual_efect = 1\n", r"unknown key 'max_counterfactual_efect'; did you mean 'max_counterfactual_effect'"),
    ("max_overselection_ratio = 1\n", r"did you mean 'max_over_selection_ratio'"),
])
def test_bad_new_keys_name_file_and_key(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_policy(text, "p.toml")


def test_unmeasured_checks_fail_and_say_why():
    from audit.gate.checks import unmeasured_checks

    p = parse_policy("min_relevance_f1 = 0.4\nmax_counterfactual_effect = 0.5\n", "p.toml")
    [c] = unmeasured_checks("min_relevance_f1", p, "not measured: give --relevance-data FILE")
    assert (c.name, c.passed, c.ci, c.bound, c.limit, c.source) == ("min_relevance_f1", False, None, None, 0.4, "p.toml")
    assert c.detail.startswith("FAIL (cannot decide): not measured: give --relevance-data FILE")
    assert c.comparison == ">=" and c.tested == "CI lower bound"
    cf = unmeasured_checks("max_counterfactual_effect", p, "not measured: imported",
                           ("max_counterfactual_effect:ablation", "max_counterfactual_effect:injection"))
    assert [c.name for c in cf] == ["max_counterfactual_effect:ablation", "max_counterfactual_effect:injection"]
    assert cf[0].metric.endswith("(ablation)") and not any(c.passed for c in cf)
    assert cf[1].tested == "|CI bound| farthest from 0"


def test_relevance_and_counterfactual_checks_take_the_policy_source_and_render():
    """audit.audits.relevance / audit.audits.counterfactual make the Check rows; audit.gate.check sets their source."""
    from audit.gate.check import _sourced
    from audit.gate.checks import counterfactual_checks
    from audit.gate.checks import relevance_checks

    p = parse_policy("max_over_selection_ratio = 2\nmin_relevance_f1 = 0.4\n", "p.toml").with_overrides(
        max_counterfactual_effect=0.5)
    rel = {"relevance": {"judges": {"J": {"over_selection_ratio": est(1.5, 1.2, 2.1), "f1": est(0.6, 0.45, 0.7)}}}}
    cf = {"counterfactual": {"judges": {"J": {"ablation_effect": est(0.9, 0.6, 1.2), "injection_effect": est(0.1, -0.2, 0.4)}}}}
    checks = _sourced(relevance_checks(rel, p, judges=["J"]) + counterfactual_checks(cf, p, judges=["J"]), p)
    got = {c.name: (c.passed, c.bound, c.source) for c in checks}
    assert got == {"max_over_selection_ratio": (False, 2.1, "p.toml"), "min_relevance_f1": (True, 0.45, "p.toml"),
                   "max_counterfactual_effect:ablation": (False, 1.2, "option --max-counterfactual-effect"),
                   "max_counterfactual_effect:injection": (True, 0.4, "option --max-counterfactual-effect")}
    report = GateReport("J", tuple(checks), p, relevance_data="rel.jsonl")
    text = format_report(report)
    lines = text.splitlines()
    assert lines[0] == "judge-audit check: judge 'J' on rel.jsonl (relevance pairs)"
    # the name column widens to the longest name, so the numbers stay aligned
    starts = {line.index("[") for line in lines if line.startswith(("PASS  ", "FAIL  "))}
    assert len(starts) == 1
    assert "FAIL  max_counterfactual_effect:ablation   +0.90  [+0.60, +1.20]    |bound| <= 0.5" in text
    assert "upper <= 2" in text and "lower >= 0.4" in text
    assert GateReport("J", tuple(checks), p, data="d.jsonl", relevance_data="rel.jsonl").to_dict()["relevance_data"] == "rel.jsonl"
    assert format_report(GateReport("J", tuple(checks), p, data="d.jsonl", relevance_data="r.jsonl")).splitlines()[0] \
        == "judge-audit check: judge 'J' on d.jsonl (relevance: r.jsonl)"
    md = checks_markdown(report.to_dict())
    assert "| ❌ | max\\_over\\_selection\\_ratio | +1.50 | [+1.20, +2.10] | upper ≤ 2 | +2.10 |" in md
    assert "| ✅ | max\\_counterfactual\\_effect:injection | +0.10 | [−0.20, +0.40] | \\|bound\\| ≤ 0.5 | +0.40 |  |" in md
    root = ET.fromstring(junit_xml(report.to_dict()).encode())
    assert [c.get("name") for c in root.iter("testcase")] == list(got)
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["policy.max_counterfactual_effect"] == "0.5" and props["policy.min_relevance_f1"] == "0.4"
