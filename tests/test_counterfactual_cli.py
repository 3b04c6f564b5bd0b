"""`judge-audit counterfactual` end to end, with planted judges behind the loopback OpenAI server.

The planted "namer" rates the personalized response +1 whenever it explicitly names an attribute
(the offline flagger run on the response text inside the request), so its causal mention effect is
+1 by construction; the indifferent judge never looks at mentions (effect 0). Both add the same
deterministic per-text noise so the intervals are not degenerate.
"""

import csv
import hashlib
import json
import re

import pytest
from click.testing import CliRunner

from audit.cli import cli
from audit.text.ablation import ablate
from audit.gate.checks import counterfactual_checks
from audit.text.mention import flag_offline
from audit.data.items import load_items
from audit.audits.preference import bundled_example
from openai_server import OpenAIServer, judge_responder, prompt_text
from cli_coverage import covers


def _parts(text: str):
    attrs = re.findall(r"^- (.*)$", re.search(r"<user_profile>(.*?)</user_profile>", text, re.S).group(1), re.M)
    a = re.search(r"<response_a>\n(.*?)\n</response_a>", text, re.S).group(1)
    b = re.search(r"<response_b>\n(.*?)\n</response_b>", text, re.S).group(1)
    return attrs, a, b


def _noise(text: str) -> int:
    return 1 if hashlib.sha256(text.encode()).digest()[0] % 5 == 0 else 0


def planted(bonus: int):
    """Rating of A (1) vs B (5): 3 + bonus * (mention in B - mention in A) + noise(B) - noise(A), in 1..5."""
    def rule(text: str) -> int:
        attrs, a, b = _parts(text)

        def m(t):
            return int(flag_offline(t, attrs).flagged)

        return 3 + bonus * (m(b) - m(a)) + _noise(b) - _noise(a)
    return rule


def _config(tmp_path, **servers) -> str:
    path = tmp_path / "judges.toml"
    path.write_text("".join(
        f'[judges.{name}]\nmodel = "openai/{name}"\napi_base = "{srv.base_url}"\napi_key_env = "JA_TEST_KEY"\n'
        f'mode = "json"\nconcurrency = 8\nmax_retries = 1\ntimeout = 20\nparams = {{ temperature = 0.0 }}\n'
        for name, srv in servers.items()))
    return str(path)


def _invoke(*args):
    return CliRunner().invoke(cli, ["counterfactual", *map(str, args)])


