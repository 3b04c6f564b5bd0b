"""Bad input exits 2 with one line naming file, line and field -- never a traceback."""

import json

import pytest
from click.testing import CliRunner

from audit.cli import cli
from audit.errors import InputError
from audit.data.items import load_items

GOOD = {
    "id": "a1", "user_id": "u1", "prompt": "Plan a weekend trip.", "attributes": ["likes hiking"],
    "generic": "Visit a city.", "personalized": "Try a trail.", "generator": "style-x",
    "human_ratings": [{"annotator": "annotator-A", "rating": 4}],
}


def jsonl(tmp_path, rows, name="d.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def row(**changes):
    out = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def run_cli(path, tmp_path):
    return CliRunner().invoke(cli, ["run", "--data", str(path), "--out", str(tmp_path / "out")])


CASES = [
    # (rows, expected line, expected field, words in the message)
    ([GOOD, "{not json"], 2, None, "invalid JSON"),
    ([row(prompt=...)], 1, "prompt", "required field is missing"),
    ([row(attributes="likes hiking")], 1, "attributes", "list"),
    ([row(attributes=[])], 1, "attributes", "at least one attribute"),
    ([row(human_ratings=[{"annotator": "annotator-A", "rating": 6}])], 1, "human_ratings[0].rating", "1 to 5 (got 6)"),
    ([row(human_ratings=[{"annotator": "annotator-A", "rating": "4"}])], 1, "human_ratings[0].rating", "1 to 5"),
    ([row(human_ratings=[{"annotator": "annotator-A", "rating": 3.5}])], 1, "human_ratings[0].rating", "1 to 5"),
    ([row(judge_ratings=[{"judge": "j", "rating": 0}])], 1, "judge_ratings[0].rating", "1 to 5 (got 0)"),
    ([GOOD, row(personalized="other")], 2, "id", "duplicate id 'a1' (first on line 2)"),  # line numbers count the comment
    ([row(humans=[])], 1, "humans", "unknown field"),
    ([row(mention="yes")], 1, "mention", "boolean"),
    ([row(generic="")], 1, "generic", "must not be empty"),
    (["[1, 2]"], 1, None, "expected a JSON object"),
    ([row(human_ratings=[{"annotator": "annotator-A", "rating": 4}, {"annotator": "annotator-A", "rating": 3}])],
     1, "human_ratings", "rates this item twice"),
]


@pytest.mark.parametrize("rows, line, field, words", CASES)
def test_bad_jsonl_rows(tmp_path, rows, line, field, words):
    path = jsonl(tmp_path, ["# a comment line is skipped but still counted"] + rows)
    with pytest.raises(InputError) as err:
        load_items(path)
    assert err.value.line == line + 1  # +1: the comment line
    assert err.value.field == field
    assert words in str(err.value)
    result = run_cli(path, tmp_path)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: {path} line {line + 1}")
    assert words in lines[0]


@pytest.mark.parametrize("content, words", [
    ("", "no rows"),
    ("# only a comment\n\n", "no rows"),
    (b"\xff\xfe\x00bad", "not UTF-8"),
])
def test_empty_or_undecodable(tmp_path, content, words):
    path = tmp_path / "d.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = run_cli(path, tmp_path)
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {path}: " + result.output.strip().split(": ", 2)[2]
    assert words in result.output


def test_missing_file_and_directory(tmp_path):
    result = run_cli(tmp_path / "nope.jsonl", tmp_path)
    assert result.exit_code == 2 and "nope.jsonl: file not found" in result.output
    result = run_cli(tmp_path, tmp_path)
    assert result.exit_code == 2 and "is a directory" in result.output


def test_csv_with_same_columns(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        "id,prompt,attributes,generic,personalized,generator,human_ratings,judge_ratings,mention\n"
        'c1,Plan a trip.,likes hiking; lives in Oslo,Visit a city.,Try a trail.,g,"[{""annotator"": ""a"", ""rating"": 4}]",'
        '"[{""judge"": ""j"", ""rating"": 5}]",true\n'
        'c2,Cook dinner.,vegetarian,Steak.,Lentils.,g,,,\n'
    )
    ds = load_items(path)
    assert [it.id for it in ds.items] == ["c1", "c2"]
    assert ds.items[0].attributes == ["likes hiking", "lives in Oslo"]
    assert ds.items[0].mention is True and ds.items[1].mention is None
    assert ds.items[0].judge_ratings[0].rating == 5 and ds.items[1].human_ratings == []


def test_csv_bad_rating_names_line_and_field(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        "id,prompt,attributes,generic,personalized,generator,human_ratings\n"
        'c1,P,a,G,Pz,g,"[{""annotator"": ""a"", ""rating"": 4}]"\n'
        'c2,P,a,G,Pz,g,"[{""annotator"": ""a"", ""rating"": 7}]"\n'
    )
    result = run_cli(path, tmp_path)
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {path} line 3, field human_ratings[0].rating: rating must be an integer from 1 to 5 (got 7)"


def test_csv_bad_json_cell_and_missing_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("id,prompt,attributes,generic,personalized,generator,human_ratings\nc1,P,a,G,Pz,g,[{oops\n")
    result = run_cli(path, tmp_path)
    assert result.exit_code == 2 and "line 2, field human_ratings: invalid JSON in cell" in result.output
    path.write_text("id,prompt,attributes,generic,personalized\nc1,P,a,G,Pz\n")
    result = run_cli(path, tmp_path)
    assert result.exit_code == 2 and "line 2, field generator: required field is missing" in result.output


def test_bundled_examples_load():
    from audit.audits.preference import bundled_example

    ds = load_items(bundled_example())
    assert len(ds.items) >= 40
    assert len({it.generator for it in ds.items}) >= 4
    assert all(len(it.human_ratings) >= 3 for it in ds.items)
    assert ds.imported_judges == []
    imported = load_items(bundled_example().with_name("example_imported.jsonl"))
    assert [it.id for it in imported.items] == [it.id for it in ds.items]
    assert len(imported.imported_judges) == 4


def test_unicode_line_separator_inside_a_string_is_not_a_line_break(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(row(personalized="one\u2028two"), ensure_ascii=False) + "\r\n", encoding="utf-8")
    ds = load_items(path)
    assert ds.items[0].personalized == "one\u2028two"


@pytest.mark.parametrize("command", [["run", "--data", "{data}"], ["relevance"], ["study", "--form", "pairwise", "--data", "{study}"],
                                     ["counterfactual", "--judges", "openai/never-called"]])
def test_impossible_output_folder_is_one_line_exit_2_before_any_call(tmp_path, command, monkeypatch):
    """Checked before anything is paid: the counterfactual judge (with a key, at an address nothing
    listens on) is never called, because the folder check comes first."""
    from audit.audits.preference import bundled_example

    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-used")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9")
    study = tmp_path / "s.jsonl"
    study.write_text('{"id": "p1", "label": 1, "verdicts": [{"judge": "style-j", "winner": 1, "swap": false}]}\n')
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    args = [a.replace("{data}", str(bundled_example().with_name("example_imported.jsonl"))).replace("{study}", str(study))
            for a in command]
    result = CliRunner().invoke(cli, [*args, "--out", str(blocker / "out")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == f"Error: cannot create output folder {blocker / 'out'}: Not a directory"
    assert sum(line.startswith("Error") for line in lines) == 1 and "Traceback" not in result.output
