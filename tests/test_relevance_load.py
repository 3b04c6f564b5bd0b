"""Loading relevance pairs: good JSONL / CSV, and bad input -> exit 2 naming file, line and field."""

import json

import pytest
from click.testing import CliRunner

from audit.cli import cli
from audit.errors import InputError
from audit.data.relevance import load_pairs
from audit.audits.relevance import bundled_relevance_example

GOOD = {"id": "p1", "user_id": "u1", "attribute": "vegetarian", "prompt": "Dinner idea?",
        "human_labels": [{"annotator": "annotator-A", "relevant": True}, {"annotator": "annotator-B", "relevant": False}]}


def write(tmp_path, rows, name="d.jsonl"):
    path = tmp_path / name
    lines = ["# a comment", ""] + [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_good_jsonl_with_comments(tmp_path):
    path = write(tmp_path, [GOOD, {**GOOD, "id": "p2", "judge_labels": [{"judge": "j", "relevant": True}]}])
    ds = load_pairs(path)
    assert [p.id for p in ds.pairs] == ["p1", "p2"]
    assert ds.imported_judges == ["j"] and ds.annotators == ["annotator-A", "annotator-B"]
    assert ds.pairs[0].cluster == "u1" and len(ds.sha256) == 64


def test_pair_without_user_is_its_own_cluster(tmp_path):
    row = {k: v for k, v in GOOD.items() if k != "user_id"}
    assert load_pairs(write(tmp_path, [row])).pairs[0].cluster == "p1"


def test_good_csv(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        'id,user_id,attribute,prompt,human_labels,judge_labels\n'
        'p1,u1,vegetarian,"Dinner, quick?","[{""annotator"": ""annotator-A"", ""relevant"": ""true""}]",\n'
        'p2,u1,owns a dog,Walks?,"[{""annotator"": ""annotator-A"", ""relevant"": false}]","[{""judge"": ""j"", ""relevant"": true}]"\n')
    ds = load_pairs(path)
    assert ds.pairs[0].prompt == "Dinner, quick?" and ds.pairs[0].human_labels[0].relevant is True
    assert ds.pairs[0].judge_labels == [] and ds.pairs[1].judge_labels[0].relevant is True


def test_bundled_fixture_is_labelled_and_shaped_as_promised():
    path = bundled_relevance_example()
    head = path.read_text().splitlines()[0]
    assert head.startswith("#") and "HAND-WRITTEN" in head and "Not collected from people" in head
    ds = load_pairs(path)
    assert len(ds.pairs) >= 60
    assert len(ds.annotators) >= 4 and all(a.startswith("annotator-") for a in ds.annotators)
    labels = [h.relevant for p in ds.pairs for h in p.human_labels]
    assert 0.15 <= sum(labels) / len(labels) <= 0.25  # designed: humans mark ~20% relevant


@pytest.mark.parametrize("rows, line, field, words", [
    ([{k: v for k, v in GOOD.items() if k != "attribute"}], 3, "attribute", "required field is missing"),
    ([{**GOOD, "prompt": ""}], 3, "prompt", "must not be empty"),
    ([{**GOOD, "human_labels": [{"annotator": "annotator-A", "relevant": "yes"}]}], 3,
     "human_labels[0].relevant", "relevant must be true or false"),
    ([{**GOOD, "human_labels": [{"annotator": "annotator-A", "relevant": 1}]}], 3,
     "human_labels[0].relevant", "relevant must be true or false"),
    ([{**GOOD, "relevance": True}], 3, "relevance", "unknown field"),
    ([GOOD, GOOD], 4, "id", "duplicate id 'p1' (first on line 3)"),
    ([{**GOOD, "human_labels": [{"annotator": "a", "relevant": True}, {"annotator": "a", "relevant": False}]}], 3,
     "human_labels", "annotator 'a' labels this pair twice"),
    ([{**GOOD, "judge_labels": [{"judge": "annotator-A", "relevant": True}]}], 3,
     "judge_labels", "'annotator-A' is both an annotator (line 3) and a judge"),
    ([GOOD, {**GOOD, "id": "p2", "judge_labels": [{"judge": "annotator-B", "relevant": True}]}], 4,
     "judge_labels", "'annotator-B' is both an annotator (line 3) and a judge"),
    ([{**GOOD, "judge_labels": [{"judge": "x", "relevant": True}]},
      {**GOOD, "id": "p2", "human_labels": [{"annotator": "x", "relevant": True}]}], 4,
     "human_labels", "'x' is both a judge (line 3) and an annotator"),
    ([GOOD, '{"id": "p2",'], 4, None, "invalid JSON"),
    (["[1, 2]"], 3, None, "expected a JSON object"),
])
def test_bad_input_exit_2_names_file_line_field(tmp_path, rows, line, field, words):
    path = write(tmp_path, rows)
    with pytest.raises(InputError) as err:
        load_pairs(path)
    assert err.value.line == line and err.value.field == field
    result = CliRunner().invoke(cli, ["relevance", "--data", str(path), "--out", str(tmp_path / "out"), "--baselines", "none"])
    assert result.exit_code == 2
    msg = result.output.strip().splitlines()[-1]
    assert msg.startswith(f"Error: {path} line {line}")
    if field:
        assert f"field {field}:" in msg
    assert words in msg
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_bad_csv_cell_and_empty_and_missing_file(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('id,attribute,prompt,human_labels\np1,a,b,"[{oops"\n')
    with pytest.raises(InputError, match=r"line 2, field human_labels: invalid JSON in cell"):
        load_pairs(path)
    empty = write(tmp_path, [], "empty.jsonl")
    with pytest.raises(InputError, match="no rows"):
        load_pairs(empty)
    result = CliRunner().invoke(cli, ["relevance", "--data", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2 and "nope.jsonl: file not found" in result.output


def test_bad_options_exit_2(tmp_path):
    path = write(tmp_path, [GOOD])
    for extra in (["--ties", "coin"], ["--baselines", "tfidf"]):
        result = CliRunner().invoke(cli, ["relevance", "--data", str(path), "--out", str(tmp_path / "o"), *extra])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
