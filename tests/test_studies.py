"""Imported judge studies: formats, strict validation, converters, hand-worked measures, the CLI.

All data here is hand-written and illustrative: ``annotator-*`` and ``style-*`` are labels, not
real people or models.
"""

import csv
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from audit.cli import cli
from audit.errors import ConfigError, InputError
from audit.data.studies import load_absolute, load_pairwise, parse_scale
from audit.data.layouts import load_hanna, load_llmbar
from audit.stats.study import absolute_results, human_reference, pairwise_results, study_bootstrap
from cli_coverage import covers

# pingouin.corr also computes a power that it cannot for n <= 4 (the 4-item hand-worked example)
pytestmark = pytest.mark.filterwarnings("ignore:Sample size is too small to estimate power")

# --- hand-worked absolute study -----------------------------------------------------------------
# criterion "clarity", two annotators, one judge:
#   item  annotator-A  annotator-B  mean  style-judge
#   a     1            2            1.5   2
#   b     2            4            3.0   3
#   c     4            5            4.5   5
#   d     2            3            2.5   4
ABS_ROWS = [
    {"id": i, "human_ratings": [{"annotator": "annotator-A", "criterion": "clarity", "rating": a},
                                {"annotator": "annotator-B", "criterion": "clarity", "rating": b}],
     "judge_ratings": [{"judge": "style-judge", "criterion": "clarity", "rating": j}]}
    for i, a, b, j in (("a", 1, 2, 2), ("b", 2, 4, 3), ("c", 4, 5, 5), ("d", 2, 3, 4))
]

# --- hand-worked pairwise study -----------------------------------------------------------------
#   item label  original order (resp. 1 first)  swapped order (resp. 2 first)
#   p1   1      1  (correct, first slot)         1  (correct, second slot)
#   p2   2      1  (wrong,   first slot)         2  (correct, first slot)
#   p3   1      1  (correct, first slot)         2  (wrong,   first slot)
#   p4   2      null (missing, wrong)            2  (correct, first slot)
#   p5   tie    tie (correct)                    tie (correct)
PAIR_ROWS = [
    {"id": i, "label": lab, "verdicts": [{"judge": "style-judge", "winner": f, "swap": False},
                                         {"judge": "style-judge", "winner": t, "swap": True}]}
    for i, lab, f, t in (("p1", 1, 1, 1), ("p2", 2, 1, 2), ("p3", 1, 1, 2), ("p4", 2, None, 2),
                         ("p5", "tie", "tie", "tie"))
]


def write_jsonl(path, rows):
    path.write_text("# hand-written illustrative example\n" + "\n".join(
        r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def write_csv(path, rows, columns):
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in r.items()})
    return path


# --- loading ------------------------------------------------------------------------------------


def test_absolute_jsonl_and_csv_load_the_same_table(tmp_path):
    a = load_absolute(write_jsonl(tmp_path / "s.jsonl", ABS_ROWS))
    b = load_absolute(write_csv(tmp_path / "s.csv", ABS_ROWS, ["id", "human_ratings", "judge_ratings"]))
    pd.testing.assert_frame_equal(a.ratings, b.ratings)
    assert len(a.ratings) == 12 and a.judges == ["style-judge"] and a.criteria == ["clarity"]
    assert set(a.ratings["cluster"]) == {"a", "b", "c", "d"}  # no cluster given: each item its own


def test_pairwise_jsonl_and_csv_load_the_same_tables(tmp_path):
    a = load_pairwise(write_jsonl(tmp_path / "p.jsonl", PAIR_ROWS))
    b = load_pairwise(write_csv(tmp_path / "p.csv", PAIR_ROWS, ["id", "label", "verdicts"]))
    pd.testing.assert_frame_equal(a.items, b.items)
    pd.testing.assert_frame_equal(a.verdicts, b.verdicts)
    assert list(a.verdicts["winner"]) == [1, 1, 1, 2, 1, 2, None, 2, "tie", "tie"]  # no 1 -> 1.0 coercion


def abs_row(**changes):
    out = json.loads(json.dumps(ABS_ROWS[0]))
    out.update(changes)
    return out


def pair_row(**changes):
    out = json.loads(json.dumps(PAIR_ROWS[0]))
    out.update(changes)
    return out