def _subset(tmp_path, n: int, extra: list[dict] | None = None):
    lines = [ln for ln in bundled_example().read_text().splitlines() if ln.startswith("{")][:n]
    rows = [json.loads(ln) for ln in lines] + (extra or [])
    path = tmp_path / "subset.jsonl"
    path.write_text("# hand-written illustrative example data (a subset of fixtures/example.jsonl)\n"
                    + "\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("JA_TEST_KEY", "sk-test")


@covers("counterfactual",
        "counterfactual --data",
        "counterfactual --judges",
        "counterfactual --config",
        "counterfactual --out")
def test_planted_mention_bonus_is_estimated_at_one_and_indifference_at_zero(tmp_path):
    with OpenAIServer(judge_responder(planted(1), roles=("user",))) as namer, \
            OpenAIServer(judge_responder(planted(0), roles=("user",))) as indifferent:
        cfg = _config(tmp_path, namer=namer, indifferent=indifferent)
        out = tmp_path / "out"
        result = _invoke("--data", bundled_example(), "--judges", "namer,indifferent", "--config", cfg, "--out", out)
        assert result.exit_code == 0, result.output
        n_calls = namer.count
        assert n_calls == indifferent.count == 44 + 44  # every original and one variant per item

        res = json.loads((out / "results.json").read_text())["counterfactual"]
        assert res["ablation"]["n_variants"] == 23 and res["injection"]["n_variants"] == 21
        for kind in ("ablation", "injection"):
            est = res["judges"]["namer"][f"{kind}_effect"]
            lo, hi = est["ci"]
            assert lo > 0 and lo <= 1 <= hi, (kind, est)
            assert est["estimate"] == pytest.approx(1, abs=0.25) and est["p_value"] < 0.001
            flat = res["judges"]["indifferent"][f"{kind}_effect"]
            assert flat["ci"][0] <= 0 <= flat["ci"][1], (kind, flat)
            assert abs(flat["estimate"]) < 0.25
        namer_entry = res["judges"]["namer"]
        assert namer_entry["observational_mention_delta"]["estimate"] > 0.5
        assert "estimate" in namer_entry["observational_minus_ablation"]
        assert res["humans"]["mention_delta"]["n"] == 44
        assert "namer: mention effect by ablation +" in result.stdout

        # the gate: |CI bound| farthest from 0 <= 0.5 fails for the namer, passes for the indifferent judge
        checks = {c.name: c for c in counterfactual_checks({"counterfactual": res}, {"max_counterfactual_effect": 0.5})}
        assert not checks["max_counterfactual_effect:ablation:namer"].passed
        assert checks["max_counterfactual_effect:ablation:indifferent"].passed
        assert checks["max_counterfactual_effect:injection:indifferent"].passed

        # a variant is judged in the same presentation order as its original
        rows = list(csv.DictReader((out / "counterfactual_judgments.csv").open()))
        order = {(r["judge"], r["item_id"]): r["order"] for r in rows}
        variant_rows = [r for r in rows if "#" in r["item_id"]]
        assert len(variant_rows) == 88
        assert all(r["order"] == order[(r["judge"], r["item_id"].split("#")[0])] for r in variant_rows)
        assert {r["order"] for r in variant_rows} == {"generic_first", "personalized_first"}

        # variants.jsonl is input for judge-audit run: ablations unflagged, injections flagged
        variants = load_items(out / "variants.jsonl")
        assert len(variants.items) == 44
        for it in variants.items:
            cf = it.meta["counterfactual"]
            assert it.id == cf["original_id"] + ("#ablated" if cf["kind"] == "ablation" else "#injected")
            assert flag_offline(it.personalized, it.attributes).flagged == (cf["kind"] == "injection") == it.mention
            assert it.human_ratings == [] and cf["changes"]
        page = (out / "counterfactual.html").read_text()
        assert 'id="counterfactual"' in page and "cf-del" in page and "namer" in page

        # the same command again: every judgment from the cache, no request reaches a server
        again = _invoke("--data", bundled_example(), "--judges", "namer,indifferent", "--config", cfg,
                        "--out", tmp_path / "out2")
        assert again.exit_code == 0, again.output
        assert namer.count == n_calls and indifferent.count == n_calls
        rows2 = list(csv.DictReader((tmp_path / "out2" / "counterfactual_judgments.csv").open()))
        assert all(r["cached"] == "True" for r in rows2)
        res2 = json.loads((tmp_path / "out2" / "results.json").read_text())["counterfactual"]
        assert res2["judges"]["namer"]["ablation_effect"] == res["judges"]["namer"]["ablation_effect"]


@covers("counterfactual --both-orders")
def test_both_orders_pairs_calls_and_report_escapes_answers(tmp_path):
    evil = {"id": "x-evil", "user_id": "user-x", "prompt": "Any tips?", "attributes": ["nurse"],
            "generic": "Drink water and rest.",
            "personalized": "As a nurse, you know <script>alert(1)</script> hydration matters. Drink water often. "
                            "Rest between shifts when you can, and keep snacks at hand.",
            "generator": "style-x"}
    data = _subset(tmp_path, 4, [evil])
    with OpenAIServer(judge_responder(planted(1), roles=("user",))) as srv:
        cfg = _config(tmp_path, namer=srv)
        result = _invoke("--data", data, "--judges", "namer", "--config", cfg, "--out", tmp_path / "out", "--both-orders")
        assert result.exit_code == 0, result.output
        assert srv.count == 2 * (5 + 5)
    rows = list(csv.DictReader((tmp_path / "out" / "counterfactual_judgments.csv").open()))
    by_item: dict[str, set] = {}
    for r in rows:
        by_item.setdefault(r["item_id"], set()).add(r["order"])
    assert all(v == {"generic_first", "personalized_first"} for v in by_item.values())
    page = (tmp_path / "out" / "counterfactual.html").read_text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    res = json.loads((tmp_path / "out" / "results.json").read_text())["counterfactual"]
    assert res["settings"]["both_orders"] is True
    assert res["judges"]["namer"]["n_calls"] == 20


def _rewriter(kind: str):
    def respond(request: dict) -> str:
        text = prompt_text(request, roles=("user",))
        attrs = re.findall(r"^- (.*)$", re.search(r"<user_profile>(.*?)</user_profile>", text, re.S).group(1), re.M)
        answer = re.search(r"<answer>\n(.*?)\n</answer>", text, re.S).group(1)
        edited = ablate(answer, attrs)
        edited = answer if isinstance(edited, str) else edited.text
        if kind == "sloppy":
            edited += " Enjoy!"
        return json.dumps({"answer": edited})
    return respond


@pytest.mark.parametrize("kind", ["careful", "sloppy"])
@covers("counterfactual --rewriter")
def test_rewriter_output_is_checked(tmp_path, kind):
    data = _subset(tmp_path, 6)
    with OpenAIServer(judge_responder(planted(1), roles=("user",))) as judge, OpenAIServer(_rewriter(kind)) as rw:
        cfg = _config(tmp_path, namer=judge, rewriter=rw)
        result = _invoke("--data", data, "--judges", "namer", "--config", cfg, "--out", tmp_path / "out",
                         "--rewriter", "rewriter")
        assert result.exit_code == 0, result.output
        n_ablations = sum(flag_offline(it.personalized, it.attributes).flagged for it in load_items(data).items)
        assert rw.count == n_ablations == 4
    res = json.loads((tmp_path / "out" / "results.json").read_text())["counterfactual"]
    variants = {it.id: it for it in load_items(tmp_path / "out" / "variants.jsonl").items}
    ablated = [it for it in variants.values() if it.id.endswith("#ablated")]
    if kind == "careful":
        assert res["ablation"]["methods"] == {"rewrite:rewriter": 4} and res["ablation"]["notes"] == []
    else:  # every rewrite added a sentence: rejected, the deterministic deletion is used, and why is recorded
        assert "rewrite:rewriter" not in res["ablation"]["methods"]
        assert len(res["ablation"]["notes"]) == 4
        assert all("rejected: the rewrite changed text outside the mention" in n["note"] for n in res["ablation"]["notes"])
        assert all(not it.personalized.endswith("Enjoy!") for it in ablated)
        assert all(it.meta["counterfactual"]["notes"] for it in ablated)
    assert res["settings"]["rewriter"] == "rewriter"


@pytest.mark.parametrize("setup,message", [
    (lambda p: p.joinpath("missing.jsonl"), "file not found"),
    (lambda p: (p.joinpath("bad.jsonl").write_text('{"id": "a"\n'), p.joinpath("bad.jsonl"))[1], "line 1"),
    (lambda p: (p.joinpath("taken.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"id": "a", "prompt": "q", "attributes": ["nurse"], "generic": "g", "personalized": "p", "generator": "s"},
        {"id": "a#ablated", "prompt": "q", "attributes": ["nurse"], "generic": "g", "personalized": "p", "generator": "s"},
    ])), p.joinpath("taken.jsonl"))[1], "is taken"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, setup, message):
    result = _invoke("--data", setup(tmp_path), "--judges", "openai/never-called", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def test_bad_options_exit_2(tmp_path):
    assert _invoke("--judges", "no-such-judge", "--out", tmp_path / "o").exit_code == 2
    assert _invoke("--judges", "openai/x", "--rewriter", "no-such-model", "--out", tmp_path / "o").exit_code == 2
    assert _invoke("--samples", "0").exit_code == 2
    imported = bundled_example().parent / "example_imported.jsonl"
    judge = load_items(imported).imported_judges[0]
    clash = _invoke("--data", imported, "--judges", judge, "--out", tmp_path / "o")
    assert clash.exit_code == 2 and "imported ratings" in clash.stderr


def test_missing_key_exits_3(tmp_path, monkeypatch):
    monkeypatch.delenv("JA_TEST_KEY")
    with OpenAIServer() as srv:
        result = _invoke("--judges", "namer", "--config", _config(tmp_path, namer=srv), "--out", tmp_path / "o")
        assert result.exit_code == 3 and "JA_TEST_KEY" in result.stderr
        assert srv.count == 0


@pytest.mark.slow
def test_local_judge_is_the_default(tmp_path):
    from conftest import require_local_judge

    require_local_judge()
    # ex-001 (a mention: ablation) and ex-003 (none: injection): 4 calls of the real local judge
    lines = [ln for ln in bundled_example().read_text().splitlines() if ln.startswith("{")]
    data = tmp_path / "two.jsonl"
    data.write_text(lines[0] + "\n" + lines[2] + "\n")
    result = _invoke("--data", data, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    res = json.loads((tmp_path / "out" / "results.json").read_text())["counterfactual"]
    local = res["judges"]["local"]
    assert local["model"] == "local-gguf/smollm2-135m-instruct" and local["n_calls"] == 4
    assert local["ablation_effect"]["n"] == 1 and local["injection_effect"]["n"] == 1
    assert local["ablation_effect"]["estimate"] is not None


def test_gate_checks_and_section_render_from_a_section_alone():
    from types import SimpleNamespace

    from audit.render.counterfactual import render_counterfactual_html, render_counterfactual_section

    section = {"n_items": 2, "judges": {"j": {
        "model": "m", "warnings": [],
        "ablation_effect": {"estimate": 0.1, "ci": None, "n": 1, "reason": "fewer than 2 pairs: no interval"},
        "injection_effect": {"estimate": -0.4, "ci": [-0.6, 0.1], "n": 5, "p_value": 0.2}}},
        "ablation": {"n_variants": 1, "methods": {"clause": 1}, "skipped": [], "notes": []},
        "injection": {"n_variants": 5, "methods": {"template": 5}, "skipped": [{"item_id": "z", "reason": "r <b>"}]},
        "humans": {"n_items": 0, "mention_delta": {"estimate": None}, "note": ""},
        "examples": [{"item_id": "a", "kind": "ablation", "method": "clause", "template": None, "attribute": None,
                      "prompt": "p", "original": "As a nurse, rest.", "variant": "Rest.",
                      "changes": [{"start": 0, "end": 16, "variant_start": 0, "variant_end": 4}],
                      "ratings": {"j": {"original": 4.0, "variant": 3.0}}}]}
    assert counterfactual_checks(section, {}) == []
    checks = counterfactual_checks({"counterfactual": section}, SimpleNamespace(max_counterfactual_effect=0.5))
    assert [(c.name, c.passed) for c in checks] == [("max_counterfactual_effect:ablation", False),
                                                    ("max_counterfactual_effect:injection", False)]
    assert "cannot decide" in checks[0].detail and checks[1].bound == pytest.approx(0.6)
    assert counterfactual_checks(section, {"max_counterfactual_effect": 0.7})[1].passed
    html = render_counterfactual_section(section)
    assert html.lstrip().startswith('<section id="counterfactual"') and "<html" not in html
    assert '<span class="cf-del">As a nurse, rest</span>' in html and "r &lt;b&gt;" in html
    assert render_counterfactual_html(section).startswith("<!doctype html>")
