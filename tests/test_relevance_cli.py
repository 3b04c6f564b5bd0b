"""`judge-audit relevance` end to end: a planted judge over real HTTP (127.0.0.1), the cache, the
numbers in results.json against hand-computed values, the report, results.json merging, the gate
checks, and (slow) the embedded local judge.

The data is the hand-worked table of tests/test_relevance_measure.py. The planted judge says
"relevant" exactly when the attribute shares a word of 3+ letters with the prompt:

pair  attribute          prompt                     shared word   J   humans k/m   majority
p1    likes tea          Which tea should I buy?    tea           1   3/4          1
p2    plays chess        Which tea should I buy?    -             0   0/4          0
p3    vegetarian diet    Plan a diet for me         diet          1   2/4          tie -> 0
p4    owns a dog         How do I train a dog?      dog           1   4/4          1
p5    likes jazz         How do I train a dog?      -             0   1/4          0
p6    speaks French      Translate hello            -             0   1/3          0
p7    runs marathons     Plan my week               -             0   0/4          0
p8    lives in Paris     Best cafe in Paris?        paris         1   3/4          1
"""

import csv
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from audit.cli import cli
from openai_server import OpenAIServer, prompt_text
from cli_coverage import covers

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PAIRS = [
    ("p1", "u1", "likes tea", "Which tea should I buy?"),
    ("p2", "u1", "plays chess", "Which tea should I buy?"),
    ("p3", "u1", "vegetarian diet", "Plan a diet for me"),
    ("p4", "u2", "owns a dog", "How do I train a dog?"),
    ("p5", "u2", "likes jazz", "How do I train a dog?"),
    ("p6", "u2", "speaks French", "Translate hello"),
    ("p7", "u3", "runs marathons", "Plan my week"),
    ("p8", "u3", "lives in Paris", "Best cafe in Paris?"),
]
HUMANS = {
    "annotator-A": [1, 0, 1, 1, 0, 1, 0, 1],
    "annotator-B": [1, 0, 1, 1, 1, 0, 0, 1],
    "annotator-C": [1, 0, 0, 1, 0, 0, 0, 1],
    "annotator-D": [0, 0, 0, 1, 0, None, 0, 0],
}
REASON = "<img src=x onerror=alert(1)> they share a word"


def words(text):
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 3}


def planted(request):
    """relevant iff the attribute and the request share a word of 3+ letters."""
    text = prompt_text(request, roles=("user",))
    attr = re.search(r"<user_profile>\s*-\s*(.*?)\s*</user_profile>", text, re.S).group(1)
    prompt = re.search(r"<user_request>\s*(.*?)\s*</user_request>", text, re.S).group(1)
    shared = bool(words(attr) & words(prompt))
    return json.dumps({"relevant": shared, "reason": REASON if shared else "no shared word"})


def write_data(path, pairs=PAIRS, attribute_override=None):
    with path.open("w") as fh:
        for i, (pid, user, attr, prompt) in enumerate(pairs):
            labels = [{"annotator": a, "relevant": bool(v[i])} for a, v in HUMANS.items() if v[i] is not None]
            fh.write(json.dumps({"id": pid, "user_id": user, "attribute": attribute_override or attr, "prompt": prompt,
                                 "human_labels": labels}) + "\n")
    return path


def config(tmp_path, base_url, mode, key_env="JA_REL_KEY"):
    path = tmp_path / f"judges-{mode}.toml"
    path.write_text(f'[judges.planted]\nmodel = "openai/planted-relevance"\napi_base = "{base_url}"\n'
                    f'api_key_env = "{key_env}"\nmode = "{mode}"\nconcurrency = 4\nmax_retries = 1\ntimeout = 10\n')
    return path


def relevance(data, cfg, out, *extra):
    return CliRunner().invoke(cli, ["relevance", "--data", str(data), "--judges", "planted", "--config", str(cfg),
                                    "--out", str(out), "--baselines", "bm25", *extra])