BAD_ABSOLUTE = [
    ([abs_row(human_ratings=[{"annotator": "annotator-A", "criterion": "clarity", "rating": 6}])],
     "human_ratings[0].rating", "outside the scale 1-5"),
    ([abs_row(human_ratings=[{"annotator": "annotator-A", "criterion": "clarity", "rating": "4"}])],
     "human_ratings[0].rating", "valid number"),
    ([abs_row(human_ratings=[{"annotator": "annotator-A", "criterion": "clarity", "rating": True}])],
     "human_ratings[0].rating", "valid number"),
    (['{"id": "a", "human_ratings": [{"annotator": "x", "criterion": "c", "rating": NaN}]}'],
     "human_ratings[0].rating", "finite"),
    ([abs_row(human_ratings=[{"annotator": "annotator-A", "criterion": "clarity", "rating": 3}] * 2)],
     "human_ratings[1]", "twice"),
    ([abs_row(judge_ratings=[{"judge": "style-judge", "criterion": "clarity", "rating": 0.5}])],
     "judge_ratings[0].rating", "outside the scale"),
    ([abs_row(score=3)], "score", "unknown field"),
    ([abs_row(id="")], "id", "must not be empty"),
    ([ABS_ROWS[0], ABS_ROWS[0]], "id", "duplicate id"),
    ([abs_row(human_ratings=[])], "human_ratings", "no human ratings"),
    (["[1, 2]"], None, "expected a JSON object"),
    (["{not json"], None, "invalid JSON"),
]


@pytest.mark.parametrize("rows, field, words", BAD_ABSOLUTE)
def test_absolute_validation_names_the_field(tmp_path, rows, field, words):
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(InputError) as exc:
        load_absolute(path)
    assert exc.value.field == field
    assert words in str(exc.value)


BAD_PAIRWISE = [
    ([pair_row(label=3)], "label", 'must be 1, 2 or "tie"'),
    ([pair_row(label="1")], "label", 'must be 1, 2 or "tie"'),
    ([pair_row(label=True)], "label", 'must be 1, 2 or "tie"'),
    ([pair_row(label=None)], "label", 'must be 1, 2 or "tie"'),
    ([pair_row(verdicts=[{"judge": "j", "winner": 2.0}])], "verdicts[0].winner", 'must be 1, 2 or "tie"'),
    ([pair_row(verdicts=[{"judge": "j", "winner": 1, "swap": "yes"}])], "verdicts[0].swap", "boolean"),
    ([pair_row(verdicts=[{"judge": "j", "winner": 1}, {"judge": "j", "winner": 2}])], "verdicts[1]",
     "two verdicts in the original order"),
    ([pair_row(verdicts=[{"judge": "j", "winner": 1, "order": "ab"}])], "verdicts[0].order", "unknown field"),
    ([pair_row(verdicts=[])], "verdicts", "no judge verdicts"),
    ([{"id": "x", "verdicts": []}], "label", "required field is missing"),
]


@pytest.mark.parametrize("rows, field, words", BAD_PAIRWISE)
def test_pairwise_validation_names_the_field(tmp_path, rows, field, words):
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(InputError) as exc:
        load_pairwise(path)
    assert exc.value.field == field
    assert words in str(exc.value)


def test_errors_name_the_line(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [PAIR_ROWS[0], "", pair_row(id="p9", label=7)])
    with pytest.raises(InputError) as exc:
        load_pairwise(path)
    assert exc.value.line == 4  # header comment, row, blank, bad row


