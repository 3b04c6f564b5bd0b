"""`judge-audit study --judges NAME`: judges called on a pairwise study, through the real engine and
the local OpenAI-compatible server, audited beside the study's imported judges.

The study here is hand-written synthetic data (labels like style-import are not real models or
people); the two called judges are programmed responders of tests/openai_server.py."""

import json
import re

from click.testing import CliRunner

from audit.cli import cli
from openai_server import OpenAIServer, prompt_text
from cli_coverage import covers

N = 12


def write_study(path, n=N):
    """n items; the better response (the human label) holds the word GOOD, the other BAD; an imported
    judge that is right on every item in both orders."""
    lines = ["# hand-written synthetic pairwise study for tests/test_study_calls.py (not people, not models)"]
    for i in range(n):
        label = 1 if i % 2 == 0 else 2
        good, bad = f"GOOD answer {i}: a careful reply.", f"BAD answer {i}: a careless reply."
        r1, r2 = (good, bad) if label == 1 else (bad, good)
        lines.append(json.dumps({
            "id": f"p{i:02d}", "cluster": f"topic-{i % 4}", "prompt": f"Question number {i}?",
            "response_1": r1, "response_2": r2, "label": label,
            "verdicts": [{"judge": "style-import", "winner": label, "swap": False},
                         {"judge": "style-import", "winner": label, "swap": True}]}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def section(text: str, tag: str) -> str:
    m = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.S)
    return m.group(1) if m else ""


def sharp(request: dict):
    """Picks the response that says GOOD, whichever slot it is in."""
    text = prompt_text(request, ("user",))
    winner = "A" if "GOOD" in section(text, "response_a") else "B"
    return json.dumps({"winner": winner, "rationale": "the careful one"})


def first_slot(request: dict):
    """Always picks Response A: pure position bias."""
    return json.dumps({"winner": "A", "rationale": "the first one"})


def config(tmp_path, **servers):
    path = tmp_path / "judges.toml"
    path.write_text("".join(
        f'[judges.{name}]\nmodel = "openai/{name}"\napi_base = "{srv.base_url}"\napi_key_env = "JA_STUDY_KEY"\n'
        f'mode = "json"\nconcurrency = 4\nmax_retries = 1\ntimeout = 20\n\n' for name, srv in servers.items()))
    return path


def study(*args):
    return CliRunner().invoke(cli, ["study", *map(str, args)])


@covers("study --judges", "study --config", "study --both-orders")
def test_called_judges_are_audited_beside_the_imported_one_and_rerun_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JA_STUDY_KEY", "sk-study")
    data = write_study(tmp_path / "s.jsonl")
    with OpenAIServer(sharp, require_api_key="sk-study") as s1, OpenAIServer(first_slot, require_api_key="sk-study") as s2:
        cfg = config(tmp_path, sharp=s1, first=s2)
        args = ("--form", "pairwise", "--data", data, "--judges", "style-import,sharp,first", "--config", cfg,
                "--both-orders", "--out", tmp_path / "out")
        r = study(*args)
        assert r.exit_code == 0, r.output
        assert s1.count == s2.count == 2 * N  # both orders of every item
        res = json.loads((tmp_path / "out" / "results.json").read_text())
        j = res["judges"]
        assert j["style-import"]["accuracy"]["estimate"] == 1.0
        assert j["sharp"]["accuracy"]["estimate"] == 1.0 and j["sharp"]["positional_agreement"]["estimate"] == 1.0
        # always "A": right exactly when the right answer was shown first -- half the verdicts; never the
        # same answer in both orders; the first slot wins every decisive verdict
        assert j["first"]["accuracy"]["estimate"] == 0.5
        assert j["first"]["positional_agreement"]["estimate"] == 0.0
        assert j["first"]["position_bias"]["estimate"] == 1.0
        card = res["audit_card"]
        assert card["model_calls"] == 4 * N and card["called_judges"]["sharp"]["source"] == "called"
        assert "judge_pairwise" in card["prompt_templates"]
        rows = (tmp_path / "out" / "verdicts.csv").read_text().splitlines()
        assert len(rows) == 1 + 3 * 2 * N

        again = study(*args[:-1], tmp_path / "out2")
        assert again.exit_code == 0, again.output
        assert s1.count == s2.count == 2 * N  # every verdict from the cache
        assert json.loads((tmp_path / "out2" / "results.json").read_text())["judges"]["first"] == j["first"]


@covers("study --limit")
def test_one_order_follows_the_seeded_rng_and_limit_takes_the_first_items(tmp_path, monkeypatch):
    monkeypatch.setenv("JA_STUDY_KEY", "sk-study")
    data = write_study(tmp_path / "s.jsonl")
    with OpenAIServer(first_slot, require_api_key="sk-study") as srv:
        cfg = config(tmp_path, first=srv)
        r = study("--form", "pairwise", "--data", data, "--judges", "first", "--config", cfg, "--limit", "8",
                  "--out", tmp_path / "out")
        assert r.exit_code == 0, r.output
        assert srv.count == 8
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["n_items"] == 8 and list(res["judges"]) == ["first"]
    verdicts = [line.split(",") for line in (tmp_path / "out" / "verdicts.csv").read_text().splitlines()[1:]]
    swaps = {v[0]: v[3] for v in verdicts}
    assert set(swaps) == {f"p{i:02d}" for i in range(8)}
    from audit.data.judgments import PERSONALIZED_FIRST, presentation_order

    # response_2 first exactly when the shared RNG draws the second order for the item
    assert swaps == {i: str(presentation_order(i, 0, 0) == PERSONALIZED_FIRST) for i in swaps}


def test_calling_on_an_absolute_study_or_without_texts_is_a_usage_error(tmp_path):
    absolute = tmp_path / "a.jsonl"
    absolute.write_text("".join(json.dumps({"id": f"a{i}", "human_ratings": [{"annotator": "h", "criterion": "c", "rating": 3}],
                                            "judge_ratings": [{"judge": "j", "criterion": "c", "rating": 4}]}) + "\n"
                                for i in range(3)))
    r = study("--form", "absolute", "--data", absolute, "--judges", "local", "--out", tmp_path / "o")
    assert r.exit_code == 2 and "calling judges is supported on pairwise studies" in r.output
    bare = tmp_path / "p.jsonl"
    bare.write_text(json.dumps({"id": "x", "label": 1, "verdicts": [{"judge": "j", "winner": 1}]}) + "\n")
    r = study("--form", "pairwise", "--data", bare, "--judges", "local", "--out", tmp_path / "o")
    assert r.exit_code == 2 and "lack the prompt and both responses" in r.output


@covers("run --limit")
def test_run_limit_audits_the_first_items_only(tmp_path):
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "fixtures" / "example_imported.jsonl"
    r = CliRunner().invoke(cli, ["run", "--data", str(data), "--limit", "10", "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    first = [json.loads(line)["id"] for line in data.read_text().splitlines() if line.startswith("{")][:10]
    assert res["n_items"] == 10 and res["audit_card"]["limit"] == 10
    items = [json.loads(line)["item"]["id"] for line in (tmp_path / "out" / "items.jsonl").read_text().splitlines()
             if line.startswith("{")]
    assert items == first
    again = CliRunner().invoke(cli, ["report", "--from", str(tmp_path / "out"), "--out", str(tmp_path / "r.html")])
    assert again.exit_code == 0, again.output


def test_called_judge_with_the_confidence_variant_reports_calibration(tmp_path, monkeypatch):
    """`--judges NAME@confidence` on a pairwise study: the judge_pairwise@confidence prompt asks for a
    confidence (schema field); the judge here is right with confidence 0.9 on even items and wrong with
    0.55 on odd ones, so high (>= 0.8) accuracy is 1 and low accuracy 0."""
    monkeypatch.setenv("JA_STUDY_KEY", "sk-study")
    data = write_study(tmp_path / "s.jsonl")

    def unsure(request):
        text = prompt_text(request, ("user",))
        i = int(re.search(r"Question number (\d+)\?", text).group(1))
        good_in_a = "GOOD" in section(text, "response_a")
        assert "how sure you are" in prompt_text(request, ("system",))
        winner = ("A" if good_in_a else "B") if i % 2 == 0 else ("B" if good_in_a else "A")
        return json.dumps({"winner": winner, "confidence": 0.9 if i % 2 == 0 else 0.55, "rationale": "planted"})

    with OpenAIServer(unsure, require_api_key="sk-study") as srv:
        cfg = config(tmp_path, unsure=srv)
        r = study("--form", "pairwise", "--data", data, "--judges", "unsure@confidence", "--config", cfg,
                  "--out", tmp_path / "out")
        assert r.exit_code == 0, r.output
        schema = srv.requests[0]["messages"][0]["content"]
        assert "confidence" in schema  # json mode: the schema (with confidence) is spelled out in a message
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    cal = res["judges"]["unsure@confidence"]["calibration"]
    assert cal["n_with_confidence"] == N and (cal["high"]["n"], cal["high"]["estimate"]) == (N // 2, 1.0)
    assert (cal["low"]["n"], cal["low"]["estimate"]) == (N // 2, 0.0)
    card = res["audit_card"]
    assert "judge_pairwise@confidence" in card["prompt_templates"]
    assert card["called_judges"]["unsure@confidence"]["prompt"]["name"] == "judge_pairwise@confidence"
    bad = study("--form", "pairwise", "--data", data, "--judges", "unsure@debiased", "--config", cfg, "--out", tmp_path / "o2")
    assert bad.exit_code == 2 and "only NAME@confidence applies here" in bad.output