@pytest.mark.parametrize("mode", ["json", "json_schema", "tools"])
@covers("relevance",
        "relevance --data",
        "relevance --judges",
        "relevance --config",
        "relevance --out",
        "relevance --baselines")
def test_planted_judge_numbers_and_cache(tmp_path, monkeypatch, mode):
    monkeypatch.setenv("JA_REL_KEY", "sk-test")
    data = write_data(tmp_path / "rel.jsonl")
    with OpenAIServer(planted, require_api_key="sk-test") as srv:
        cfg = config(tmp_path, srv.base_url, mode)
        result = relevance(data, cfg, tmp_path / "out")
        assert result.exit_code == 0, result.output
        assert srv.count == 8  # one call per pair
        rows = list(csv.DictReader((tmp_path / "out" / "relevance_judgments.csv").open()))
        assert [r["relevant"] for r in rows] == ["True", "False", "True", "True", "False", "False", "False", "True"]
        assert all(r["status"] == "ok" and r["cached"] == "False" for r in rows)

        rel = json.loads((tmp_path / "out" / "results.json").read_text())["relevance"]
        j = rel["judges"]["planted"]
        assert j["source"] == "called" and j["n_calls"] == 8 and j["n_failed"] == 0
        assert j["selection_rate"]["estimate"] == 0.5  # 4 of 8
        assert rel["humans"]["selection_rate"]["estimate"] == pytest.approx(14 / 31)  # 14 of 31 labels
        assert j["over_selection_ratio"]["estimate"] == pytest.approx(31 / 28)  # 0.5 / (14/31)
        # majority (ties -> not relevant): p1 p4 p8; J adds p3 -> tp 3 fp 1 fn 0
        assert j["confusion"] == {"tp": 3, "fp": 1, "fn": 0, "tn": 4}
        assert j["precision"]["estimate"] == pytest.approx(3 / 4)
        assert j["recall"]["estimate"] == 1.0
        assert j["f1"]["estimate"] == pytest.approx(6 / 7)
        assert rel["ties"] == {"rule": "irrelevant", "n_tied": 1, "description": rel["ties"]["description"]}
        ag = rel["agreement"]
        k = dict(zip(ag["raters"], ag["kappa_matrix"][ag["raters"].index("planted")]))
        assert k["annotator-A"] == pytest.approx(0.75)  # po 7/8, pe 1/2
        assert ag["raters"][:4] == list(HUMANS) and ag["groups"][-1] == "judge"
        assert rel["baselines"]["bm25"]["split"]["n_calibration_users"] == 1  # floor(3 / 2)

        # Second identical run: no request reaches the server, every label comes from the cache.
        again = relevance(data, cfg, tmp_path / "out2")
        assert again.exit_code == 0, again.output
        assert srv.count == 8
        rows2 = list(csv.DictReader((tmp_path / "out2" / "relevance_judgments.csv").open()))
        assert all(r["cached"] == "True" for r in rows2)
        rel2 = json.loads((tmp_path / "out2" / "results.json").read_text())["relevance"]
        assert rel2["judges"]["planted"]["f1"] == j["f1"]  # same numbers, same bootstrap (seeded)
        assert rel2["judges"]["planted"]["n_cached"] == 8


@covers("relevance --ties")
def test_ties_option_changes_the_majority(tmp_path, monkeypatch):
    monkeypatch.setenv("JA_REL_KEY", "sk-test")
    data = write_data(tmp_path / "rel.jsonl")
    with OpenAIServer(planted) as srv:
        result = relevance(data, config(tmp_path, srv.base_url, "json"), tmp_path / "out", "--ties", "exclude")
    assert result.exit_code == 0, result.output
    j = json.loads((tmp_path / "out" / "results.json").read_text())["relevance"]["judges"]["planted"]
    assert j["f1"]["estimate"] == 1.0 and j["f1"]["n"] == 7  # p3 left out: tp 3, fp 0, fn 0


