"""Meta-evaluation variants of the absolute form (audit.stats.levels): Pearson beside the rank
correlations, Cohen's kappa on integer scales, and correlations computed within groups and averaged
(--average-over cluster|system). All numbers derived here with scipy / scikit-learn.

HAND-WRITTEN SYNTHETIC STUDY: documents doc-1..doc-4, systems sys-a/sys-b and raters are labels only.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from audit.cli import cli
from cli_coverage import covers

# item: (document, system, human rating, judge rating); doc-4 has constant human ratings (skipped)
ROWS = [("doc-1", "sys-a", 1, 2), ("doc-1", "sys-b", 3, 3), ("doc-1", "sys-a", 5, 4),
        ("doc-2", "sys-b", 2, 1), ("doc-2", "sys-a", 4, 5), ("doc-2", "sys-b", 3, 2),
        ("doc-3", "sys-a", 5, 5), ("doc-3", "sys-b", 1, 3), ("doc-3", "sys-a", 2, 2),
        ("doc-4", "sys-b", 3, 4), ("doc-4", "sys-a", 3, 2)]


def write(path, rows=ROWS, second_rater=False):
    lines = ["# hand-written synthetic absolute study (tests/test_study_levels.py): labels, not people or models"]
    for i, (doc, system, h, j) in enumerate(rows):
        humans = [{"annotator": "annotator-A", "criterion": "quality", "rating": h}]
        if second_rater:
            humans.append({"annotator": "annotator-B", "criterion": "quality", "rating": h})
        lines.append(json.dumps({"id": f"i{i:02d}", "cluster": doc, "system": system, "human_ratings": humans,
                                 "judge_ratings": [{"judge": "style-judge", "criterion": "quality", "rating": j}]}))
    path.write_text("\n".join(lines) + "\n")
    return path


def run(tmp_path, *args, data=None):
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["study", "--form", "absolute", "--data", str(data or write(tmp_path / "s.jsonl")),
                                 "--out", str(out), *args])
    assert r.exit_code == 0, r.output
    return json.loads((out / "results.json").read_text())["judges"]["style-judge"]["criteria"]["quality"]


H = np.array([r[2] for r in ROWS], float)
J = np.array([r[3] for r in ROWS], float)


def test_pooled_pearson_and_kappas_equal_scipy_and_scikit_learn(tmp_path):
    c = run(tmp_path)
    assert c["pearson"]["estimate"] == pytest.approx(stats.pearsonr(J, H).statistic)
    assert c["pearson"]["ci"][0] < c["pearson"]["estimate"] < c["pearson"]["ci"][1]
    assert c["spearman"]["estimate"] == pytest.approx(stats.spearmanr(J, H).statistic)
    for name, w in (("unweighted", None), ("linear", "linear"), ("quadratic", "quadratic")):
        expected = cohen_kappa_score(J.astype(int), H.astype(int), weights=w, labels=[1, 2, 3, 4, 5])
        assert c["kappa"][name]["estimate"] == pytest.approx(expected), name
        assert c["kappa"][name]["n"] == len(ROWS)


def test_kappa_needs_one_human_rating_per_item(tmp_path):
    c = run(tmp_path, data=write(tmp_path / "two.jsonl", second_rater=True))
    assert "one human rating per item" in c["kappa"]["reason"]


@covers("study --average-over")
@pytest.mark.parametrize("group, index", [("cluster", 0), ("system", 1)])
def test_averaged_over_groups_skips_undefined_ones(tmp_path, group, index):
    c = run(tmp_path, "--average-over", group)
    avg = c["averaged_over"]
    assert avg["group"] == group
    groups = sorted({r[index] for r in ROWS})
    for key, f in (("pearson", lambda a, b: stats.pearsonr(a, b).statistic),
                   ("spearman", lambda a, b: stats.spearmanr(a, b).statistic),
                   ("kendall", lambda a, b: stats.kendalltau(a, b).statistic),
                   ("kappa_unweighted", lambda a, b: cohen_kappa_score(a.astype(int), b.astype(int), labels=[1, 2, 3, 4, 5]))):
        values = []
        for g in groups:
            m = np.array([r[index] == g for r in ROWS])
            if m.sum() >= 2 and np.ptp(J[m]) > 0 and np.ptp(H[m]) > 0:
                values.append(f(J[m], H[m]))
        assert avg[key]["estimate"] == pytest.approx(np.mean(values)), key
        assert avg[key]["n_groups"] == len(values)
        assert avg[key]["n_groups_skipped"] == len(groups) - len(values)
    if group == "cluster":
        assert avg["pearson"]["n_groups_skipped"] == 1  # doc-4: people rated both items 3
        printed = CliRunner().invoke(cli, ["study", "--form", "absolute", "--data", str(tmp_path / "s.jsonl"),
                                           "--average-over", "cluster", "--out", str(tmp_path / "o2")]).output
        assert "Kendall tau-b within each cluster, averaged over clusters (groups used/skipped):" in printed
        assert f"({avg['kendall']['n_groups']}/1)" in printed and "Pearson r with the human mean" in printed
        assert avg["pearson"]["ci"][0] <= avg["pearson"]["estimate"] <= avg["pearson"]["ci"][1]


def test_average_over_is_for_absolute_studies(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "p1", "label": 1, "verdicts": [{"judge": "style-j", "winner": 1, "swap": false}]}\n')
    r = CliRunner().invoke(cli, ["study", "--form", "pairwise", "--data", str(path), "--average-over", "cluster",
                                 "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--average-over applies to absolute studies" in r.stderr


def test_system_level_correlates_per_system_means_like_scipy(tmp_path):
    """--average-over system also reports the "system level": one correlation over the per-system means
    (5 synthetic systems here), equal to scipy on the means worked out from the rows."""
    rng = np.random.default_rng(3)
    rows = []
    for s in range(5):
        for d in range(4):
            h = int(rng.integers(1, 6))
            rows.append((f"doc-{d}", f"sys-{s}", h, int(np.clip(h + rng.integers(-1, 2) + (s == 4), 1, 5))))
    got = run(tmp_path, "--average-over", "system", data=write(tmp_path / "sys.jsonl", rows))["system_level"]
    names = sorted({r[1] for r in rows})
    hm = [np.mean([r[2] for r in rows if r[1] == n]) for n in names]
    jm = [np.mean([r[3] for r in rows if r[1] == n]) for n in names]
    assert got["n_systems"] == 5
    assert got["systems"]["sys-4"] == {"judge_mean": pytest.approx(jm[4]), "human_mean": pytest.approx(hm[4])}
    assert got["pearson"]["estimate"] == pytest.approx(stats.pearsonr(jm, hm).statistic)
    assert got["spearman"]["estimate"] == pytest.approx(stats.spearmanr(jm, hm).statistic)
    assert got["kendall"]["estimate"] == pytest.approx(stats.kendalltau(jm, hm).statistic)
    for key in ("pearson", "spearman", "kendall"):
        assert got[key]["ci"] is not None and got[key]["ci"][0] <= got[key]["estimate"] <= got[key]["ci"][1]


def test_system_level_kernels_equal_scipy_on_every_resample():
    from audit.stats.levels import _rank_corr_reps

    rng = np.random.default_rng(0)
    mx, my = rng.integers(1, 4, (50, 6)).astype(float), rng.integers(1, 4, (50, 6)).astype(float)
    for method, fn in (("kendall", stats.kendalltau), ("spearman", stats.spearmanr), ("pearson", stats.pearsonr)):
        got = _rank_corr_reps(mx, my, method)
        want = [fn(a, b).statistic if np.ptp(a) and np.ptp(b) else np.nan for a, b in zip(mx, my)]
        np.testing.assert_allclose(got, want, atol=1e-12, equal_nan=True)


def test_no_system_level_without_average_over_system(tmp_path):
    assert "system_level" not in run(tmp_path, "--average-over", "cluster")
