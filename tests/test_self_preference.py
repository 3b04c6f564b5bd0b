"""Self-preference: does a judge favour answers written by its own model family? Families come from the
judge config's [families] (glob patterns) or a judge's own family = "...". SYNTHETIC TEST DATA: the
families "acme" and "globex" and their writers are invented labels, not real models or companies.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from audit.cli import cli
from audit.engine.config import family_of, load_families
from cli_coverage import covers
from openai_server import OpenAIServer
from test_cli_run_options import KEY, _key, preference, slots  # noqa: F401 (_key: fixture)

N = 48
WRITERS = ["acme-writer", "globex-writer", "style-plain"]


def write_data(path):
    rng = np.random.default_rng(4)
    with path.open("w") as fh:
        fh.write("# SYNTHETIC TEST DATA (tests/test_self_preference.py): invented writers and families\n")
        for i in range(N):
            h = int(rng.integers(2, 5))
            fh.write(json.dumps({
                "id": f"f{i:02d}", "user_id": f"u{i // 2}", "prompt": f"Question {i}?", "attributes": ["vegetarian"],
                "generic": f"GENERIC {i}.", "personalized": f"PERSONAL {i} q{h}.", "generator": WRITERS[i % 3],
                "human_ratings": [{"annotator": "annotator-A", "rating": h}, {"annotator": "annotator-B", "rating": h}]}) + "\n")
    return path


def family_judge(request):
    """Rates what people rate (q in the answer), erring by one point on every fifth item either way
    (whoever wrote it), and +1 more when it is 'acme' judging an acme-writer answer."""
    a, b = slots(request)
    personal = a if "PERSONAL" in a else b
    q = int(personal.split(" q")[1][0])
    i = int(personal.split()[1])
    bonus = {0: 1, 1: -1}.get(i % 5, 0)
    if request["model"] == "acme-judge" and WRITERS[i % 3] == "acme-writer":
        bonus += 1
    return preference(request, max(1, min(5, q + bonus)))


def config(tmp_path, srv):
    path = tmp_path / "fam.toml"
    path.write_text("".join(
        f'[judges.{n}]\nmodel = "openai/{n}"\napi_base = "{srv.base_url}"\napi_key_env = "{KEY}"\n{extra}\n'
        for n, extra in (("acme-judge", 'family = "acme"'), ("globex-judge", ""), ("nameless", "")))
        + '[families]\nacme = ["acme*"]\nglobex = ["globex*"]\n')
    return path


@covers("check --max-self-preference")
def test_a_judge_that_adds_one_to_its_own_family_has_self_preference_one(tmp_path):
    data = write_data(tmp_path / "d.jsonl")
    with OpenAIServer(family_judge, mode="json_schema") as srv:
        cfg = config(tmp_path, srv)
        r = CliRunner().invoke(cli, ["run", "--data", str(data), "--judges", "acme-judge,globex-judge,nameless",
                                     "--config", str(cfg), "--out", str(tmp_path / "o")])
        assert r.exit_code == 0, r.output
        gate = CliRunner().invoke(cli, ["check", "--judge", "acme-judge", "--data", str(data), "--config", str(cfg),
                                        "--max-self-preference", "0.5", "--out", str(tmp_path / "g")])
        assert gate.exit_code == 1 and "FAIL  max_self_preference" in gate.output
        fair = CliRunner().invoke(cli, ["check", "--judge", "globex-judge", "--data", str(data), "--config", str(cfg),
                                        "--max-self-preference", "0.5", "--out", str(tmp_path / "g2")])
        assert fair.exit_code == 0, fair.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    acme, globex, nameless = (res["judges"][n] for n in ("acme-judge", "globex-judge", "nameless"))
    assert acme["family"] == "acme" and globex["family"] == "globex" and nameless["family"] is None
    # by hand: d = judge - people per item from the rule above; own-family mean minus the others' mean
    rows = [json.loads(line) for line in data.read_text().splitlines() if line.startswith("{")]
    h = np.array([r["human_ratings"][0]["rating"] for r in rows], float)
    own = np.array([r["generator"] == "acme-writer" for r in rows])
    err = np.array([{0: 1, 1: -1}.get(i % 5, 0) for i in range(N)])
    d = np.clip(h + err + own, 1, 5) - h
    expected = d[own].mean() - d[~own].mean()
    sp = acme["self_preference"]
    assert sp["estimate"] == pytest.approx(expected) and expected > 0.8 and sp["ci"][0] > 0.5
    g = globex["self_preference"]
    assert abs(g["estimate"]) < 0.3 and g["ci"][0] <= 0 <= g["ci"][1]
    assert "unknown" in nameless["self_preference"]["reason"]
    matrix = res["self_preference_matrix"]["acme-judge"]
    assert set(matrix) == {"acme", "globex", "unknown"} and matrix["acme"]["estimate"] == pytest.approx(d[own].mean())
    assert "self-preference (acme): +" in r.output
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert html.count("<figure") == 8 and 'class="fig fig-self_preference"' in html  # drawn: two families


def test_families_match_names_and_model_ids_case_insensitively():
    fams = load_families()
    assert family_of(["claude"], fams) == "anthropic" and family_of(["x", "openai/gpt-5.4"], fams) == "openai"
    assert family_of(["Qwen-judge"], fams) == "qwen" and family_of(["style-explicit"], fams) is None
