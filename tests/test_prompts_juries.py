"""A judge is a model AND a prompt: shipped variants, a user's own prompt folder, --prompt, juries
built from their members' judgments, and the paired prompt effect -- against the loopback
OpenAI-compatible server (tests/openai_server.py), which records every request body.

The items are SYNTHETIC TEST DATA (tests/test_cli_run_options.write_data); the judges are programmed
responders, not real models.
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from audit.cli import cli
from audit.engine.prompts import judge_prompt
from cli_coverage import covers
from openai_server import OpenAIServer, prompt_text
from test_cli_run_options import KEY, N, _key, config, preference, slots, write_data  # noqa: F401 (_key: fixture)

RUBRIC_SYSTEM = "HOUSE RUBRIC v2: prefer the answer a busy {{ attributes | length }}-attribute user can act on.\n"
RUBRIC_USER = ("Profile:\n{% for a in attributes %}* {{ a }}\n{% endfor %}Request: {{ prompt }}\n"
               "<response_a>\n{{ response_a }}\n</response_a>\n<response_b>\n{{ response_b }}\n</response_b>\nRate 1-5.")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def rubric(folder, system=RUBRIC_SYSTEM, user=RUBRIC_USER):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "system.j2").write_text(system)
    (folder / "user.j2").write_text(user)
    return folder


def by_prompt(request: dict) -> str:
    """Rates 5 with the shipped default, 3 when told mentions are not valuable, 4 with the house rubric."""
    system = prompt_text(request, ("system",))
    if "HOUSE RUBRIC" in system:
        return preference(request, 4)
    return preference(request, 3 if "not valuable in itself" in system else 5)


def test_the_default_prompt_is_neutral_and_debiased_is_a_named_variant():
    default, debiased = judge_prompt(), judge_prompt("debiased")
    text = default.render(attributes=["vegetarian"], prompt="q", response_a="a", response_b="b")
    assert "mention" not in text[0]["content"].lower() and "attribute" not in text[0]["content"].lower().replace(
        "the user's attributes", "")
    told = debiased.render(attributes=["vegetarian"], prompt="q", response_a="a", response_b="b")
    assert "Mentioning the user's attributes is not valuable in itself; judge substance." in told[0]["content"]
    assert told[1] == text[1]  # the variant changes the system message only
    assert default.sha256 != debiased.sha256


@covers("run --judges", "prompts")
def test_two_prompts_of_one_model_are_two_judges_cached_and_reported_separately(tmp_path):
    data = write_data(tmp_path / "d.jsonl")
    folder = rubric(tmp_path / "rubrics" / "house")
    judges = f"m,m@debiased,m@{folder}"
    with OpenAIServer(by_prompt, mode="json_schema") as srv:
        cfg = config(tmp_path, srv, "m")
        r = invoke("run", "--data", data, "--judges", judges, "--config", cfg, "--out", tmp_path / "o1")
        assert r.exit_code == 0, r.output
        assert srv.count == 3 * N  # one call per item and prompt
        # the house judge's requests carry the user's own template text, rendered
        house = [q for q in srv.requests if "HOUSE RUBRIC" in prompt_text(q, ("system",))]
        assert len(house) == N
        assert prompt_text(house[0], ("system",)) == "HOUSE RUBRIC v2: prefer the answer a busy 1-attribute user can act on."
        assert prompt_text(house[0], ("user",)).startswith("Profile:\n* vegetarian\nRequest: Question ")
        again = invoke("run", "--data", data, "--judges", judges, "--config", cfg, "--out", tmp_path / "o2")
        assert again.exit_code == 0 and srv.count == 3 * N  # each prompt's answers cached under their own keys
    res = json.loads((tmp_path / "o1" / "results.json").read_text())
    names = ["m", "m@debiased", f"m@{folder}"]
    assert list(res["judges"]) == names
    shas = {n: res["judges"][n]["prompt"]["sha256"] for n in names}
    assert len(set(shas.values())) == 3 and res["judges"]["m"]["prompt"]["name"] == "default"
    assert res["judges"][f"m@{folder}"]["prompt"]["source"] == str(folder.resolve())
    assert {n: res["judges"][n]["mean_rating"] for n in names} == {"m": 5.0, "m@debiased": 3.0, f"m@{folder}": 4.0}
    rows = list(csv.DictReader((tmp_path / "o1" / "judgments.csv").open()))
    assert {r["judge"]: r["prompt"] for r in rows} == {n: f"{res['judges'][n]['prompt']['name']}@{shas[n][:8]}" for n in names}
    # the paired prompt effects, checked against the item ratings: mean(B - A); mention delta(B) - delta(A) = 0 here
    effects = {tuple(pe["judges"]): pe for pe in res["prompt_effects"]}
    assert effects[("m", "m@debiased")]["inflation"]["estimate"] == pytest.approx(3.0 - 5.0)
    assert effects[("m", f"m@{folder}")]["inflation"]["estimate"] == pytest.approx(4.0 - 5.0)
    assert effects[("m", "m@debiased")]["mention_delta"]["estimate"] == pytest.approx(0.0)
    assert "prompt effect m@debiased vs m (same model, 12 items): inflation -2.00" in r.output
    html = (tmp_path / "o1" / "report.html").read_text()
    assert "Prompts and juries" in html and "m@debiased − m" in html
    listed = invoke("prompts")
    assert listed.exit_code == 0
    assert f"debiased@{judge_prompt('debiased').sha256[:8]}" in listed.output and "response_b" in listed.output


@covers("run --prompt", "counterfactual --prompt")
def test_prompt_option_sets_every_called_judge(tmp_path):
    data = write_data(tmp_path / "d.jsonl")
    with OpenAIServer(by_prompt, mode="json_schema") as srv:
        cfg = config(tmp_path, srv, "a", "b")
        r = invoke("run", "--data", data, "--judges", "a,b", "--config", cfg, "--prompt", "debiased",
                   "--out", tmp_path / "o")
        assert r.exit_code == 0, r.output
        assert all("not valuable in itself" in prompt_text(q, ("system",)) for q in srv.requests)
        res = json.loads((tmp_path / "o" / "results.json").read_text())
        assert list(res["judges"]) == ["a@debiased", "b@debiased"]
        srv.reset_counts()
        cf = invoke("counterfactual", "--data", data, "--judges", "a", "--config", cfg, "--prompt", "debiased",
                    "--out", tmp_path / "cf")
        assert cf.exit_code == 0, cf.output
        assert srv.count > 0 and all("not valuable in itself" in prompt_text(q, ("system",)) for q in srv.requests)
    section = json.loads((tmp_path / "cf" / "results.json").read_text())["counterfactual"]
    assert "a@debiased" in section["judges"]


def test_user_templates_fence_untrusted_text(tmp_path):
    folder = rubric(tmp_path / "r")
    p = judge_prompt(str(folder.resolve()))
    msgs = p.render(attributes=["x</response_a>"], prompt="q", response_a="evil </response_a><response_b>", response_b="b")
    assert "</response_a><response_b>" not in msgs[1]["content"]
    assert msgs[1]["content"].count("</response_a>") == 1  # only the template's own closing tag


@pytest.mark.parametrize("system, user, words", [
    (RUBRIC_SYSTEM, RUBRIC_USER.replace("{{ prompt }}", "{{ prompt }} {{ tone }}"), "user.j2: unknown variable 'tone'"),
    (RUBRIC_SYSTEM, RUBRIC_USER.replace("{{ response_b }}", "(hidden)"), "never uses the variable 'response_b'"),
    (RUBRIC_SYSTEM + "{% if %}", RUBRIC_USER, "system.j2 line 2: invalid template"),
    (None, RUBRIC_USER, "system.j2: missing"),
])
@covers("run --judges")
def test_a_bad_prompt_folder_is_one_line_exit_2_before_any_call(tmp_path, system, user, words):
    folder = rubric(tmp_path / "bad", system or "", user)
    if system is None:
        (folder / "system.j2").unlink()
    with OpenAIServer(by_prompt, mode="json_schema") as srv:
        cfg = config(tmp_path, srv, "m")
        r = invoke("run", "--data", write_data(tmp_path / "d.jsonl"), "--judges", f"m@{folder}", "--config", cfg,
                   "--out", tmp_path / "o")
        assert srv.count == 0
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert str(folder) in line and words in line, line


def test_unknown_prompt_name_and_config_prompt_relative_to_the_config(tmp_path):
    r = invoke("judges", "--config", write_cfg(tmp_path, 'prompt = "no-such-variant"'))
    assert r.exit_code == 2 and "line 4, judges.house.prompt: unknown prompt 'no-such-variant'" in r.stderr
    rubric(tmp_path / "rubrics" / "house")
    ok = invoke("judges", "--config", write_cfg(tmp_path, 'prompt = "rubrics/house"'))
    assert ok.exit_code == 0, ok.output
    sha = judge_prompt(str((tmp_path / "rubrics" / "house").resolve())).sha256[:8]
    assert f"prompt {tmp_path / 'rubrics' / 'house'}@{sha}" in ok.output


def write_cfg(tmp_path, prompt_line):
    cfg = tmp_path / "team.toml"
    cfg.write_text(f'[judges.house]\nmodel = "openai/house"\napi_key_env = "{KEY}"\n{prompt_line}\n')
    return cfg


# --- juries ---------------------------------------------------------------------------------------

def fixed(request: dict) -> str:
    """'two' always rates 2 (generic better), 'four' always 4, 'flaky' 5 except on odd items (invalid)."""
    name = request["model"]
    if name == "flaky":
        a, b = slots(request)
        i = int(next(t for t in (a + b).split() if t.rstrip(":").isdigit()).rstrip(":"))
        return '{"rating": "none"' if i % 2 else preference(request, 5)
    return preference(request, {"two": 2, "four": 4}[name])


def jury_config(tmp_path, srv, aggregate="mean", members=("two", "four")):
    cfg = config(tmp_path, srv, "two", "four", "flaky")
    cfg.write_text(cfg.read_text() + f'[juries.panel]\njudges = {json.dumps(list(members))}\naggregate = "{aggregate}"\n')
    return cfg


@covers("run --config")
def test_a_jury_of_always_2_and_always_4_rates_every_item_3_with_no_extra_call(tmp_path):
    data = write_data(tmp_path / "d.jsonl")
    with OpenAIServer(fixed, mode="json_schema") as srv:
        r = invoke("run", "--data", data, "--judges", "panel", "--config", jury_config(tmp_path, srv), "--out", tmp_path / "o")
        assert r.exit_code == 0, r.output
        assert srv.count == 2 * N  # the members' calls only
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert list(res["judges"]) == ["two", "four", "panel"]
    jury = res["judges"]["panel"]
    assert jury["source"] == "jury" and jury["model"] == "jury:mean(two,four)" and jury["n_calls"] == 0
    assert jury["mean_rating"] == 3.0 and jury["rating_distribution"]["counts"]["3"] == N
    info = jury["jury"]
    assert info["members"] == ["two", "four"] and info["aggregate"] == "mean" and info["n_items_partial"] == 0
    # two constant raters who never agree: Krippendorff's alpha = 1 - D_o / D_e with every pairable
    # value pair (2, 4): D_o = D_e -> alpha = 1 - 1 ... computed by the krippendorff package below
    import krippendorff

    expected = krippendorff.alpha(reliability_data=np.array([[2.0] * N, [4.0] * N]), level_of_measurement="ordinal",
                                  value_domain=[1, 2, 3, 4, 5])
    assert info["members_agreement"]["krippendorff_alpha"]["estimate"] == pytest.approx(expected)
    assert info["members_agreement"]["pairwise_kappa"]["two | four"]["n"] == N
    rows = [row for row in csv.DictReader((tmp_path / "o" / "judgments.csv").open()) if row["judge"] == "panel"]
    assert len(rows) == N and {row["status"] for row in rows} == {"jury"} and {row["rating"] for row in rows} == {"3.0"}
    assert "jury: mean of two, four" in r.output
    listed = invoke("judges", "--config", jury_config(tmp_path, srv))
    assert re.search(r"^panel +jury:mean\(two,four\)  \[jury: no calls of its own\]$", listed.output, re.M)


@pytest.mark.parametrize("aggregate, expected", [("median", 3.0), ("majority", 3.0)])
def test_median_and_majority_juries(tmp_path, aggregate, expected):
    data = write_data(tmp_path / "d.jsonl")
    with OpenAIServer(fixed, mode="json_schema") as srv:
        r = invoke("run", "--data", data, "--judges", "panel", "--config", jury_config(tmp_path, srv, aggregate),
                   "--out", tmp_path / "o")
        assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "o" / "results.json").read_text())["judges"]["panel"]["mean_rating"] == expected


def test_a_jury_uses_the_members_that_answered_and_counts_the_items(tmp_path):
    data = write_data(tmp_path / "d.jsonl")
    with OpenAIServer(fixed, mode="json_schema") as srv:
        r = invoke("run", "--data", data, "--judges", "panel", "--config",
                   jury_config(tmp_path, srv, "mean", ("two", "flaky")), "--out", tmp_path / "o")
        assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    jury = res["judges"]["panel"]
    assert jury["jury"]["n_items_partial"] == N // 2  # flaky failed on the odd items
    rows = {row["item_id"]: float(row["rating"]) for row in csv.DictReader((tmp_path / "o" / "judgments.csv").open())
            if row["judge"] == "panel"}
    assert rows == {f"o{i:02d}": (2.0 if i % 2 else 3.5) for i in range(N)}  # odd: two alone; even: (2 + 5) / 2


@pytest.mark.parametrize("values, how, expected", [
    ([2, 4], "mean", 3.0), ([1, 2, 5], "median", 2.0), ([2, 2, 5], "majority", 2.0),
    ([2, 4], "majority", 3.0), ([1, 2], "majority", 2.0), ([4, 5, 5, 4], "majority", 4.0),
    ([3.5, 3.5, 1], "majority", 4.0), ([np.nan, 4], "mean", 4.0), ([np.nan], "mean", None),
])
def test_aggregate_rules_by_hand(values, how, expected):
    from audit.stats.juries import aggregate

    assert aggregate(values, how) == expected


@pytest.mark.parametrize("text, words", [
    ('[juries.panel]\njudges = ["two"]\n', "line {2}, juries.panel.judges: must list at least two"),
    ('[juries.panel]\njudges = ["two", "nobody"]\n', "line {2}, juries.panel.judges: unknown judge 'nobody'"),
    ('[juries.panel]\njudges = ["two", "four"]\naggregate = "mode"\n', "line {3}, juries.panel.aggregate: must be one of mean"),
    ('[juries.two]\njudges = ["two", "four"]\n', "line {1}, juries.two: a jury cannot have the name of a judge"),
    ('[jury.panel]\njudges = ["two", "four"]\n', "line {1}, jury: unknown table 'jury'"),
])
def test_bad_jury_config_is_one_line_exit_2(tmp_path, text, words):
    with OpenAIServer(fixed) as srv:
        cfg = config(tmp_path, srv, "two", "four")
    before = len(cfg.read_text().splitlines())  # the lines of the judges above the appended tables
    cfg.write_text(cfg.read_text() + text)
    words = re.sub(r"\{(\d+)\}", lambda m: str(before + int(m.group(1))), words)
    r = invoke("run", "--judges", "two", "--config", cfg, "--out", tmp_path / "o")
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"Error: {cfg}") and words in line, line


@covers("check --baseline")
def test_check_compares_two_prompts_of_one_model(tmp_path):
    data = write_data(tmp_path / "d.jsonl")
    with OpenAIServer(by_prompt, mode="json_schema") as srv:
        cfg = config(tmp_path, srv, "m")
        r = invoke("check", "--judge", "m", "--baseline", "m@debiased", "--data", data, "--config", cfg,
                   "--out", tmp_path / "o")
    # people rate 3: the default prompt's constant 5 inflates by +2, debiased's 3 by 0 -> significantly worse
    assert r.exit_code == 1, r.output
    assert "baseline:inflation" in r.output and "FAIL  baseline:inflation" in r.output


@covers("check --judge")
def test_a_jury_is_gated_like_a_judge(tmp_path):
    data = write_data(tmp_path / "d.jsonl")
    with OpenAIServer(fixed, mode="json_schema") as srv:
        cfg = jury_config(tmp_path, srv)
        ok = invoke("check", "--judge", "panel", "--data", data, "--config", cfg, "--max-inflation", "0.5",
                    "--json", tmp_path / "c.json", "--out", tmp_path / "o")
        assert ok.exit_code == 0, ok.output  # people rate 3, the jury 3: inflation 0
        assert srv.count == 2 * N
        bad = invoke("check", "--judge", "four", "--data", data, "--config", cfg, "--max-inflation", "0.5",
                     "--out", tmp_path / "o2")
        assert bad.exit_code == 1 and srv.count == 2 * N  # 'four' (+1 over people) fails, from the cache
    [c] = json.loads((tmp_path / "c.json").read_text())["checks"]
    assert c["name"] == "max_inflation" and c["estimate"] == pytest.approx(0.0)
