"""Position bias and self-consistency: hand-worked cases for the statistics, and the whole path
(``judge-audit run --both-orders / --samples``) against the loopback server, where a judge that
always answers "Response A" must be flagged loudly. The slow test runs the real local judge.

Judgment rows below are HAND-WRITTEN TEST DATA; the planted judges are server rules, not models.
"""

from __future__ import annotations

import json
import math
import random

import pytest
from click.testing import CliRunner

from audit.cli import cli
from audit.stats.consistency import (add_engine_checks, engine_warnings, position_check, position_pairs, raw_constancy,
                               self_consistency)
from audit.data.judgments import GENERIC_FIRST as GF, PERSONALIZED_FIRST as PF, Judgment, to_preference_scale
from openai_server import OpenAIServer, judge_responder
from cli_coverage import covers

Z = 1.959963984540054  # standard normal 97.5% quantile


def row(item, order, raw, sample=0, judge="j"):
    return Judgment(item, judge, "m", order, sample, float(to_preference_scale(raw, order)), raw, "r", "ok")


def wilson(k, n):
    """Wilson (1927) score interval, written out: (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)."""
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


# hand-worked: raw answers (A/B scale) per item in each order
#   i1: GF 4 (pref 4), PF 2 (pref 4): same verdict;      picks B then A  -> A 1 of 2 decisive
#   i2: GF 1 (pref 1), PF 1 (pref 5): flip;              A both times    -> A 2 of 2
#   i3: GF 3 (pref 3), PF 2 (pref 4): flip (0 vs +);     tie, then A     -> A 1 of 1
#   i4: GF 5 (pref 5), PF 5 (pref 1): flip;              B both times    -> A 0 of 2
HAND = [row("i1", GF, 4), row("i1", PF, 2), row("i2", GF, 1), row("i2", PF, 1),
        row("i3", GF, 3), row("i3", PF, 2), row("i4", GF, 5), row("i4", PF, 5)]


def test_position_pairs_hand_worked():
    pairs = position_pairs(HAND + [row("i5", GF, 4)]).set_index("item_id")  # i5: one order only, no pair
    assert list(pairs.index) == ["i1", "i2", "i3", "i4"]
    assert list(pairs["flip"]) == [0, 1, 1, 1]
    assert list(pairs["a_choices"]) == [1, 2, 1, 0] and list(pairs["decisive"]) == [2, 2, 1, 2]


def test_position_check_hand_worked():
    pos = position_check(HAND)
    flip, slot = pos["flip_rate"], pos["slot_a_preference"]
    assert (pos["n_pairs"], pos["n_flips"]) == (4, 3)
    assert flip["estimate"] == 0.75 and flip["n"] == 4
    lo, hi = wilson(3, 4)  # one pair per item, items independent: Wilson interval
    assert flip["ci"] == pytest.approx([lo, hi], abs=1e-12)
    assert slot["estimate"] == pytest.approx(4 / 7)
    # exact McNemar on same-slot pairs: A-A (i2) vs B-B (i4) = 1 vs 1 -> two-sided binomial p = 1
    assert (slot["both_a"], slot["both_b"]) == (1, 1) and slot["p_value"] == pytest.approx(1.0)
    assert slot["ci"][0] <= 4 / 7 <= slot["ci"][1]


