"""``judge-audit drift`` (issue 17): runs made with the real `run` command against a judge on the
loopback OpenAI-compatible server whose programmed behaviour changes between runs, and whose answers
(the "system") change on some items. The planted shifts are recovered: the judge shift on anchors
within its CI, the share as documented, the fingerprint field that differs, the EWMA signal at the
planted change point, and runs made before fingerprints existed say so.

HAND-WRITTEN SYNTHETIC DATA: no real answers, people or models.
"""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest

from cli_coverage import covers
from openai_server import OpenAIServer, prompt_text
from test_cli_run_options import KEY, _key, config, invoke, preference  # noqa: F401 - _key: the API key fixture

N_ANCHOR, N_CHANGED = 40, 10
SHIFTED = {0} | {i for i in range(N_ANCHOR) if i % 3 == 1}  # 14 of the 40 anchors
assert len(SHIFTED) == 14  # the judge's planted shift on anchors: 14/40 = +0.35


def write_data(path, version: str):
    """50 items for 10 users; items 40-49 get a new personalized answer in version "b" (the system changed)."""
    with path.open("w") as fh:
        fh.write("# SYNTHETIC TEST DATA written by tests/test_drift.py: not real answers or people\n")
        for i in range(N_ANCHOR + N_CHANGED):
            new = version == "b" and i >= N_ANCHOR
            fh.write(json.dumps({
                "id": f"d{i:02d}", "user_id": f"u{i % 10}", "prompt": f"Question {i}: which bike should I buy?",
                "attributes": ["commutes by bike"], "generator": "style-test", "generic": f"GENERIC answer {i}.",
                "personalized": f"PERSONAL {'IMPROVED ' if new else ''}answer {i}.",
                "human_ratings": [{"annotator": "annotator-A", "rating": 4}]}) + "\n")
    return path


def item(request) -> int:
    return int(re.search(r"Question (\d+):", prompt_text(request, ("user",))).group(1))


def judge(shift_items: set[int], noise_seed: int | None = None):
    """Rates 3, +2 for an IMPROVED answer, +1 on ``shift_items``; ``noise_seed``: +/-1 on ~20% of items."""
    def respond(request):
        i = item(request)
        text = prompt_text(request, ("user",))
        r = 3 + (2 if "IMPROVED" in text else 0) + (1 if i in shift_items else 0)
        if noise_seed is not None:
            h = int(hashlib.sha256(f"{noise_seed}:{i}".encode()).hexdigest(), 16) % 10
            r += 1 if h == 0 else -1 if h == 1 else 0
        return preference(request, max(1, min(5, r)))
    return respond


class Judge:
    """One loopback server for every run (one endpoint, as a team's judge has), whose programmed
    behaviour the test switches between runs."""

    def __init__(self):
        self.responder = judge(set())
        self.srv = OpenAIServer(lambda request: self.responder(request), mode="json_schema").start()


@pytest.fixture(scope="module")
def server():
    j = Judge()
    yield j
    j.srv.stop()


def make_run(tmp_path, server, name, responder, data_version, *extra):
    server.responder = responder
    out = tmp_path / "runs" / name
    (tmp_path / name).mkdir(parents=True, exist_ok=True)
    r = invoke("run", "--data", write_data(tmp_path / name / "d.jsonl", data_version), "--judges", "judge-x",
               "--config", config(tmp_path / name, server.srv, "judge-x"), "--out", out,
               "--cache-dir", tmp_path / name / "cache", *extra, env={KEY: "sk-opts"})
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, server):
    tmp = tmp_path_factory.mktemp("drift")
    a = make_run(tmp, server, "a", judge(set()), "a")
    b = make_run(tmp, server, "b", judge(SHIFTED), "b", "--temperature", "0.7")
    return tmp, a, b


