"""results.json is typed (audit.data.results) and versioned; its JSON Schema is shipped and current.
(tests/conftest.py validates every results.json the test session writes against it.)"""

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from audit.cli import cli
from audit.data.results import SCHEMA_VERSION, results_schema, typed, versioned
from cli_coverage import covers

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_schema_is_current():
    shipped = json.loads((ROOT / "docs" / "results.schema.json").read_text(encoding="utf-8"))
    assert shipped == results_schema(), "regenerate it: judge-audit schema --out docs/results.schema.json"


@covers("schema", "schema --out")
def test_schema_command_prints_and_writes_it(tmp_path):
    r = CliRunner().invoke(cli, ["schema"])
    assert r.exit_code == 0 and json.loads(r.output) == results_schema()
    r = CliRunner().invoke(cli, ["schema", "--out", str(tmp_path / "s.json")])
    assert r.exit_code == 0 and json.loads((tmp_path / "s.json").read_text()) == results_schema()


@pytest.fixture(scope="module")
def run_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("schema-run")
    data = ROOT / "fixtures" / "example_imported.jsonl"
    r = CliRunner().invoke(cli, ["run", "--data", str(data), "--out", str(out)])
    assert r.exit_code == 0, r.output
    return json.loads((out / "results.json").read_text())


def test_a_run_is_versioned_typed_and_valid(run_results):
    assert next(iter(run_results)) == "schema_version" and run_results["schema_version"] == SCHEMA_VERSION
    model = typed(run_results)
    assert model.judges["style-explicit"].inflation.estimate == run_results["judges"]["style-explicit"]["inflation"]["estimate"]
    jsonschema.validate(run_results, results_schema())


@pytest.mark.parametrize("path, value", [
    (("judges", "style-explicit", "inflation", "estimate"), "high"),   # not a number
    (("judges", "style-explicit", "inflation", "ci"), [0.1]),         # a CI has two bounds
    (("humans", "no_better_rate"), None),                             # a required estimate
    (("n_items",), "44"),
])
def test_schema_and_model_reject_a_broken_results(run_results, path, value):
    doc = json.loads(json.dumps(run_results))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, results_schema())
    with pytest.raises(ValueError):
        versioned(doc)


def test_a_missing_section_key_is_caught():
    with pytest.raises(ValueError):
        typed({"schema_version": 1, "relevance": {"n_pairs": 3}})  # the section lacks its required keys
