"""Options of `plan`, `simulate`, `study`, `relevance` and `counterfactual` that no other test
exercises, each checked by its effect: against an independent computation (plan), against the
written data (simulate), or at a loopback provider (tests/openai_server.py) counting calls.

All data here is SYNTHETIC or hand-written TEST DATA (labels, not real people or models).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from scipy import stats

from audit.data.items import load_items
from cli_coverage import covers
from openai_server import OpenAIServer
from test_cli_run_options import _key, config, invoke  # noqa: F401 (_key: the API-key fixture)

# --- plan: every design option moves n as an independent noncentral-t computation says -----------

def paired_power(d: float, n: int, alpha: float) -> float:
    """Power of the two-sided one-sample t-test (Cohen 1988, ch. 2): T ~ noncentral t(n - 1, d sqrt(n))."""
    df, crit = n - 1, stats.t.ppf(1 - alpha / 2, n - 1)
    nc = d * math.sqrt(n)
    return stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)


def two_sample_power(d: float, n1: int, n2: int, alpha: float) -> float:
    """Student two-sample t: T ~ noncentral t(n1 + n2 - 2, d sqrt(n1 n2 / (n1 + n2)))."""
    df = n1 + n2 - 2
    crit, nc = stats.t.ppf(1 - alpha / 2, df), d * math.sqrt(n1 * n2 / (n1 + n2))
    return stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)


def expected_units(metric="inflation", effect=0.3, sd=1.0, power=0.8, alpha=0.05, icc=0.0, m=1, raters=1,
                   rater_sd=0.0, share=0.5) -> int:
    """Smallest number of analysis units (items, or cluster means) reaching ``power``, by linear search.
    The unit's SD (the noise model of audit.stats.power, derived there): sqrt(icc sd^2 + ((1 - icc) sd^2
    + rater_sd^2 / raters) / m)."""
    unit_sd = math.sqrt(icc * sd**2 + ((1 - icc) * sd**2 + rater_sd**2 / raters) / m)
    d = effect / unit_sd
    for n in range(4, 100_000):
        if metric == "inflation":
            if paired_power(d, n, alpha) >= power:
                return n
        else:
            n1 = min(max(2, round(share * n)), n - 2)
            if two_sample_power(d, n1, n - n1, alpha) >= power:
                return n
    raise AssertionError("not found")


def plan_json(*args):
    r = invoke("plan", "--effect", "0.3", "--sd", "1", "--simulations", "0", "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


@pytest.mark.parametrize("args, design", [
    ([], {}),
    (["--power", "0.9"], {"power": 0.9}),
    (["--alpha", "0.01"], {"alpha": 0.01}),
    (["--icc", "0.2", "--cluster-size", "4"], {"icc": 0.2, "m": 4}),
    (["--raters", "3", "--rater-sd", "0.9"], {"raters": 3, "rater_sd": 0.9}),
    (["--rater-sd", "0.9"], {"rater_sd": 0.9}),
    (["--metric", "mention-delta", "--mention-share", "0.3"], {"metric": "mention-delta", "share": 0.3}),
])
@covers("plan --power", "plan --alpha", "plan --icc", "plan --cluster-size", "plan --raters", "plan --rater-sd",
        "plan --mention-share")
def test_plan_options_change_n_as_the_noncentral_t_says(args, design):
    out = plan_json(*args)
    units = expected_units(**design)
    assert out["n_clusters"] == units
    assert out["n_items"] == units * design.get("m", 1)
    if args:  # and the option really moved the answer away from the default design's 90 items
        assert out["n_items"] != plan_json()["n_items"] == 90


@covers("plan --seed")
def test_plan_seed_repeats_or_changes_the_simulation():
    def sim(seed):
        r = invoke("plan", "--effect", "0.3", "--sd", "1", "--simulations", "400", "--json", "--seed", seed)
        assert r.exit_code == 0, r.output
        return json.loads(r.output)["simulation"]

    a, b, c = sim(1), sim(1), sim(2)
    assert a == b and a["seed"] == 1
    assert c["seed"] == 2 and c["power"] != a["power"]
    assert abs(a["power"] - 0.80) < 4 * a["mc_se"]  # about the planned power


# --- simulate: each option is visible in the written data --------------------------------------

def simulate(tmp_path, name, *args):
    out = tmp_path / f"{name}.jsonl"
    r = invoke("simulate", "--out", out, "--judges", "a,b", "--inflation", "0,0", "--mention-bias", "0,0",
               "--position-bias", "0,0", *args)
    assert r.exit_code == 0, r.output
    header = {line.split(":", 1)[0][2:]: line.split(":", 1)[1] for line in out.read_text().splitlines()
              if line.startswith("# params:") or line.startswith("# truth:")}
    return out, load_items(out).items, json.loads(header["params"]), json.loads(header["truth"])


def mean(xs):
    return float(np.mean(xs))


@covers("simulate --users", "simulate --raters-per-item", "simulate --seed")
def test_simulate_users_raters_and_seed(tmp_path):
    path, items, params, _ = simulate(tmp_path, "s", "--items", "40", "--users", "8", "--annotators", "5",
                                      "--raters-per-item", "2", "--seed", "4")
    assert len({it.user_id for it in items}) == 8 and params["n_users"] == 8
    assert {len(it.human_ratings) for it in items} == {2}
    again, *_ = simulate(tmp_path, "t", "--items", "40", "--users", "8", "--annotators", "5",
                         "--raters-per-item", "2", "--seed", "4")
    other, *_ = simulate(tmp_path, "u", "--items", "40", "--users", "8", "--annotators", "5",
                         "--raters-per-item", "2", "--seed", "5")
    assert again.read_bytes() == path.read_bytes() and other.read_bytes() != path.read_bytes()


def human_mean(it):
    return mean([r.rating for r in it.human_ratings])


def mention_delta(items, rating):
    yes = [rating(it) for it in items if it.mention]
    no = [rating(it) for it in items if not it.mention]
    return mean(yes) - mean(no)


@covers("simulate --mention-rate", "simulate --human-mention-effect", "simulate --mention-bias")
def test_simulate_mention_rate_human_effect_and_judge_bias(tmp_path):
    _, items, _, truth = simulate(tmp_path, "m", "--items", "3000", "--mention-rate", "0.25",
                                  "--human-mention-effect", "0.8", "--mention-bias", "0.6,0", "--seed", "1")
    share = mean([it.mention for it in items])
    assert share == truth["mention_share"] and abs(share - 0.25) < 0.03
    humans = mention_delta(items, human_mean)  # the data's own human mention delta, computed here
    assert abs(humans - truth["humans"]["mention_delta"]) < 0.12 and humans > 0.5
    judge = {name: mention_delta(items, lambda it: next(j.rating for j in it.judge_ratings if j.judge == name))
             for name in ("a", "b")}
    # judge a adds 0.6 to the humans' mention effect, judge b nothing (before 1-5 clipping)
    assert abs((judge["a"] - humans) - truth["judges"]["a"]["excess_mention_uplift"]) < 0.12
    assert judge["a"] - humans > 0.3 and abs(judge["b"] - humans) < 0.15


@covers("simulate --position-bias", "simulate --judge-noise", "simulate --noise")
def test_simulate_position_bias_and_noises(tmp_path):
    def verdicts(items, name):
        out = {}
        for it in items:
            for v in it.meta["judge_verdicts"]:
                if v["judge"] == name:
                    out.setdefault(it.id, {})[v["order"]] = v["rating"]
        return out

    _, items, _, truth = simulate(tmp_path, "p", "--items", "2000", "--position-bias", "0.8,0", "--seed", "2")
    shift = {n: mean([o["personalized_first"] - o["generic_first"] for o in verdicts(items, n).values()]) for n in "ab"}
    assert abs(shift["a"] - truth["judges"]["a"]["position_shift"]) < 0.1 and shift["a"] > 0.5
    # verdicts are rounded stochastically (audit.stats.simulate), so even a noiseless judge's two orders
    # can differ by rounding; judge noise makes them differ far more often
    def disagree(items, name):
        return mean([o["generic_first"] != o["personalized_first"] for o in verdicts(items, name).values()])

    _, quiet, *_ = simulate(tmp_path, "q", "--items", "1000", "--judge-noise", "0", "--seed", "2")
    _, loud, *_ = simulate(tmp_path, "l", "--items", "1000", "--judge-noise", "1.5", "--seed", "2")
    assert disagree(loud, "b") > disagree(quiet, "b") + 0.2
    # --noise: the annotators of an item disagree more often with more annotator noise
    def split(items):
        return mean([len({r.rating for r in it.human_ratings}) > 1 for it in items])

    _, calm, *_ = simulate(tmp_path, "n", "--items", "1000", "--noise", "0", "--seed", "2")
    _, wild, *_ = simulate(tmp_path, "w", "--items", "1000", "--noise", "1.5", "--seed", "2")
    assert split(wild) > split(calm) + 0.2


# --- study: --scale, --exclude-system, --seed, --cache-dir -----------------------------------------

def absolute_study(path, top=7):
    rows = []
    for i in range(12):
        h = 1 + (i * 5) % top
        rows.append({"id": f"s{i:02d}", "cluster": f"doc-{i}", "system": "sys-x" if i < 4 else "sys-y",
                     "human_ratings": [{"annotator": "annotator-A", "criterion": "clarity", "rating": h},
                                       {"annotator": "annotator-B", "criterion": "clarity", "rating": max(1, h - 1)}],
                     "judge_ratings": [{"judge": "style-judge", "criterion": "clarity", "rating": min(top, h + i % 2)}]})
    path.write_text("# hand-written synthetic absolute study (labels, not people or models)\n"
                    + "\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@covers("study --scale", "study --exclude-system", "study --seed")
def test_study_scale_exclude_system_and_seed(tmp_path):
    data = absolute_study(tmp_path / "a.jsonl")
    narrow = invoke("study", "--form", "absolute", "--data", data, "--out", tmp_path / "o0")
    assert narrow.exit_code == 2 and "1-5" in narrow.stderr and "rating" in narrow.stderr
    ok = invoke("study", "--form", "absolute", "--data", data, "--scale", "1-7", "--out", tmp_path / "o1")
    assert ok.exit_code == 0, ok.output
    full = json.loads((tmp_path / "o1" / "results.json").read_text())
    assert full["n_items"] == 12
    cut = invoke("study", "--form", "absolute", "--data", data, "--scale", "1-7", "--exclude-system", "sys-x",
                 "--out", tmp_path / "o2")
    assert cut.exit_code == 0, cut.output
    res = json.loads((tmp_path / "o2" / "results.json").read_text())
    assert res["n_items"] == 8
    seeded = invoke("study", "--form", "absolute", "--data", data, "--scale", "1-7", "--seed", "3",
                    "--out", tmp_path / "o3")
    assert seeded.exit_code == 0
    other = json.loads((tmp_path / "o3" / "results.json").read_text())
    assert other["audit_card"]["seed"] == 3 and full["audit_card"]["seed"] == 0
    ci = lambda r: r["judges"]["style-judge"]["criteria"]["clarity"]["kendall"]["ci"]  # noqa: E731
    est = lambda r: r["judges"]["style-judge"]["criteria"]["clarity"]["kendall"]["estimate"]  # noqa: E731
    assert est(other) == est(full) and ci(other) != ci(full)  # the seed moves only the bootstrap


@covers("study --cache-dir")
def test_study_cache_dir(tmp_path):
    from test_study_calls import sharp, write_study

    data = write_study(tmp_path / "p.jsonl")
    with OpenAIServer(sharp, mode="json") as srv:
        cfg = config(tmp_path, srv, "sharp", mode="json")
        args = ["study", "--form", "pairwise", "--data", data, "--judges", "sharp", "--config", cfg]
        assert invoke(*args, "--cache-dir", tmp_path / "c1", "--out", tmp_path / "o1").exit_code == 0
        assert srv.count == 12 and any((tmp_path / "c1").iterdir())
        assert invoke(*args, "--cache-dir", tmp_path / "c1", "--out", tmp_path / "o2").exit_code == 0
        assert srv.count == 12  # the same cache: nothing paid again
        assert invoke(*args, "--cache-dir", tmp_path / "c2", "--out", tmp_path / "o3").exit_code == 0
        assert srv.count == 24  # another cache: paid again


# --- relevance: the default baselines, --seed, --cache-dir ---------------------------------------

@covers("relevance", "relevance --seed")
def test_relevance_default_baselines_and_seed(tmp_path):
    r0 = invoke("relevance", "--out", tmp_path / "o0")
    assert r0.exit_code == 0, r0.output
    base = json.loads((tmp_path / "o0" / "results.json").read_text())["relevance"]["baselines"]
    assert set(base) == {"bm25", "embedding"}  # the default: both no-LLM baselines
    assert base["bm25"]["available"] is True
    if not base["embedding"]["available"]:  # its extra is not part of the test install
        assert "pip install 'judge-audit-personalization[embed]'" in base["embedding"]["reason"]
    assert re.search(r"^baseline embedding: ", r0.output, re.M)
    r1 = invoke("relevance", "--seed", "1", "--baselines", "bm25", "--out", tmp_path / "o1")
    assert r1.exit_code == 0
    other = json.loads((tmp_path / "o1" / "results.json").read_text())["relevance"]["baselines"]["bm25"]
    # the seed draws which users calibrate the threshold: sha256('<seed>:' + user)
    assert base["bm25"]["split"]["rule"].startswith("users ordered by sha256('0:'")
    assert other["split"]["rule"].startswith("users ordered by sha256('1:'")


@covers("relevance --cache-dir")
def test_relevance_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("JA_REL_KEY", "sk-test")
    from test_relevance_cli import config as rel_config, write_data as rel_data, planted

    data = rel_data(tmp_path / "pairs.jsonl")
    with OpenAIServer(planted, mode="json") as srv:
        cfg = rel_config(tmp_path, srv.base_url, "json")
        args = ["relevance", "--data", data, "--judges", "planted", "--config", cfg, "--baselines", "none"]
        assert invoke(*args, "--cache-dir", tmp_path / "c1", "--out", tmp_path / "o1").exit_code == 0
        paid = srv.count
        assert paid > 0 and any((tmp_path / "c1").iterdir())
        assert invoke(*args, "--cache-dir", tmp_path / "c1", "--out", tmp_path / "o2").exit_code == 0
        assert srv.count == paid
        assert invoke(*args, "--cache-dir", tmp_path / "c2", "--out", tmp_path / "o3").exit_code == 0
        assert srv.count == 2 * paid


# --- counterfactual: --seed, --samples, --temperature, --cache-dir, --workers --------------------

@covers("counterfactual --samples", "counterfactual --temperature", "counterfactual --seed",
        "counterfactual --cache-dir", "counterfactual --workers")
@pytest.mark.slow  # worker processes / a big simulation
def test_counterfactual_samples_temperature_seed_cache_and_workers(tmp_path, monkeypatch):
    import audit.engine.pool as pool
    from test_counterfactual_cli import _subset, planted
    from openai_server import judge_responder

    started = []
    real = pool.WorkerPool
    monkeypatch.setattr(pool, "WorkerPool", lambda workers, *a, **k: started.append(workers) or real(workers, *a, **k))
    data = _subset(tmp_path, 6)
    with OpenAIServer(judge_responder(planted(1), roles=("user",)), mode="json_schema") as srv:
        cfg = config(tmp_path, srv, "namer")
        base = ["counterfactual", "--data", data, "--judges", "namer", "--config", cfg]
        one = invoke(*base, "--cache-dir", tmp_path / "c1", "--workers", "0", "--out", tmp_path / "o1")
        assert one.exit_code == 0, one.output
        calls = srv.count
        assert calls > 0 and started == []
        assert all("temperature" not in q for q in srv.requests)
        srv.reset_counts()
        two = invoke(*base, "--cache-dir", tmp_path / "c2", "--workers", "2", "--samples", "2", "--temperature", "0.7",
                     "--out", tmp_path / "o2")
        assert two.exit_code == 0, two.output
        assert started == [2]  # worker processes made the calls
        assert srv.count == 2 * calls and all(q["temperature"] == 0.7 for q in srv.requests)
        srv.reset_counts()
        again = invoke(*base, "--cache-dir", tmp_path / "c1", "--workers", "0", "--out", tmp_path / "o3")
        assert again.exit_code == 0 and srv.count == 0  # the first run's cache answers everything
        seeded = invoke(*base, "--cache-dir", tmp_path / "c1", "--workers", "0", "--seed", "5", "--out", tmp_path / "o4")
        assert seeded.exit_code == 0 and srv.count > 0  # another seed: other presentation orders / injections
    card = lambda out: json.loads((tmp_path / out / "results.json").read_text())["counterfactual"]["audit_card"]  # noqa: E731
    assert "|seed:0|" in card("o1")["signature"] and "|seed:5|" in card("o4")["signature"]
    assert card("o4")["seed"] == 5 and card("o2")["samples"] == 2