def test_unicode_line_separator_inside_a_string_is_not_a_line_break(tmp_path):
    # JSONL lines end at "\n" only (as in load_items): U+2028 is legal inside a JSON string
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({**ABS_ROWS[0], "text": "one\u2028two"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert load_absolute(path).ratings["item_id"].tolist() == ["a", "a", "a"]


def test_csv_label_may_be_a_bare_tie(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('id,label,verdicts\nq1,tie,"[{""judge"": ""j"", ""winner"": ""tie""}]"\n')
    assert load_pairwise(path).items["label"].tolist() == ["tie"]


def test_scale_option(tmp_path):
    rows = [abs_row(human_ratings=[{"annotator": "annotator-A", "criterion": "clarity", "rating": 7}],
                    judge_ratings=[])]
    path = write_jsonl(tmp_path / "s.jsonl", rows)
    with pytest.raises(InputError):
        load_absolute(path)
    assert load_absolute(path, parse_scale("1-7")).ratings["rating"].tolist() == [7.0]
    for bad in ("7-1", "1..7", "a-b", "5"):
        with pytest.raises(ValueError):
            parse_scale(bad)


# --- measures, hand-worked ------------------------------------------------------------------------


def test_absolute_measures_by_hand(tmp_path):
    study = load_absolute(write_jsonl(tmp_path / "s.jsonl", ABS_ROWS))
    res = absolute_results(study.ratings, study.scale)
    c = res["judges"]["style-judge"]["criteria"]["clarity"]
    # judge (2,3,5,4) vs mean (1.5,3,4.5,2.5): 6 pairs, only (b,d) discordant, no ties
    # -> tau_b = (5 - 1) / sqrt(6 * 6) = 2/3
    assert c["kendall"]["estimate"] == pytest.approx(2 / 3, abs=1e-12)
    # differences 0.5, 0, 0.5, 1.5 -> 0.625
    assert c["inflation"]["estimate"] == pytest.approx(0.625, abs=1e-12)
    assert c["mean_rating"] == pytest.approx(3.5) and c["human_mean_rating"] == pytest.approx(2.875)
    # Spearman: ranks judge (1,2,4,3), mean (1,3,4,2): d^2 = 0+1+0+1 = 2 -> 1 - 6*2/(4*15) = 0.8
    assert c["spearman"]["estimate"] == pytest.approx(0.8, abs=1e-12)
    # human reference: annotator-A (1,2,4,2) vs mean: P=5, Q=0, one tie in A -> 5/sqrt(5*6);
    # annotator-B (2,4,5,3) vs mean: all 6 concordant -> 1
    ref = res["humans"]["criteria"]["clarity"]["reference_kendall"]
    assert ref["per_rater"] == {"annotator-A": pytest.approx(5 / np.sqrt(30)), "annotator-B": pytest.approx(1.0)}
    assert ref["estimate"] == pytest.approx((5 / np.sqrt(30) + 1) / 2)
    assert res["judges"]["style-judge"]["warnings"] == []


def test_correlations_agree_with_scipy_and_clusters_change_only_the_interval():
    from scipy.stats import kendalltau, spearmanr

    rng = np.random.default_rng(3)
    n = 120
    human = rng.integers(1, 6, size=(n, 3)).astype(float)
    judge = np.clip(np.rint(human.mean(axis=1) + rng.normal(0.4, 1, n)), 1, 5)
    rows = []
    for i in range(n):
        for k in range(3):
            rows.append((f"i{i}", f"c{i // 6}", None, "human", f"annotator-{k}", "q", human[i, k]))
        rows.append((f"i{i}", f"c{i // 6}", None, "judge", "style-j", "q", judge[i]))
    df = pd.DataFrame(rows, columns=["item_id", "cluster", "system", "kind", "rater", "criterion", "rating"])
    res = absolute_results(df, (1, 5))["judges"]["style-j"]["criteria"]["q"]
    hm = human.mean(axis=1)
    assert res["kendall"]["estimate"] == pytest.approx(kendalltau(judge, hm).statistic, abs=1e-12)
    assert res["spearman"]["estimate"] == pytest.approx(spearmanr(judge, hm).statistic, abs=1e-12)
    assert res["kendall"]["n_clusters"] == 20 and "Wald" in res["kendall"]["method"]
    flat = df.assign(cluster=df["item_id"])
    res_iid = absolute_results(flat, (1, 5))["judges"]["style-j"]["criteria"]["q"]
    assert res_iid["kendall"]["estimate"] == res["kendall"]["estimate"]
    assert res_iid["kendall"]["ci"] != res["kendall"]["ci"]
    assert res_iid["kendall"]["p_value"] == pytest.approx(kendalltau(judge, hm).pvalue)


def test_human_reference_bootstrap_matches_a_resample_by_hand():
    """The table-kernel bootstrap of the human reference equals recomputing it on resampled clusters."""
    from scipy.stats import kendalltau

    rng = np.random.default_rng(0)
    rows = [(f"i{i}", f"c{i % 7}", f"annotator-{k}", float(rng.integers(1, 6))) for i in range(30) for k in range(3)]
    humans = pd.DataFrame(rows, columns=["item_id", "cluster", "rater", "rating"])
    boot = study_bootstrap(humans["cluster"].unique(), seed=1)
    est = human_reference(humans, boot)
    # replicate 0 by hand: repeat each cluster's items as often as the resample drew the cluster
    counts = boot.counts[0]
    parts = []
    for code, label in enumerate(boot.labels):
        for rep in range(counts[code]):
            part = humans[humans["cluster"] == label].copy()
            part["item_id"] = part["item_id"] + f"#{rep}"
            parts.append(part)
    res = pd.concat(parts)
    res["mean"] = res.groupby("item_id")["rating"].transform("mean")
    by_hand = np.mean([kendalltau(g["rating"], g["mean"]).statistic for _, g in res.groupby("rater")])
    from audit.stats import agreement
    from audit.stats.study import _codes

    cx, lx = _codes(humans["rating"])
    humans["mean"] = humans.groupby("item_id")["rating"].transform("mean")
    cy, ly = _codes(humans["mean"])
    rr = humans["rater"].map({"annotator-0": 0, "annotator-1": 1, "annotator-2": 2}).to_numpy()
    tables = np.zeros((3, lx, ly))
    for code, label in enumerate(boot.labels):
        sel = (humans["cluster"] == label).to_numpy()
        np.add.at(tables, (rr[sel], cx[sel], cy[sel]), counts[code])
    assert np.nanmean(agreement.kendall_from_tables(tables)) == pytest.approx(by_hand, abs=1e-12)
    assert est.ci_low < est.estimate < est.ci_high


def test_pairwise_measures_by_hand(tmp_path):
    study = load_pairwise(write_jsonl(tmp_path / "p.jsonl", PAIR_ROWS))
    j = pairwise_results(study.items, study.verdicts)["judges"]["style-judge"]
    assert j["n_verdicts"] == 10 and j["n_missing"] == 1 and j["orders"] == ["original", "swapped"]
    # correct verdicts: p1 2, p2 1, p3 1, p4 1, p5 2 -> 7 / 10
    assert (j["accuracy"]["k"], j["accuracy"]["n"], j["accuracy"]["estimate"]) == (7, 10, 0.7)
    assert "cluster bootstrap" in j["accuracy"]["method"]  # 2 verdicts per item are not independent
    assert (j["accuracy_by_order"]["original"]["k"], j["accuracy_by_order"]["swapped"]["k"]) == (3, 4)
    # same verdict in both orders: p1 and p5 -> 2 / 5, one trial per item -> Wilson
    pa = j["positional_agreement"]
    assert (pa["k"], pa["n"], pa["n_both_missing"]) == (2, 5, 0)
    assert "Wilson" in pa["method"]
    from scipy.stats import binomtest

    wilson = binomtest(2, 5).proportion_ci(method="wilson")
    assert pa["ci"] == pytest.approx([wilson.low, wilson.high])
    # decisive verdicts: p1 (first, second), p2 (first, first), p3 (first, first), p4 (-, first) -> 6 / 7;
    # first slot in both orders: p2, p3; second slot in both: none -> McNemar p = binomtest(2, 2) = 0.5
    pb = j["position_bias"]
    assert (pb["k"], pb["n"]) == (6, 7)
    assert (pb["first_slot_both_orders"], pb["second_slot_both_orders"]) == (2, 0)
    assert pb["p_value"] == pytest.approx(0.5)
    # kappa, verdict x label over 10 verdicts: p_o = 7/10; margins verdict (1:4, 2:3, none:1, tie:2),
    # label (1:4, 2:4, tie:2) -> p_e = (16 + 12 + 4) / 100 = 0.32 -> (0.7 - 0.32) / 0.68
    assert j["kappa"]["estimate"] == pytest.approx(0.38 / 0.68, abs=1e-12)


def test_kappa_agrees_with_scikit_learn():
    from sklearn.metrics import cohen_kappa_score

    from audit.stats.study import kappa_vs_label

    rng = np.random.default_rng(5)
    labels = rng.choice(["1", "2", "tie"], size=300)
    verdict = np.where(rng.random(300) < 0.6, labels, rng.choice(["1", "2", "tie", "none"], size=300))
    clusters = [f"c{i // 2}" for i in range(300)]
    k = kappa_vs_label(verdict, labels, clusters, study_bootstrap(set(clusters)))
    assert k.estimate == pytest.approx(cohen_kappa_score(verdict, labels), abs=1e-9)
    assert k.ci_low < k.estimate < k.ci_high


def test_one_order_only_has_no_positional_agreement_and_no_bias_test(tmp_path):
    rows = [{"id": f"q{i}", "label": 1 + i % 2, "verdicts": [{"judge": "style-j", "winner": 1}]} for i in range(8)]
    study = load_pairwise(write_jsonl(tmp_path / "p.jsonl", rows))
    j = pairwise_results(study.items, study.verdicts)["judges"]["style-j"]
    assert j["positional_agreement"]["estimate"] is None and "both presentation orders" in j["positional_agreement"]["reason"]
    assert j["position_bias"]["p_value"] is None and "confounded" in j["position_bias"]["reason"]
    assert j["accuracy"]["estimate"] == 0.5 and "Wilson" in j["accuracy"]["method"]


def test_pairwise_clusters_switch_proportions_to_the_cluster_bootstrap(tmp_path):
    rows = [dict(r, id=f"{r['id']}-{k}", cluster=f"user-{k}") for k in range(4) for r in PAIR_ROWS]
    study = load_pairwise(write_jsonl(tmp_path / "p.jsonl", rows))
    j = pairwise_results(study.items, study.verdicts)["judges"]["style-judge"]
    pa = j["positional_agreement"]
    assert (pa["k"], pa["n"], pa["n_clusters"]) == (8, 20, 4)
    assert "cluster bootstrap" in pa["method"] and pa["ci"][0] <= 0.4 <= pa["ci"][1]


# --- converters -----------------------------------------------------------------------------------


def hanna_like_csv(path, n=4):
    """A tiny file in HANNA's layout (hand-made numbers): 2 systems x n prompts, 1 judge."""
    crit = ["RE", "CH", "EM", "SU", "EG", "CX"]
    rng = np.random.default_rng(1)
    header = ["Model"] + [f"Human {r} {c}" for r in (1, 2, 3) for c in crit] + [f"Style-A {c} 1" for c in crit + ["AVG"]]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for system in ("Human", "style-gen"):
            row = [system] + [json.dumps(rng.integers(1, 6, n).tolist()) for _ in range(18)]
            judge = [json.dumps(rng.integers(1, 6, n).astype(float).tolist()) for _ in range(7)]
            judge[0] = json.dumps([-1.0] + [3.0] * (n - 1))  # an unparsable answer, coded -1 as in HANNA
            w.writerow(row + judge)
    return path


def test_hanna_converter(tmp_path):
    study = load_hanna(hanna_like_csv(tmp_path / "h.csv"))
    r = study.ratings
    assert study.judges == ["Style-A/prompt-1"]  # AVG has no human counterpart: left out
    assert study.criteria == ["Relevance", "Coherence", "Empathy", "Surprise", "Engagement", "Complexity"]
    assert r["item_id"].nunique() == 8 and set(r["cluster"]) == {"prompt-0", "prompt-1", "prompt-2", "prompt-3"}
    assert set(r.loc[r["kind"] == "human", "rater"]) == {"rater-1", "rater-2", "rater-3"}
    assert r["rating"].min() == -1.0  # kept, and reported:
    res = absolute_results(r, study.scale)
    assert res["judges"]["Style-A/prompt-1"]["criteria"]["Relevance"]["n_out_of_scale"] == 2
    assert "outside the scale" in res["judges"]["Style-A/prompt-1"]["warnings"][0]


def test_hanna_converter_rejects_other_files(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Model,Relevance\nGPT,[1]\n")
    with pytest.raises(InputError, match="Human 1 RE"):
        load_hanna(path)
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a HANNA"):
        load_hanna(path)


def llmbar_like_folder(root, n=3):
    """A tiny folder in LLMBar's layout (hand-made): dataset.json + one evaluator with both orders."""
    root.mkdir()
    items = [{"input": f"prompt {i}", "output_1": "a", "output_2": "b", "label": 1 + i % 2} for i in range(n)]
    (root / "dataset.json").write_text(json.dumps(items))
    res = []
    for i, it in enumerate(items):
        r = dict(it, results=[["auxiliary text", "stop"],
                              {"swap = False": {"completion": ["Output (a)", "stop"], "winner": "1"},
                               "swap = True": {"completion": ["", ""], "winner": None if i == 0 else "2"}}])
        res.append(r)
    out = root / "evaluators" / "Style-A" / "Vanilla"
    out.mkdir(parents=True)
    (out / "result.json").write_text(json.dumps(res))
    return root


def test_llmbar_converter(tmp_path):
    study = load_llmbar(llmbar_like_folder(tmp_path / "Set"))
    assert study.judges == ["Style-A/Vanilla"]
    assert study.items["item_id"].tolist() == ["Set/0", "Set/1", "Set/2"]
    assert study.verdicts["winner"].tolist() == [1, None, 1, 2, 1, 2]
    assert study.verdicts["swap"].tolist() == [False, True] * 3


def test_llmbar_converter_checks_alignment(tmp_path):
    root = llmbar_like_folder(tmp_path / "Set")
    path = root / "evaluators" / "Style-A" / "Vanilla" / "result.json"
    res = json.loads(path.read_text())
    path.write_text(json.dumps(res[:2]))
    with pytest.raises(InputError, match="expected a list of 3 items"):
        load_llmbar(root)
    res[1]["label"] = 1
    path.write_text(json.dumps(res))
    with pytest.raises(InputError, match="does not match dataset.json"):
        load_llmbar(root)
    res[1]["label"] = 2
    res[2]["results"][-1]["swap = True"]["winner"] = "3"
    path.write_text(json.dumps(res))
    with pytest.raises(InputError, match="winner must be"):
        load_llmbar(root)


# --- the CLI --------------------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(cli, ["study", *map(str, args)])


@covers("study", "study --form", "study --data", "study --out")
def test_cli_absolute_writes_results_and_ratings(tmp_path):
    data = write_jsonl(tmp_path / "s.jsonl", ABS_ROWS)
    res = run("--form", "absolute", "--data", data, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert "style-judge" in res.output and "0.67" in res.output and "+0.62" in res.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["form"] == "absolute" and results["audit_card"]["model_calls"] == 0
    assert results["audit_card"]["dataset"]["sha256"]
    assert len(pd.read_csv(tmp_path / "out" / "ratings.csv")) == 12


def test_cli_pairwise_writes_results_and_verdicts(tmp_path):
    data = write_jsonl(tmp_path / "p.jsonl", PAIR_ROWS)
    res = run("--form", "pairwise", "--data", data, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert "0.70" in res.output and "0.40" in res.output
    v = pd.read_csv(tmp_path / "out" / "verdicts.csv", keep_default_na=False)
    assert v["winner"].tolist() == ["1", "1", "1", "2", "1", "2", "none", "2", "tie", "tie"]
    assert v["correct"].tolist() == [True, True, False, True, True, False, False, True, True, True]


@pytest.mark.parametrize("args, words", [
    (["--data", "{abs}"], "--form is required"),
    (["--form", "pairwise", "--layout", "hanna", "--data", "{abs}"], "holds a absolute study"),
    (["--form", "absolute", "--data", "{abs}", "--judges", "style-other"], "not in"),
    (["--form", "absolute", "--data", "{abs}", "--exclude-system", "Human"], "no items of system"),
    (["--form", "pairwise", "--data", "{pair}", "--exclude-system", "Human"], "applies to absolute"),
    (["--form", "absolute", "--data", "{abs}", "--scale", "5-1"], "MIN < MAX"),
    (["--form", "absolute", "--data", "{pair}"], "unknown field"),
    (["--form", "pairwise", "--data", "{missing}"], "file not found"),
])
def test_cli_usage_errors_exit_2_with_one_line(tmp_path, args, words):
    paths = {"abs": write_jsonl(tmp_path / "s.jsonl", ABS_ROWS), "pair": write_jsonl(tmp_path / "p.jsonl", PAIR_ROWS),
             "missing": tmp_path / "nope.jsonl"}
    res = run(*[a.format(**paths) for a in args], "--out", tmp_path / "out")
    assert res.exit_code == 2, res.output
    assert words in res.output
    assert "Traceback" not in res.output and res.output.strip().count("\n") == 0


def test_config_error_is_exported():
    from audit.audits.study import resolve_form

    with pytest.raises(ConfigError):
        resolve_form("pairwise", "hanna")
    assert resolve_form(None, "llmbar") == "pairwise"
