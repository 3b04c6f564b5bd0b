"""Pairwise-study variants of issue 16: the label as the plurality of several annotators (ties
included), Cohen's kappa of every annotator pair, accuracy over decisive verdicts, macro
precision/recall/F1 over the label classes, and the calibration of the judges' stated confidence
(high/low split, ECE on 10 bins, Brier, accuracy-coverage curve). Every number is derived here by
hand or with scikit-learn, from a file the test writes.

HAND-WRITTEN SYNTHETIC STUDY: annotators ann-1..ann-3 and judges judge-x/judge-y are labels, not
people or models; the items have no text.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import brier_score_loss, cohen_kappa_score, precision_recall_fscore_support

from audit.cli import cli
from audit.stats.calibration import coverage_curve, expected_calibration_error
from cli_coverage import covers

# item: (given label or None, {annotator: label}, judge-x (winner, confidence), judge-y winner, cluster)
ITEMS = [
    (None, {"ann-1": 1, "ann-2": 1, "ann-3": 2}, (1, 0.95), 1, "u1"),      # plurality 1
    (None, {"ann-1": 1, "ann-2": 2}, (2, 0.6), 2, "u1"),                   # 1 vs 2: tie
    (None, {"ann-1": 2, "ann-2": 2, "ann-3": "tie"}, (2, 0.85), 1, "u2"),  # plurality 2
    (None, {"ann-1": 2, "ann-2": 1, "ann-3": 1}, (None, None), "tie", "u2"),  # 1; judge-x missing
    (None, {"ann-1": 1, "ann-3": 1}, (2, None), 1, "u3"),                  # 1; no confidence
    (2, {"ann-1": 1, "ann-2": 2, "ann-3": 2}, (2, 0.8), 2, "u3"),          # given label 2
    (None, {"ann-1": "tie", "ann-2": "tie", "ann-3": 1}, (1, 0.7), "tie", "u4"),  # plurality tie
    (None, {"ann-1": 2, "ann-2": 2}, (2, 1.0), 2, "u4"),                   # 2
    (None, {"ann-1": 1, "ann-2": 2, "ann-3": "tie"}, (1, 0.3), 2, "u5"),   # three-way: tie
    (None, {"ann-1": 1, "ann-2": 1}, (1, 0.0), 1, "u5"),                   # 1
]
LABELS = ["1", "tie", "2", "1", "1", "2", "tie", "2", "tie", "1"]  # worked out by hand from the comments


def write(path):
    lines = ["# hand-written synthetic pairwise study (tests/test_study_pairwise_classes.py): labels, not people or models"]
    for i, (label, anns, (wx, cx), wy, cluster) in enumerate(ITEMS):
        row = {"id": f"p{i}", "cluster": cluster,
               "human_labels": [{"annotator": a, "label": lab} for a, lab in anns.items()],
               "verdicts": [{"judge": "judge-x", "winner": wx, "confidence": cx}, {"judge": "judge-y", "winner": wy}]}
        if label is not None:
            row["label"] = label
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pw")
    out = tmp / "out"
    r = CliRunner().invoke(cli, ["study", "--form", "pairwise", "--data", str(write(tmp / "s.jsonl")), "--out", str(out)])
    assert r.exit_code == 0, r.output
    return json.loads((out / "results.json").read_text()), r.output


def verdicts(judge):
    return ["none" if w is None else str(w) for w in ([it[2][0] for it in ITEMS] if judge == "judge-x" else [it[3] for it in ITEMS])]


def test_plurality_labels_with_ties(results):
    r, _ = results
    assert r["labels"] == {"1": 4, "2": 3, "tie": 3}
    assert r["humans"]["label_counts"] == {"1": 4, "2": 3, "tie": 3}
    assert r["humans"]["annotation_counts"] == {"1": 12, "2": 10, "tie": 4}
    assert r["humans"]["n_annotators"] == 3
    v = r["judges"]["judge-y"]
    # judge-y's accuracy counts the hand-worked labels
    assert v["accuracy"]["estimate"] == pytest.approx(np.mean([a == b for a, b in zip(verdicts("judge-y"), LABELS)]))


def test_annotator_kappa_per_pair_and_mean_equal_scikit_learn(results):
    r, _ = results
    ak = r["humans"]["annotator_kappa"]
    expected = {}
    for a, b in [("ann-1", "ann-2"), ("ann-1", "ann-3"), ("ann-2", "ann-3")]:
        both = [(str(anns[a]), str(anns[b])) for _, anns, *_ in ITEMS if a in anns and b in anns]
        x, y = zip(*both)
        expected[f"{a}|{b}"] = (cohen_kappa_score(x, y), len(both))
    assert set(ak) == set(expected) | {"mean"}
    for pair, (k, n) in expected.items():
        assert ak[pair]["estimate"] == pytest.approx(k) and ak[pair]["n"] == n
    assert ak["mean"]["estimate"] == pytest.approx(np.mean([k for k, _ in expected.values()]))
    assert ak["mean"]["n"] == 3
    lo, hi = ak["mean"]["ci"]
    assert lo <= ak["mean"]["estimate"] <= hi


@pytest.mark.parametrize("judge", ["judge-x", "judge-y"])
def test_decisive_accuracy_and_macro_scores_equal_scikit_learn(results, judge):
    r, _ = results
    j = r["judges"][judge]
    pred = verdicts(judge)
    decisive = [(p, t) for p, t in zip(pred, LABELS) if p in ("1", "2")]
    assert j["accuracy_decisive"]["n"] == len(decisive)
    assert j["accuracy_decisive"]["estimate"] == pytest.approx(np.mean([p == t for p, t in decisive]))
    p, rcl, f, _ = precision_recall_fscore_support(LABELS, pred, labels=["1", "2", "tie"], average="macro", zero_division=0)
    assert j["macro_precision"]["estimate"] == pytest.approx(p)
    assert j["macro_recall"]["estimate"] == pytest.approx(rcl)
    assert j["macro_f1"]["estimate"] == pytest.approx(f)
    per = precision_recall_fscore_support(LABELS, pred, labels=["1", "2", "tie"], zero_division=0)
    for k, c in enumerate(["1", "2", "tie"]):
        assert j["macro_f1"]["per_class"][c]["f1"] == pytest.approx(per[2][k])
        assert j["macro_f1"]["per_class"][c]["support"] == per[3][k]
    for key in ("macro_precision", "macro_recall", "macro_f1", "accuracy_decisive"):
        lo, hi = j[key]["ci"]
        assert lo <= j[key]["estimate"] <= hi


def test_calibration_worked_by_hand(results):
    """judge-x's decisive verdicts (label, winner, confidence):
    p0 1/1 .95 ok | p1 tie/2 .6 wrong | p2 2/2 .85 ok | p4 1/2 none wrong | p5 2/2 .8 ok |
    p6 tie/1 .7 wrong | p7 2/2 1.0 ok | p8 tie/1 .3 wrong | p9 1/1 0.0 ok.
    high (>= .8): p0 p2 p5 p7 -> 4/4; low: p1 p4 p6 p8 p9 -> 1/5.
    Bins ((m-1)/10, m/10]: (0,.1] holds 0.0 (acc 1, conf 0) -> |1-0|*1; (.2,.3] .3 wrong -> .3;
    (.5,.6] .6 wrong -> .6; (.6,.7] .7 wrong -> .7; (.7,.8] .8 ok -> .2; (.8,.9] .85 ok -> .15;
    (.9,1] .95, 1.0 ok -> |2 - 1.95| = .05. ECE = (1 + .3 + .6 + .7 + .2 + .15 + .05) / 8 = 3.0/8."""
    r, _ = results
    c = r["judges"]["judge-x"]["calibration"]
    assert c["threshold"] == 0.8 and c["n"] == 9 and c["n_with_confidence"] == 8
    assert (c["high"]["estimate"], c["high"]["n"]) == (1.0, 4)
    assert c["low"]["estimate"] == pytest.approx(1 / 5) and c["low"]["n"] == 5
    assert c["ece"]["estimate"] == pytest.approx(3.0 / 8)
    conf = np.array([.95, .6, .85, .8, .7, 1.0, .3, 0.0])
    ok = np.array([1, 0, 1, 1, 0, 1, 0, 1])
    assert c["brier"]["estimate"] == pytest.approx(brier_score_loss(ok, conf))
    assert [(b["low"], b["n"]) for b in c["bins"]] == [(0.0, 1), (0.2, 1), (0.5, 1), (0.6, 1), (0.7, 1), (0.8, 1), (0.9, 2)]
    rows = {row["threshold"]: row for row in c["coverage_curve"]}
    assert rows[0.8]["n"] == 4 and rows[0.8]["accuracy"] == 1.0 and rows[0.8]["coverage"] == 0.5
    assert rows[0.0]["n"] == 8 and rows[0.0]["accuracy"] == pytest.approx(5 / 8)
    assert rows[0.35]["n"] == 6 and max(rows) == 1.0
    for key in ("ece", "brier"):
        lo, hi = c[key]["ci"]
        assert lo <= c[key]["estimate"] <= hi
    # judge-y states no confidence: high is empty, every decisive verdict is low, no ECE
    cy = r["judges"]["judge-y"]["calibration"]
    assert cy["n_with_confidence"] == 0 and cy["high"]["n"] == 0 and cy["ece"]["estimate"] is None
    assert cy["low"]["n"] == r["judges"]["judge-y"]["accuracy_decisive"]["n"]


def test_ece_binning_and_curve_edges():
    # 0.1 belongs to (0, .1], 0.11 to (.1, .2]; float noise (0.7 * 10 = 7.000000000000001) stays in (.6, .7]
    assert expected_calibration_error([1, 0], [0.1, 0.11]) == pytest.approx((0.9 + 0.11) / 2)
    assert expected_calibration_error([1, 1], [0.7, 0.65]) == pytest.approx(abs(2 - 1.35) / 2)
    assert coverage_curve([1, 0], [0.15, 0.05])[-1] == {"threshold": 0.15, "n": 1, "coverage": 0.5, "accuracy": 1.0}


@covers("study --confidence-threshold")
def test_confidence_threshold_moves_the_split(tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["study", "--form", "pairwise", "--data", str(write(tmp_path / "s.jsonl")), "--out", str(out),
                                 "--confidence-threshold", "0.9"])
    assert r.exit_code == 0, r.output
    c = json.loads((out / "results.json").read_text())["judges"]["judge-x"]["calibration"]
    assert (c["threshold"], c["high"]["n"], c["high"]["estimate"], c["low"]["n"]) == (0.9, 2, 1.0, 7)
    assert "high = confidence >= 0.9" in r.output
    bad = CliRunner().invoke(cli, ["study", "--form", "pairwise", "--data", str(tmp_path / "s.jsonl"), "--out", str(out),
                                   "--confidence-threshold", "1.5"])
    assert bad.exit_code == 2


def test_terminal_shows_macro_scores_calibration_and_annotator_kappa(results):
    _, output = results
    assert "decisive accuracy" in output and "macro F1" in output
    assert "calibration of the judges' confidence" in output
    line = next(ln for ln in output.splitlines() if ln.startswith("judge-x") and "(4)" in ln)
    assert "1.00 [1.00, 1.00] (4)" in line and "(5)" in line and " 0.20 " in line  # high 1.00 (4), low 0.20 (5)
    assert "annotators: 3, mean pairwise Cohen's kappa" in output


BAD = [
    ({"id": "b", "label": 1, "verdicts": [{"judge": "j", "winner": 1, "confidence": 1.5}]},
     "field verdicts[0].confidence: must be a number from 0 to 1 (got 1.5)"),
    ({"id": "b", "label": 1, "verdicts": [{"judge": "j", "winner": 1, "confidence": "0.9"}]}, "field verdicts[0].confidence"),
    ({"id": "b", "human_labels": [{"annotator": "a", "label": "A"}], "verdicts": []},
     'field human_labels[0].label: must be 1, 2 or "tie"'),
    ({"id": "b", "human_labels": [{"label": 1}], "verdicts": []}, "field human_labels[0].annotator: required field is missing"),
    ({"id": "b", "human_labels": [{"annotator": "a", "label": 1}, {"annotator": "a", "label": 2}], "verdicts": []},
     "field human_labels[1].annotator: annotator 'a' labels this item twice"),
    ({"id": "b", "verdicts": [{"judge": "j", "winner": 1}]}, "field label: required field is missing (give label, or human_labels"),
]


@pytest.mark.parametrize("row,message", BAD)
def test_bad_values_exit_2_with_file_line_and_field(tmp_path, row, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "a", "label": 2, "verdicts": [{"judge": "j", "winner": 1}]}) + "\n" + json.dumps(row) + "\n")
    r = CliRunner().invoke(cli, ["study", "--form", "pairwise", "--data", str(path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert f"bad.jsonl line 2, {message}" in r.output
    assert "Traceback" not in r.output


def test_csv_human_labels_and_confidence(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text('id,human_labels,verdicts\n'
                    'a,"[{""annotator"": ""x"", ""label"": 2}, {""annotator"": ""y"", ""label"": 2}]",'
                    '"[{""judge"": ""j"", ""winner"": 2, ""confidence"": 0.9}]"\n'
                    'b,"[{""annotator"": ""x"", ""label"": 1}, {""annotator"": ""y"", ""label"": 2}]",'
                    '"[{""judge"": ""j"", ""winner"": 1, ""confidence"": 0.4}]"\n')
    out = tmp_path / "o"
    r = CliRunner().invoke(cli, ["study", "--form", "pairwise", "--data", str(path), "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "results.json").read_text())
    assert res["labels"] == {"2": 1, "tie": 1}
    c = res["judges"]["j"]["calibration"]
    assert (c["high"]["n"], c["high"]["estimate"], c["low"]["n"], c["low"]["estimate"]) == (1, 1.0, 1, 0.0)
    assert "confidence" in (out / "verdicts.csv").read_text().splitlines()[0]


def test_report_page_shows_calibration_and_escapes_names(tmp_path):
    rows = [{"id": f"q{i}", "label": 1 + i % 2, "human_labels": [{"annotator": "<i>ann</i>", "label": 1 + i % 2},
                                                               {"annotator": "ann-b", "label": 1}],
             "verdicts": [{"judge": "<script>x</script>", "winner": 1, "confidence": 0.55 + 0.1 * (i % 4)},
                          {"judge": "plain", "winner": 2}]} for i in range(8)]
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["study", "--form", "pairwise", "--data", str(path), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert f"wrote {out / 'report.html'}" in r.output
    page = (out / "report.html").read_text()
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "&lt;i&gt;ann&lt;/i&gt;|ann-b" in page  # the annotator pair, escaped
    assert "Calibration of the judges' confidence" in page and 'src="data:image/svg+xml;base64,' in page
    assert "No confidence stated: plain." in page
    assert "<script" not in page  # the study page runs no script


def test_report_page_without_confidence_has_no_calibration_section(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"q{i}", "label": 1, "verdicts": [{"judge": "j", "winner": 1 + i % 2}]})
                              for i in range(4)) + "\n")
    out = tmp_path / "out"
    assert CliRunner().invoke(cli, ["study", "--form", "pairwise", "--data", str(path), "--out", str(out)]).exit_code == 0
    page = (out / "report.html").read_text()
    assert "Judges against the human label" in page and 'id="calibration"' not in page