def test_missing_key_is_exit_3_before_any_call(tmp_path, monkeypatch):
    monkeypatch.delenv("JA_REL_KEY", raising=False)
    data = write_data(tmp_path / "rel.jsonl")
    with OpenAIServer(planted) as srv:
        result = relevance(data, config(tmp_path, srv.base_url, "json"), tmp_path / "out")
        assert result.exit_code == 3
        assert "JA_REL_KEY" in result.output and srv.count == 0


def test_judge_failing_every_call_is_exit_3(tmp_path, monkeypatch):
    monkeypatch.setenv("JA_REL_KEY", "sk-test")
    data = write_data(tmp_path / "rel.jsonl")
    with OpenAIServer(planted, require_api_key="other-key") as srv:  # 401 on every request
        result = relevance(data, config(tmp_path, srv.base_url, "json"), tmp_path / "out")
    assert result.exit_code == 3, result.output
    assert "planted" in result.output and "unavailable" in result.output


def test_report_escapes_untrusted_text(tmp_path, monkeypatch):
    monkeypatch.setenv("JA_REL_KEY", "sk-test")
    data = write_data(tmp_path / "rel.jsonl", attribute_override='likes tea <script>alert("x")</script>')
    with OpenAIServer(planted) as srv:
        result = relevance(data, config(tmp_path, srv.base_url, "json"), tmp_path / "out")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / "relevance.html").read_text()
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "data:image/png;base64," in html  # heatmap / charts embedded, nothing fetched
    assert "Where judges disagree" in html


