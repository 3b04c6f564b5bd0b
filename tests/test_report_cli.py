"""`judge-audit report --from DIR`: re-render a finished run without any model call.

The run's folder holds results.json, judgments.csv and items.jsonl (the items and their mention
flags); the report re-rendered from them is byte-for-byte the run's own report.html.
"""

import json
import shutil

import pytest
from click.testing import CliRunner

from audit.cli import cli
from browser.hostile import fixture_rows, run_with_called_judge
from cli_coverage import covers


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    text = result.output.strip()
    assert text.startswith("Error: ") and "\n" not in text, text
    return text


@pytest.fixture(scope="module")
def imported_run(tmp_path_factory):
    """An audit of the bundled illustrative data's imported judge ratings (no model)."""
    tmp = tmp_path_factory.mktemp("rep")
    data = tmp / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in fixture_rows()[:24]), encoding="utf-8")
    out = tmp / "out"
    result = invoke("run", "--data", data, "--out", out, "--cache-dir", tmp / "cache")
    assert result.exit_code == 0, result.output
    return data, out


@pytest.fixture
def run_copy(imported_run, tmp_path):
    """A private copy of the run folder and its data file, to break."""
    data, out = imported_run
    d = tmp_path / "data.jsonl"
    shutil.copy(data, d)
    o = tmp_path / "out"
    shutil.copytree(out, o)
    res = json.loads((o / "results.json").read_text())
    res["audit_card"]["dataset"]["path"] = str(d)
    (o / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    return d, o


def test_writes_items_jsonl_beside_the_results(imported_run):
    _, out = imported_run
    lines = (out / "items.jsonl").read_text(encoding="utf-8").split("\n")
    header = json.loads(lines[0][1:])
    assert header["judge_audit_items"] == 1 and header["n_items"] == 24
    first = json.loads(lines[1])
    assert first["item"]["id"] == fixture_rows()[0]["id"]
    assert set(first["mention_flag"]) == {"flagged", "spans", "source"}


@covers("report", "report --from", "report --out")
def test_rerender_is_byte_identical_to_the_runs_report(imported_run, tmp_path):
    _, out = imported_run
    target = tmp_path / "again.html"
    result = invoke("report", "--from", out, "--out", target)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {target}"
    assert target.read_bytes() == (out / "report.html").read_bytes()


def test_default_output_is_the_folders_report(run_copy):
    _, out = run_copy
    (out / "report.html").unlink()
    result = invoke("report", "--from", out)
    assert result.exit_code == 0, result.output
    assert (out / "report.html").read_text().startswith("<!doctype html>")


@covers("report --format")
def test_markdown_summary(imported_run, tmp_path):
    _, out = imported_run
    results = json.loads((out / "results.json").read_text())
    printed = invoke("report", "--from", out, "--format", "md", "--out", "-")
    assert printed.exit_code == 0, printed.output

    # the expected table, written here from results.json with the test's own formatting (sign always,
    # two decimals, U+2212 for minus) -- not by the renderer under test
    def pm(x):
        return f"{x:+.2f}".replace("-", "\u2212")

    def cell(est):
        return f"{pm(est['estimate'])} [{pm(est['ci'][0])}, {pm(est['ci'][1])}]"

    lines = printed.output.splitlines()
    assert lines[0] == f"### judge-audit: {results['n_items']} items ({results['n_items_with_human_ratings']} with human " \
                       f"ratings, {results['n_mention']} with an explicit mention)"
    assert "| judge | items | inflation | mention Δ | excess mention uplift | Spearman ρ | warnings |" in lines
    for name, j in results["judges"].items():
        row = (f"| {name} | {j['n_items_rated']} | {cell(j['inflation'])} | {cell(j['mention_delta'])} | "
               f"{cell(j['excess_mention_uplift'])} | {cell(j['spearman'])} | \u2014 |")
        assert row in lines, row
    assert f"signature: `{results['audit_card']['signature']}`" in printed.output
    target = tmp_path / "pr" / "comment.md"
    written = invoke("report", "--from", out, "--format", "md", "--out", target)
    assert written.exit_code == 0 and target.read_text() == printed.output


def test_markdown_needs_only_results_json(run_copy):
    _, out = run_copy
    (out / "judgments.csv").unlink()
    (out / "items.jsonl").unlink()
    assert invoke("report", "--from", out, "--format", "md", "--out", "-").exit_code == 0


def test_without_items_jsonl_reads_the_unchanged_dataset(run_copy, tmp_path):
    data, out = run_copy
    assert invoke("report", "--from", out).exit_code == 0  # with items.jsonl
    before = (out / "report.html").read_bytes()
    (out / "items.jsonl").unlink()
    result = invoke("report", "--from", out, "--out", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.html").read_bytes() == before


def test_without_items_jsonl_a_moved_dataset_is_a_clear_error(run_copy):
    data, out = run_copy
    (out / "items.jsonl").unlink()
    data.unlink()
    msg = one_line_error(invoke("report", "--from", out))
    assert "items.jsonl" in msg and "moved" in msg and str(data) in msg


def test_without_items_jsonl_a_changed_dataset_is_a_clear_error(run_copy):
    data, out = run_copy
    (out / "items.jsonl").unlink()
    with data.open("a") as fh:
        fh.write("\n")  # same items, other bytes: the sha256 no longer matches the audit card
    msg = one_line_error(invoke("report", "--from", out))
    assert "changed since the run" in msg


def test_without_items_jsonl_llm_flags_cannot_be_recomputed(run_copy):
    _, out = run_copy
    (out / "items.jsonl").unlink()
    res = json.loads((out / "results.json").read_text())
    res["audit_card"]["flagger"] = "claude"
    (out / "results.json").write_text(json.dumps(res))
    msg = one_line_error(invoke("report", "--from", out))
    assert "LLM flagger 'claude'" in msg


@pytest.mark.parametrize("damage, expect", [
    (lambda o: shutil.rmtree(o), "not a folder"),
    (lambda o: (o / "results.json").unlink(), "results.json: not found"),
    (lambda o: (o / "results.json").write_text("{"), "invalid JSON"),
    (lambda o: (o / "results.json").write_text('{"form": "absolute", "judges": []}'), "not the results.json of a `judge-audit run`"),
    (lambda o: (o / "judgments.csv").unlink(), "judgments.csv: not found"),
    (lambda o: (o / "judgments.csv").write_text("a,b\n1,2\n"), "not a judge-audit judgments.csv"),
    (lambda o: (o / "items.jsonl").write_text((o / "items.jsonl").read_text().replace('"item"', '"itme"', 1)),
     "items.jsonl line 2"),
    (lambda o: (o / "items.jsonl").write_text("\n".join((o / "items.jsonl").read_text().split("\n")[1:])),
     "missing its header line"),
    (lambda o: (o / "items.jsonl").write_text((o / "items.jsonl").read_text().replace('"sha256": "', '"sha256": "f', 1)),
     "belongs to another run"),
    (lambda o: (o / "items.jsonl").write_text("\n".join((o / "items.jsonl").read_text().split("\n")[:5]) + "\n"),
     "has 4 items but results.json counts 24"),
])
def test_broken_folders_exit_2_with_one_line(run_copy, damage, expect):
    _, out = run_copy
    damage(out)
    assert expect in one_line_error(invoke("report", "--from", out))


def test_rerender_of_a_called_judge_makes_no_call(tmp_path, monkeypatch):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in fixture_rows()[:6]), encoding="utf-8")
    out = tmp_path / "out"
    result = run_with_called_judge(data, out, tmp_path / "cache")  # the judge's server is shut down after this
    assert result.exit_code == 0, result.output
    import audit.audits.judging
    import audit.engine.judge

    def no_call(*a, **k):
        raise AssertionError("report --from must not call a model")

    monkeypatch.setattr(audit.audits.judging, "run_judges", no_call)
    monkeypatch.setattr(audit.engine.judge, "run_calls", no_call)
    monkeypatch.setattr(audit.engine.judge, "run_structured", no_call)
    monkeypatch.setattr(audit.engine.judge.Engine, "call", no_call)
    monkeypatch.delenv("JA_REPORT_TEST_KEY", raising=False)
    again = invoke("report", "--from", out, "--out", tmp_path / "again.html")
    assert again.exit_code == 0, again.output
    html = (tmp_path / "again.html").read_text()
    assert html == (out / "report.html").read_text()
    assert "lengthy" in html and "pairs flip" in html  # the called judge's position check is shown


