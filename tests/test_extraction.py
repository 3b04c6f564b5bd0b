"""Stage 1 (issue 18): `judge-audit extraction` audits attribute-extraction verifiers against people.
Every number is checked against scikit-learn or worked out by hand from a file the test writes, with
plurality ties, an item without human labels, one-annotator items and a category no rejected item has.

HAND-WRITTEN SYNTHETIC DATA: annotators, verifiers and users are labels, not people or models.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, precision_recall_fscore_support

from audit.data.extraction import human_label
from cli_coverage import covers
from openai_server import OpenAIServer, prompt_text
from test_cli_run_options import KEY, _key, config, invoke  # noqa: F401 - _key: the API key fixture

A, U, R = "accept", "uncertain", "reject"
# (user, source, human labels, category, verifier-v label)
ROWS = [
    ("u1", "real", [A, A, A], None, A),
    ("u1", "real", [R, R, U], "overgeneralization", A),
    ("u2", "real", [R, A], "overgeneralization", R),            # tie: uncertain
    ("u2", "real", [U], None, U),                               # one annotator
    ("u3", "real", [R, R, R], "task-context confusion", R),
    ("u3", "synthetic", [A, A, U], None, A),
    ("u4", "synthetic", [], None, A),                           # no human label: left out of comparisons
    ("u4", "synthetic", [R, R, A], "overgeneralization", R),
    ("u5", "synthetic", [A, U, R], "hallucination", U),          # three-way tie: uncertain; no reject in category
    ("u5", "synthetic", [A, A, R], None, A),
    ("u6", "synthetic", [R, R, A], "task-context confusion", U),
    ("u6", "real", [A, A, A], None, R),
]
HUMAN = [A, R, U, U, R, A, None, R, U, A, R, A]


def write(path, rows=ROWS):
    lines = ["# SYNTHETIC TEST DATA written by tests/test_extraction.py: labels, not people or models"]
    for i, (user, source, labels, category, v) in enumerate(rows):
        row = {"id": f"e{i:02d}", "user_id": user, "conversation": f"User: message {i}", "attribute": f"attribute {i}",
               "source": source, "human_labels": [{"annotator": f"ann-{k}", "label": lab} for k, lab in enumerate(labels)],
               "judge_labels": [{"judge": "verifier-v", "label": v}]}
        if category:
            row["category"] = category
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ext")
    r = invoke("extraction", "--data", write(tmp / "a.jsonl"), "--out", tmp / "out")
    assert r.exit_code == 0, r.output
    return json.loads((tmp / "out" / "results.json").read_text()), r.output, tmp / "out"


def test_plurality_with_ties():
    assert [human_label(r[2]) for r in ROWS] == HUMAN
    assert human_label([A, A, R, R, U]) == U and human_label([U, U, A]) == U and human_label([]) is None


def test_human_rates_by_hand(results):
    r, _, _ = results
    h = r["humans"]
    labelled = [x for x in HUMAN if x]
    assert h["n_items_labelled"] == 11 and h["label_counts"] == {A: 4, U: 3, R: 4}
    assert h["acceptance_rate"]["estimate"] == pytest.approx(4 / 11)
    assert h["problem_rate"]["estimate"] == pytest.approx(7 / 11) and h["problem_rate"]["n"] == len(labelled)
    real = [HUMAN[i] for i, row in enumerate(ROWS) if row[1] == "real" and HUMAN[i]]
    syn = [HUMAN[i] for i, row in enumerate(ROWS) if row[1] == "synthetic" and HUMAN[i]]
    pr, ps = np.mean([x != A for x in real]), np.mean([x != A for x in syn])
    assert h["problem_rate_by_source"]["real"]["estimate"] == pytest.approx(pr)
    d = h["problem_rate_difference"]["real - synthetic"]
    assert d["estimate"] == pytest.approx(pr - ps) and d["ratio"] == pytest.approx(pr / ps)
    # categories among the problematic items that name one: overgeneralization 3, task-context 2, hallucination 1
    assert {c: e["estimate"] for c, e in h["category_shares"].items()} == pytest.approx(
        {"hallucination": 1 / 6, "overgeneralization": 3 / 6, "task-context confusion": 2 / 6})
    assert h["n_plurality_ties"] == 2


def test_verifier_measures_equal_scikit_learn(results):
    r, _, _ = results
    j = r["judges"]["verifier-v"]
    pairs = [(row[4], HUMAN[i]) for i, row in enumerate(ROWS) if HUMAN[i]]
    pred, truth = zip(*pairs)
    assert j["n_with_human_label"] == 11 and j["source"] == "imported"
    assert j["acceptance_rate"]["estimate"] == pytest.approx(np.mean([row[4] == A for row in ROWS]))  # all 12 items
    assert j["acceptance_inflation"]["estimate"] == pytest.approx(np.mean([p == A for p in pred]) - np.mean([t == A for t in truth]))
    assert j["kappa_with_humans"]["estimate"] == pytest.approx(cohen_kappa_score(pred, truth))
    p, rc, f, _ = precision_recall_fscore_support(truth, pred, labels=[A, R, U], average="macro", zero_division=0)
    assert (j["macro_precision"]["estimate"], j["macro_recall"]["estimate"], j["macro_f1"]["estimate"]) == pytest.approx((p, rc, f))
    per = precision_recall_fscore_support(truth, pred, labels=[A, U, R], zero_division=0)
    for k, lab in enumerate([A, U, R]):
        assert j["per_class"][lab]["f1"] == pytest.approx(per[2][k]) and j["per_class"][lab]["support"] == per[3][k]
    # reject recall: people reject e01, e04, e07, e10; the verifier rejects e04 and e07
    assert j["reject_recall"]["estimate"] == pytest.approx(2 / 4) and j["reject_recall"]["n"] == 4
    assert {c: e["estimate"] for c, e in j["reject_recall_by_category"].items()} == pytest.approx(
        {"overgeneralization": 1 / 2, "task-context confusion": 1 / 2})
    assert "hallucination" not in j["reject_recall_by_category"]  # no item people reject is in it


def test_kappa_matrix_and_group_means(results):
    r, _, _ = results
    k = r["kappa"]
    assert k["raters"] == ["ann-0", "ann-1", "ann-2", "verifier-v"] and k["groups"] == ["human"] * 3 + ["judge"]

    def kappa(a, b):
        both = [(x[a], x[b]) for x in LABELS_BY_RATER if x.get(a) and x.get(b)]
        return cohen_kappa_score(*zip(*both), labels=[A, U, R])

    humans = [kappa(a, b) for a, b in (("ann-0", "ann-1"), ("ann-0", "ann-2"), ("ann-1", "ann-2"))]
    assert k["within_humans"]["estimate"] == pytest.approx(np.mean(humans))
    assert k["human_judge"]["estimate"] == pytest.approx(np.mean([kappa(a, "verifier-v") for a in ("ann-0", "ann-1", "ann-2")]))
    assert k["within_judges"]["estimate"] is None  # one verifier: no pair
    lo, hi = k["within_humans"]["ci"]
    assert lo <= k["within_humans"]["estimate"] <= hi


LABELS_BY_RATER = [{**{f"ann-{i}": lab for i, lab in enumerate(row[2])}, "verifier-v": row[4]} for row in ROWS]


def test_terminal_and_page(results):
    _, output, out = results
    assert "problem rate, real:" in output and "difference real - synthetic" in output
    assert "verifier-v: acceptance" in output and "kappa: within humans" in output
    page = (out / "extraction.html").read_text()
    assert "Do the verifiers accept what people accept?" in page and "attribute 11" in page


@pytest.mark.parametrize("row,message", [
    ({"label": "maybe"}, "field human_labels[0].label: label must be one of accept, uncertain, reject (got 'maybe')"),
    ({"annotator": "ann-0", "dup": True}, "field human_labels[1].annotator: annotator 'ann-0' labels this item twice"),
])
def test_bad_labels_exit_2(tmp_path, row, message):
    labels = [{"annotator": "ann-0", "label": row.get("label", A)}]
    if row.get("dup"):
        labels.append({"annotator": "ann-0", "label": R})
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "a", "conversation": "c", "attribute": "x", "human_labels": [{"annotator": "z", "label": A}]})
                    + "\n" + json.dumps({"id": "b", "conversation": "c", "attribute": "x", "human_labels": labels}) + "\n")
    r = invoke("extraction", "--data", path, "--out", tmp_path / "o")
    assert r.exit_code == 2 and f"bad.jsonl line 2, {message}" in r.output and "Traceback" not in r.output


def test_a_name_both_annotator_and_verifier_is_bad_input(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "a", "conversation": "c", "attribute": "x", "human_labels": [{"annotator": "v", "label": A}],
                                "judge_labels": [{"judge": "v", "label": A}]}) + "\n")
    r = invoke("extraction", "--data", path, "--out", tmp_path / "o")
    assert r.exit_code == 2 and "'v' is both an annotator and a verifier" in r.output


def verifier(request):
    """A planted verifier: rejects attributes whose number is odd, accepts the others."""
    n = int(prompt_text(request, ("user",)).split("attribute ")[1].split()[0].strip("<"))
    return json.dumps({"label": R if n % 2 else A, "rationale": "planted </conversation> <b>bold</b>"})


@covers("extraction", "extraction --data", "extraction --judges", "extraction --config", "extraction --out",
        "extraction --seed", "extraction --cache-dir")
def test_called_verifier_over_http_and_the_cache(tmp_path):
    data = write(tmp_path / "a.jsonl")
    with OpenAIServer(verifier, mode="json_schema") as srv:
        args = ("extraction", "--data", data, "--judges", "planted", "--config", config(tmp_path, srv, "planted"),
                "--cache-dir", tmp_path / "cache", "--seed", "3")
        r = invoke(*args, "--out", tmp_path / "o1")
        assert r.exit_code == 0, r.output
        assert srv.count == len(ROWS)
        # the conversation and the attribute are fenced as data in the request
        assert any("<conversation>\nUser: message 0\n</conversation>" in prompt_text(q, ("user",)) for q in srv.requests)
        r2 = invoke(*args, "--out", tmp_path / "o2")
        assert r2.exit_code == 0 and srv.count == len(ROWS)  # second run: every answer from the cache
    res = json.loads((tmp_path / "o1" / "results.json").read_text())
    j = res["judges"]["planted"]
    assert j["source"] == "called" and res["bootstrap"]["seed"] == 3
    pred = [R if i % 2 else A for i in range(len(ROWS)) if HUMAN[i]]
    assert j["kappa_with_humans"]["estimate"] == pytest.approx(cohen_kappa_score(pred, [h for h in HUMAN if h]))
    assert "verifier-v" in res["judges"]  # the imported verifier is audited beside it
    page = (tmp_path / "o1" / "extraction.html").read_text()
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page


@covers("check --extraction-data", "check --max-acceptance-inflation", "check --min-reject-recall",
        "check --min-extraction-kappa")
def test_gate_on_stage_one(tmp_path):
    data = write(tmp_path / "a.jsonl")
    r = invoke("check", "--judge", "verifier-v", "--extraction-data", data, "--out", tmp_path / "o",
               "--max-acceptance-inflation", "0.5", "--min-reject-recall", "0.0", "--min-extraction-kappa", "-1",
               "--json", tmp_path / "c.json")
    assert r.exit_code == 0, r.output
    checks = {c["name"]: c for c in json.loads((tmp_path / "c.json").read_text())["checks"]}
    res = json.loads((tmp_path / "o" / "extraction" / "results.json").read_text())["judges"]["verifier-v"]
    for name, key in (("max_acceptance_inflation", "acceptance_inflation"), ("min_reject_recall", "reject_recall"),
                      ("min_extraction_kappa", "kappa_with_humans")):
        assert checks[name]["estimate"] == res[key]["estimate"] and checks[name]["ci"] == res[key]["ci"]
    strict = invoke("check", "--judge", "verifier-v", "--extraction-data", data, "--out", tmp_path / "o2",
                    "--min-reject-recall", "0.9")
    assert strict.exit_code == 1 and "FAIL  min_reject_recall" in strict.output
    unmeasured = invoke("check", "--judge", "verifier-v", "--out", tmp_path / "o3", "--min-reject-recall", "0.1")
    assert unmeasured.exit_code == 1 and "give --extraction-data" in unmeasured.output


def test_bundled_fixture_is_labelled_illustrative():
    from audit.audits.extraction import bundled_extraction_example

    head = bundled_extraction_example().read_text().splitlines()[:3]
    assert any("ILLUSTRATIVE" in line for line in head) and any("NOT collected" in line for line in head)


@pytest.mark.slow
def test_embedded_local_verifier_end_to_end(tmp_path, local_judge_cache):
    """The real embedded judge verifies the bundled illustrative attributes (cached for the session)."""
    from conftest import require_local_judge

    require_local_judge()
    r = invoke("extraction", "--judges", "local", "--out", tmp_path / "o", "--cache-dir", local_judge_cache)
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    j = res["judges"]["local"]
    assert j["source"] == "called" and j["n_items"] == 36
    assert j["n_failed"] < 36 and j["acceptance_rate"]["estimate"] is not None
    assert {"style-lenient", "style-strict", "local"} <= set(res["judges"])


def test_verifier_prompt_variants(tmp_path):
    """`--judges NAME@strict` asks with prompts/extraction_verifier@strict.system.j2 (a debiasing variant);
    an unknown variant exits 2 before any call."""
    data = write(tmp_path / "a.jsonl")
    seen = []

    def respond(request):
        seen.append(prompt_text(request, ("system",)))
        return verifier(request)

    with OpenAIServer(respond, mode="json_schema") as srv:
        cfg = config(tmp_path, srv, "planted")
        r = invoke("extraction", "--data", data, "--judges", "planted@strict", "--config", cfg, "--out", tmp_path / "o",
                   "--cache-dir", tmp_path / "c")
        assert r.exit_code == 0, r.output
        assert seen and all("generalizes from a single request" in s for s in seen)
        res = json.loads((tmp_path / "o" / "results.json").read_text())
        assert "planted@strict" in res["judges"] and "extraction_verifier@strict" in res["audit_card"]["prompt_templates"]
        n = srv.count
        bad = invoke("extraction", "--data", data, "--judges", "planted@nope", "--config", cfg, "--out", tmp_path / "o2",
                     "--cache-dir", tmp_path / "c")
        assert bad.exit_code == 2 and "unknown prompt 'nope'" in bad.output and srv.count == n
        other = invoke("extraction", "--data", data, "--judges", "planted@debiased", "--config", cfg, "--out",
                       tmp_path / "o3", "--cache-dir", tmp_path / "c")  # a variant of another task
        assert other.exit_code == 2 and "not a variant of the extraction_verifier prompt" in other.output