@covers("drift", "drift runs", "drift --out")
def test_decomposition_recovers_the_planted_shift(two_runs):
    tmp, a, b = two_runs
    out = tmp / "drift-out"
    r = invoke("drift", a, b, "--out", out)
    assert r.exit_code == 0, r.output
    d = json.loads((out / "drift.json").read_text())["judges"]["judge-x"]
    # by construction: anchors d00-d39 move +1 on 14 of 40 items; d40-d49 move +2 (better answers)
    assert d["judge_shift"]["n_anchors"] == 40 and d["judge_shift"]["estimate"] == pytest.approx(0.35)
    lo, hi = d["judge_shift"]["ci"]
    assert lo < 0.35 < hi and lo > 0
    assert d["total_change"]["n"] == 50 and d["total_change"]["estimate"] == pytest.approx((14 + 20) / 50)
    assert d["system_change"]["estimate"] == pytest.approx(0.68 - 0.35)
    assert d["judge_share"] == pytest.approx(0.35 / 0.68)
    # the fingerprint differs only in the temperature (params)
    assert d["fingerprint_diff"] == ["params"] and d["comparable"] is False
    assert d["fingerprints"]["a"]["params"].get("temperature") != 0.7 and d["fingerprints"]["b"]["params"]["temperature"] == 0.7
    assert d["fingerprints"]["b"]["served_models"] == ["judge-x"] and d["fingerprints"]["b"]["system_fingerprints"] == ["fp_test"]
    # people rated every item 4: the judge's inflation went from 3-4 = -1 to closer to 0
    assert d["people"]["inflation_change"]["estimate"] == pytest.approx(0.68)
    assert d["people"]["closer_to_people"] is True
    # flips: "same" (3) -> "personalized" (4 or 5) on the 14 shifted anchors and the 10 changed items
    assert d["flips"]["n_flipped"] == 24 and d["flips"]["n_flipped_anchors"] == 14
    assert "fingerprint differs: params" in r.output and "judge share    51% of the total change" in r.output
    page = (out / "drift.html").read_text()
    assert "Did the judge change?" in page and "params ≠" in page


def test_share_is_undefined_when_the_total_is_zero(tmp_path, two_runs):
    _, a, _ = two_runs
    out = tmp_path / "o"
    assert invoke("drift", a, a, "--out", out).exit_code == 0
    d = json.loads((out / "drift.json").read_text())["judges"]["judge-x"]
    assert d["judge_shift"]["estimate"] == 0 and d["judge_share"] is None and "within" in d["judge_share_reason"]
    assert d["fingerprint_diff"] == [] and d["comparable"] is True