def test_bundled_example_imported_labels_and_merge_into_run_results(tmp_path):
    out = tmp_path / "out"
    first = CliRunner().invoke(cli, ["run", "--data", str(Path(__file__).resolve().parent.parent / "fixtures" / "example_imported.jsonl"), "--out", str(out)])
    assert first.exit_code == 0, first.output
    result = CliRunner().invoke(cli, ["relevance", "--out", str(out), "--baselines", "bm25"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert "judges" in doc and "humans" in doc  # the preference audit is kept
    rel = doc["relevance"]
    assert set(rel["judges"]) == {"style-broad", "style-moderate", "style-cautious"}
    assert all(j["source"] == "imported" and j["n_calls"] == 0 for j in rel["judges"].values())
    assert rel["n_pairs"] == 72 and rel["humans"]["n_annotators"] == 5
    # the design numbers stated in fixtures/README.md ("Relevance example")
    h = rel["humans"]
    assert (h["selection_rate"]["k"], h["n_labels"]) == (74, 324)
    assert h["n_majority_relevant"] == 11 and rel["ties"]["n_tied"] == 5
    # derived here from the fixture file alone: a judge's selection rate is its share of "relevant" labels
    # (38/72, 24/72, 21/72); the kappa means are unweighted means of scikit-learn's Cohen's kappa over
    # the rater pairs of each group, on the pairs both raters labelled
    from itertools import combinations

    from sklearn.metrics import cohen_kappa_score

    rows = [json.loads(line) for line in (FIXTURES / "relevance_example.jsonl").read_text().splitlines()
            if line.startswith("{")]
    labels: dict[str, dict[str, int]] = {}
    for row in rows:
        for lab in row["human_labels"]:
            labels.setdefault(lab["annotator"], {})[row["id"]] = int(lab["relevant"])
        for lab in row["judge_labels"]:
            labels.setdefault(lab["judge"], {})[row["id"]] = int(lab["relevant"])
    judges = ["style-broad", "style-moderate", "style-cautious"]
    for name in judges:
        assert rel["judges"][name]["selection_rate"]["estimate"] == pytest.approx(sum(labels[name].values()) / 72)
    assert [round(sum(labels[n].values()) / 72, 3) for n in judges] == [0.528, 0.333, 0.292]

    def kappa(a, b):
        common = sorted(set(labels[a]) & set(labels[b]))
        return cohen_kappa_score([labels[a][i] for i in common], [labels[b][i] for i in common], labels=[0, 1])

    humans = sorted(r for r in labels if r.startswith("annotator-"))
    groups = {"mean_within_humans": list(combinations(humans, 2)), "mean_within_judges": list(combinations(judges, 2)),
              "mean_human_judge": [(h, j) for h in humans for j in judges]}
    ag = rel["agreement"]
    for key, pairs in groups.items():
        assert ag[key]["estimate"] == pytest.approx(np.mean([kappa(a, b) for a, b in pairs]))
    assert [round(ag[k]["estimate"], 2) for k in groups] == [0.43, 0.63, 0.34]
    assert (out / "report.html").exists() and (out / "relevance.html").exists()
    assert "style-broad: selection" in result.output and "kappa: within humans" in result.output
    # a non-JSON results.json is not overwritten
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.json").write_text("not json")
    again = CliRunner().invoke(cli, ["relevance", "--out", str(bad), "--baselines", "none"])
    assert again.exit_code == 2 and "not a judge-audit results.json" in again.output
    assert (bad / "results.json").read_text() == "not json"


def test_relevance_checks_on_ci_bounds():
    from audit.gate.checks import relevance_checks

    section = {"judges": {"j": {
        "over_selection_ratio": {"estimate": 2.0, "ci": [1.5, 2.5], "n": 40, "method": "m"},
        "f1": {"estimate": 0.5, "ci": [0.3, 0.7], "n": 40, "method": "m"}}}}
    by = lambda checks: {c.name: c for c in checks}  # noqa: E731
    ok = by(relevance_checks({"relevance": section}, {"max_over_selection_ratio": 2.5, "min_relevance_f1": 0.3}))
    assert ok["max_over_selection_ratio"].passed and ok["max_over_selection_ratio"].bound == 2.5  # upper bound
    assert ok["min_relevance_f1"].passed and ok["min_relevance_f1"].bound == 0.3  # lower bound
    bad = by(relevance_checks(section, SimpleNamespace(max_over_selection_ratio=2.2, min_relevance_f1=0.35)))
    assert not bad["max_over_selection_ratio"].passed and "> limit 2.2" in bad["max_over_selection_ratio"].detail
    assert not bad["min_relevance_f1"].passed and "< limit 0.35" in bad["min_relevance_f1"].detail
    # the point estimate alone never passes
    section["judges"]["j"]["f1"] = {"estimate": 0.9, "ci": None, "reason": "only 2 users: no interval"}
    (c,) = relevance_checks(section, {"min_relevance_f1": 0.1})
    assert not c.passed and "only 2 users" in c.detail
    assert relevance_checks(section, {}) == []  # nothing gated


@pytest.mark.slow
def test_local_judge_end_to_end(tmp_path):
    from conftest import require_local_judge

    require_local_judge()
    data = write_data(tmp_path / "rel.jsonl", PAIRS[:3])
    args = ["relevance", "--data", str(data), "--out", str(tmp_path / "out"), "--baselines", "none"]
    result = CliRunner().invoke(cli, args)  # no --judges and no imported labels: the local judge
    assert result.exit_code == 0, result.output
    rel = json.loads((tmp_path / "out" / "results.json").read_text())["relevance"]
    local = rel["judges"]["local"]
    assert local["model"] == "local-gguf/smollm2-135m-instruct" and local["n_calls"] == 3
    assert local["n_pairs_labelled"] + local["n_failed"] == 3 and local["n_pairs_labelled"] >= 1
    rows = list(csv.DictReader((tmp_path / "out" / "relevance_judgments.csv").open()))
    assert all(r["status"] == "failed" or (r["relevant"] in ("True", "False") and r["reason"]) for r in rows)
    again = CliRunner().invoke(cli, args[:-4] + ["--out", str(tmp_path / "out2"), "--baselines", "none"])
    assert again.exit_code == 0, again.output
    rows2 = list(csv.DictReader((tmp_path / "out2" / "relevance_judgments.csv").open()))
    assert [r["cached"] for r in rows2 if r["status"] == "ok"] == ["True"] * local["n_pairs_labelled"]