def test_position_check_clustered_uses_the_bootstrap_and_degenerate_falls_back_to_wilson():
    rows = []
    for i in range(30):
        raws = (1, 1) if i % 3 == 0 else (4, 2)  # a third of the pairs flip (always A)
        rows += [row(f"i{i}", GF, raws[0]), row(f"i{i}", PF, raws[1])]
    clusters = {f"i{i}": f"u{i // 3}" for i in range(30)}  # 10 users, 3 items each
    pos = position_check(rows, clusters, seed=1)
    assert pos["flip_rate"]["estimate"] == pytest.approx(10 / 30)
    assert "cluster bootstrap" in pos["flip_rate"]["method"] and pos["flip_rate"]["n_clusters"] == 10
    lo, hi = pos["flip_rate"]["ci"]
    # every cluster has the same flip share (1 of 3): the bootstrap collapses to a point, so the
    # union with the Wilson interval of 10/30 is that Wilson interval
    assert (lo, hi) == pytest.approx(wilson(10, 30), abs=1e-12)
    heterogeneous = [row(f"i{i}", o, 1 if i < 6 else (4 if o == GF else 2)) for i in range(30) for o in (GF, PF)]
    het = position_check(heterogeneous, clusters, seed=1)["flip_rate"]  # users u0, u1 always flip, the rest never
    assert het["estimate"] == pytest.approx(0.2)
    assert het["ci"][0] <= wilson(6, 30)[0] and het["ci"][1] >= wilson(6, 30)[1]
    always_a = [row(f"i{i}", o, 1) for i in range(30) for o in (GF, PF)]
    deg = position_check(always_a, clusters)["flip_rate"]
    assert deg["estimate"] == 1.0 and deg["ci"] == pytest.approx(list(wilson(30, 30)), abs=1e-12)


def test_no_pairs_without_both_orders():
    assert position_check([row("i1", GF, 4), row("i2", PF, 2)]) is None


def test_self_consistency_icc_and_agreement_hand_worked():
    # 5 prompts x 2 samples (preference scale, generic-first so raw = rating):
    #   (1,1) (2,3) (3,3) (4,5) (5,5); grand mean 3.2; prompt means 1, 2.5, 3, 4.5, 5
    #   SSB = 2 * (2.2^2 + 0.7^2 + 0.2^2 + 1.3^2 + 1.8^2) = 20.6, MSB = 20.6 / 4 = 5.15
    #   SSW = 0.5 + 0.5 = 1.0, MSW = 1.0 / (5 * (2 - 1)) = 0.2
    #   ICC(1,1) = (MSB - MSW) / (MSB + (k - 1) MSW) = 4.95 / 5.35
    #   exact agreement: 3 of 5 sample pairs agree
    values = [(1, 1), (2, 3), (3, 3), (4, 5), (5, 5)]
    rows = [row(f"i{t}", GF, v, sample=s) for t, pair in enumerate(values) for s, v in enumerate(pair)]
    sc = self_consistency(rows)
    assert (sc["samples"], sc["n_prompts"]) == (2, 5)
    assert sc["exact_agreement"]["estimate"] == pytest.approx(0.6)
    assert sc["icc"]["estimate"] == pytest.approx(4.95 / 5.35, abs=1e-9)
    lo, hi = sc["icc"]["ci"]
    assert lo < 4.95 / 5.35 < hi and sc["icc"]["p_value"] < 0.05
    assert self_consistency(rows[::2]) is None  # one sample per prompt: nothing to compare


def test_constant_and_position_warnings_and_quiet_for_a_content_judge():
    always_a = [row(f"i{i}", o, 1) for i in range(20) for o in (GF, PF)]
    w = engine_warnings(position_check(always_a), None, raw_constancy(always_a))
    assert any(x.startswith("CONSTANT ANSWER: 100% of its 40 answers are 1 (Response A much better)") for x in w)
    assert any(x.startswith("POSITION BIAS: its verdict flips in 100%") for x in w)
    assert any("picks Response A (shown first) in 100%" for x in w)
    # always prefers the personalized answer, wherever it is shown: no position warning
    content = [row(f"i{i}", GF, 5) for i in range(20)] + [row(f"i{i}", PF, 1) for i in range(20)]
    pos = position_check(content)
    assert pos["flip_rate"]["estimate"] == 0 and pos["slot_a_preference"]["estimate"] == 0.5
    assert engine_warnings(pos, None, raw_constancy(content)) == []