def test_a_new_run_keeps_relevance_and_its_own_datasets_counterfactual_sections(tmp_path):
    """`run` into a folder where `relevance` / `counterfactual` merged their sections keeps them
    (the counterfactual one only when it was made from the same dataset) instead of erasing them."""
    rows = fixture_rows()[:24]
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    assert invoke("run", "--data", data, "--out", out, "--cache-dir", tmp_path / "cache").exit_code == 0
    doc = json.loads((out / "results.json").read_text())
    sha = doc["audit_card"]["dataset"]["sha256"]
    relevance = {"audit_card": {"dataset": {"path": "rel.jsonl", "sha256": "r" * 64}}, "judges": {}}
    counterfactual = {"audit_card": {"dataset": {"path": str(data), "sha256": sha}}, "judges": {}}
    (out / "results.json").write_text(json.dumps({**doc, "relevance": relevance, "counterfactual": counterfactual}))

    again = invoke("run", "--data", data, "--out", out, "--cache-dir", tmp_path / "cache")
    assert again.exit_code == 0, again.output
    doc2 = json.loads((out / "results.json").read_text())
    assert doc2["relevance"] == relevance and doc2["counterfactual"] == counterfactual
    assert doc2["audit_card"]["date"]  # the run's own sections are the new run's

    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps(r) + "\n" for r in rows[:20]), encoding="utf-8")
    third = invoke("run", "--data", other, "--out", out, "--cache-dir", tmp_path / "cache")
    assert third.exit_code == 0, third.output
    doc3 = json.loads((out / "results.json").read_text())
    assert doc3["relevance"] == relevance and "counterfactual" not in doc3
    assert "dropped its counterfactual section, made from another dataset" in third.output
    assert doc3["n_items"] == 20