def test_runs_without_fingerprints_say_so(tmp_path, two_runs):
    _, a, b = two_runs
    import shutil

    old = tmp_path / "old"
    shutil.copytree(a, old)
    res = json.loads((old / "results.json").read_text())
    del res["judges"]["judge-x"]["fingerprint"]
    del res["audit_card"]["fingerprints"]
    (old / "results.json").write_text(json.dumps(res))
    r = invoke("drift", old, b, "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    d = json.loads((tmp_path / "o" / "drift.json").read_text())["judges"]["judge-x"]
    assert d["fingerprint_diff"] is None and d["comparable"] is None
    assert "run A recorded no fingerprint" in d["fingerprint_note"] and "recorded no fingerprint" in r.output


@covers("drift --judge", "drift --chart", "drift --seed")
def test_series_flags_the_change_point(tmp_path, server):
    """Ten runs of the same judge with item noise (+/-1 on ~20% of the items, drawn per run); from run 7
    on it rates 30 of the 40 anchors one point higher (+0.75). The EWMA leaves its limits at run 7."""
    runs = [make_run(tmp_path, server, f"r{k}", judge({i for i in range(40) if i % 4} if k >= 7 else set(), noise_seed=k),
                     "a")
            for k in range(1, 11)]
    chart = tmp_path / "chart.html"
    r = invoke("drift", *runs, "--judge", "judge-x", "--chart", chart, "--out", tmp_path / "o", "--seed", "1")
    assert r.exit_code == 0, r.output
    d = json.loads((tmp_path / "o" / "drift.json").read_text())
    s = d["series"]["judge-x"]
    assert len(s["shifts"]) == 10 and s["shifts"][0] == 0
    assert all(abs(x) < 0.2 for x in s["shifts"][1:6]) and all(x > 0.5 for x in s["shifts"][6:])
    assert s["chart"]["first_outside"] == 6 and s["first_outside_run"] == str(runs[6])  # run 7
    assert s["chart"]["lambda"] == 0.2 and s["chart"]["L"] == 3.0
    pts = s["chart"]["points"]
    assert all(not p["outside"] for p in pts[:6])
    # the EWMA recursion, recomputed here
    z = 0.0
    for p, x in zip(pts, s["shifts"]):
        z = 0.2 * x + 0.8 * z
        assert p["ewma"] == pytest.approx(z)
    assert "first outside the limits: run 7" in r.output
    assert "EWMA chart of the judge shift of judge-x" in chart.read_text()
    assert d["settings"]["seed"] == 1


def test_fewer_than_two_runs_or_an_unknown_judge_is_a_usage_error(tmp_path, two_runs):
    _, a, b = two_runs
    assert invoke("drift", a).exit_code == 2
    r = invoke("drift", a, b, "--judge", "nobody", "--out", tmp_path / "o")
    assert r.exit_code == 2 and "judge 'nobody' is not in every run" in r.output
    r = invoke("drift", a, tmp_path / "missing", "--out", tmp_path / "o")
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_ewma_limits_by_hand():
    from audit.stats.drift import ewma_chart

    ch = ewma_chart([0.0, 0.1, -0.1, 0.6], [None, 0.1, 0.1, 0.1])
    w = [3 * 0.1 * np.sqrt(0.2 / 1.8 * (1 - 0.8 ** (2 * max(k, 1)))) for k in range(4)]
    assert [p["upper"] for p in ch["points"]] == pytest.approx(w)
    assert ch["first_outside"] == 3  # z3 = 0.2*0.6 + 0.8*(0.2*-0.1 + 0.8*0.02) = 0.1168 > w3


@covers("check --drift-from", "check --max-judge-shift", "check --require-same-fingerprint")
def test_gate_on_judge_shift_and_fingerprint(tmp_path, two_runs, server):
    """`check --drift-from RUN`: the same judge passes; the shifted judge fails max_judge_shift (its CI
    bound farthest from 0 is above 0.2); a changed temperature fails require_same_fingerprint, naming
    the field; a drift key without --drift-from is a usage error."""
    _, a, _ = two_runs
    data = write_data(tmp_path / "d.jsonl", "a")

    def check(name, responder, *extra, params=""):
        server.responder = responder
        cfg = config(tmp_path / name, server.srv, "judge-x") if (tmp_path / name).mkdir() is None else None
        if params:
            cfg.write_text(cfg.read_text() + params)
        return invoke("check", "--judge", "judge-x", "--data", data, "--config", cfg, "--out", tmp_path / name / "out",
                      "--cache-dir", tmp_path / name / "cache", "--json", tmp_path / name / "c.json", *extra,
                      env={KEY: "sk-opts"})

    same = check("same", judge(set()), "--drift-from", a, "--max-judge-shift", "0.2", "--require-same-fingerprint")
    assert same.exit_code == 0, same.output
    assert "PASS  max_judge_shift" in same.output and "PASS  require_same_fingerprint" in same.output
    res = json.loads((tmp_path / "same" / "out" / "results.json").read_text())
    assert res["drift"]["judges"]["judge-x"]["judge_shift"]["estimate"] == 0

    shifted = check("shifted", judge(SHIFTED), "--drift-from", a, "--max-judge-shift", "0.2")
    assert shifted.exit_code == 1, shifted.output
    c = next(c for c in json.loads((tmp_path / "shifted" / "c.json").read_text())["checks"] if c["name"] == "max_judge_shift")
    assert c["estimate"] == pytest.approx(14 / 50) and not c["passed"]  # all 50 items are anchors here; and c["bound"] == pytest.approx(max(map(abs, c["ci"])))

    warm = check("warm", judge(set()), "--drift-from", a, "--require-same-fingerprint",
                 params="params = { temperature = 0.5 }\n")
    assert warm.exit_code == 1, warm.output
    assert "FAIL  require_same_fingerprint" in warm.output and "in: params" in warm.output

    policy = tmp_path / "p.toml"
    policy.write_text("max_judge_shift = 0.2\nrequire_same_fingerprint = true\n")
    usage = check("usage", judge(set()), "--policy", policy)
    assert usage.exit_code == 2 and "give --drift-from RUN" in usage.output
    policy.write_text("require_same_fingerprint = 1\n")
    assert check("bad", judge(set()), "--policy", policy, "--drift-from", a).exit_code == 2


def test_imported_ratings_drift_too(tmp_path):
    """Runs of `judge-audit run` on data whose judge ratings were imported (no call): the judge's ratings
    move +1 on 5 of 20 items between the two exports, and the fingerprints (source and name only) match."""
    def data(path, shifted):
        with path.open("w") as fh:
            fh.write("# SYNTHETIC TEST DATA written by tests/test_drift.py: not real answers, people or models\n")
            for i in range(20):
                fh.write(json.dumps({
                    "id": f"m{i}", "user_id": f"u{i % 5}", "prompt": f"Question {i}?", "attributes": ["runs marathons"],
                    "generator": "style-test", "generic": f"generic {i}", "personalized": f"personal {i}",
                    "human_ratings": [{"annotator": "annotator-A", "rating": 3}],
                    "judge_ratings": [{"judge": "exported-judge", "rating": 3 + (shifted and i < 5)}]}) + "\n")
        return path

    runs = []
    for name, shifted in (("a", False), ("b", True)):
        out = tmp_path / name
        r = invoke("run", "--data", data(tmp_path / f"{name}.jsonl", shifted), "--out", out)
        assert r.exit_code == 0, r.output
        runs.append(out)
    r = invoke("drift", *runs, "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    d = json.loads((tmp_path / "o" / "drift.json").read_text())["judges"]["exported-judge"]
    assert d["judge_shift"]["estimate"] == pytest.approx(5 / 20) and d["judge_shift"]["n_anchors"] == 20
    assert d["fingerprint_diff"] == [] and d["fingerprints"]["a"]["source"] == "imported"
    assert d["flips"]["n_flipped"] == 5