def test_add_engine_checks_fills_called_and_leaves_imported_empty():
    imported = Judgment("i1", "imp", "imp", None, 0, 4.0, None, None, "imported")
    judges = {"j": {"warnings": ["existing"]}, "imp": {"warnings": []}}
    add_engine_checks(judges, HAND + [imported])
    assert judges["imp"]["position"] is None and judges["imp"]["cost"] is None
    j = judges["j"]
    assert j["position"]["n_pairs"] == 4 and j["self_consistency"] is None and j["cost"]["calls"] == 8
    assert j["warnings"][0] == "existing" and any(w.startswith("POSITION BIAS") for w in j["warnings"])


# --- the whole path, against the loopback server ------------------------------------------------


def _config(tmp_path, srv):
    path = tmp_path / "judges.toml"
    path.write_text(f'[judges.fake]\nmodel = "openai/fake-model"\napi_base = "{srv.base_url}"\n'
                    'api_key_env = "FAKE_JUDGE_KEY"\nconcurrency = 8\n', encoding="utf-8")
    return path


@covers("run --both-orders")
def test_run_both_orders_flags_a_judge_that_always_answers_A(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_JUDGE_KEY", "sk-test")
    with OpenAIServer(judge_responder(lambda text: 1, "Response A is better")) as srv:
        out = tmp_path / "out"
        res = CliRunner().invoke(cli, ["run", "--judges", "fake", "--config", str(_config(tmp_path, srv)),
                                       "--both-orders", "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert srv.count == 88  # 44 bundled example items x 2 orders
    assert "warning: CONSTANT ANSWER: 100% of its 88 answers are 1" in res.output
    assert "warning: POSITION BIAS: its verdict flips in 100%" in res.output
    assert "position: flip rate 100%" in res.output and "cost: 88 calls (0 cached, 0 failed)" in res.output
    j = json.loads((out / "results.json").read_text())["judges"]["fake"]
    assert j["position"]["flip_rate"]["estimate"] == 1.0 and j["position"]["n_pairs"] == 44
    assert j["position"]["slot_a_preference"]["estimate"] == 1.0 and j["position"]["slot_a_preference"]["p_value"] < 1e-6
    assert j["cost"]["cost_usd"] is None and j["cost"]["calls"] == 88  # not priced: null, not 0
    assert any(w.startswith("POSITION BIAS") for w in j["warnings"])
    assert "POSITION BIAS" in (out / "report.html").read_text()


@covers("run --samples", "run --temperature")
def test_run_samples_with_temperature_reports_self_consistency(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_JUDGE_KEY", "sk-test")
    rng = random.Random(3)
    with OpenAIServer(judge_responder(lambda text: rng.choice([3, 4, 4, 4, 5]))) as srv:
        out = tmp_path / "out"
        res = CliRunner().invoke(cli, ["run", "--judges", "fake", "--config", str(_config(tmp_path, srv)),
                                       "--samples", "3", "--temperature", "0.7", "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert srv.count == 44 * 3 and {r["temperature"] for r in srv.requests} == {0.7}
    sc = json.loads((out / "results.json").read_text())["judges"]["fake"]["self_consistency"]
    assert (sc["samples"], sc["n_prompts"]) == (3, 44)
    assert 0 < sc["exact_agreement"]["estimate"] < 1 and sc["exact_agreement"]["ci"] is not None
    assert "self-consistency over 3 samples" in res.output


@pytest.mark.slow
def test_local_demo_judge_is_caught(tmp_path, local_judge_cache):
    """The embedded SmolLM2 judge is nearly constant: the audit must flag it loudly."""
    from conftest import require_local_judge

    require_local_judge()
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["run", "--both-orders", "--out", str(out), "--cache-dir", str(local_judge_cache)])
    assert res.exit_code == 0, res.output
    j = json.loads((out / "results.json").read_text())["judges"]["local"]
    flagged = [w for w in j["warnings"] if w.startswith(("CONSTANT ANSWER", "POSITION BIAS", "nearly constant"))]
    assert flagged, j["warnings"]
