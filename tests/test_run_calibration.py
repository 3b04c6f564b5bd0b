"""Called judges report a confidence (issue 16): a prompt that declares ``{# output: confidence #}`` (the
shipped ``confidence`` variant) asks for it in the output schema; a judge whose ``params`` set
``logprobs = true`` gets the probability of its rating from the provider's log-probabilities. ``run``
then reports ``judges.J.calibration`` against people's majority direction, in the terminal and the report.

Every judge here is a planted responder on the loopback OpenAI-compatible server (real HTTP through
litellm and instructor). HAND-WRITTEN SYNTHETIC DATA: no real answers, people or models.
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss

from cli_coverage import covers
from openai_server import OpenAIServer, prompt_text
from test_cli_run_options import KEY, _key, config, invoke, slots  # noqa: F401 - _key: the API key fixture

# item i: people's ratings (generic 1 .. personalized 5) and the judge's planted confidence
PEOPLE = {0: (4, 5), 1: (5, 4), 2: (4, 4), 3: (5, 5), 4: (2, 1), 5: (1, 2), 6: (4, 2), 7: (2, 4)}
CONFIDENCE = {0: .9, 1: .9, 2: .9, 3: .9, 4: .9, 5: .9, 6: .6, 7: .6}


def write_data(path):
    with path.open("w") as fh:
        fh.write("# SYNTHETIC TEST DATA written by tests/test_run_calibration.py: not real answers or people\n")
        for i, ratings in PEOPLE.items():
            fh.write(json.dumps({
                "id": f"c{i}", "user_id": f"u{i // 2}", "prompt": f"Question {i}: what should I cook tonight?",
                "attributes": ["vegetarian"], "generator": "style-test", "generic": f"GENERIC answer {i}: pasta.",
                "personalized": f"PERSONAL answer {i}: lentil curry.",
                "human_ratings": [{"annotator": f"annotator-{k}", "rating": r} for k, r in enumerate(ratings)]}) + "\n")
    return path


def item_of(request) -> int:
    return int(re.search(r"Question (\d+):", prompt_text(request, ("user",))).group(1))


def responder(request):
    """Always "personalized better" (4 on the generic..personalized scale); states its planted
    confidence only when the system prompt asks for one."""
    a, _ = slots(request)
    answer = {"rating": 2 if "PERSONAL" in a else 4, "rationale": "planted"}
    if "how sure you are" in prompt_text(request, ("system",)):
        answer["confidence"] = CONFIDENCE[item_of(request)]
    return json.dumps(answer)


def run(tmp_path, srv, judges, *extra, names=("conf",)):
    out = tmp_path / "out"
    r = invoke("run", "--data", write_data(tmp_path / "d.jsonl"), "--judges", judges, "--config",
               config(tmp_path, srv, *names), "--out", out, "--cache-dir", tmp_path / "cache", *extra)
    assert r.exit_code == 0, r.output
    return json.loads((out / "results.json").read_text()), r.output, out


def test_stated_confidence_gives_the_calibration_block(tmp_path):
    with OpenAIServer(responder, mode="json_schema") as srv:
        res, output, out = run(tmp_path, srv, "conf@confidence", "--both-orders")
        schema = srv.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["confidence"]["minimum"] == 0 and schema["properties"]["confidence"]["maximum"] == 1
    assert "confidence" in schema["required"]
    cal = res["judges"]["conf@confidence"]["calibration"]
    # by hand: 16 decisive verdicts (8 items x 2 orders, all "personalized"); people's majority says
    # personalized on c0-c3, generic on c4-c5, and splits evenly on c6-c7 ("same"): 8 of 16 correct.
    # high (>= 0.8): c0-c5 -> 8/12; low: c6, c7 -> 0/4.
    # ECE: bin (.8, .9]: 12 verdicts, 8 correct, confidences sum 10.8 -> 2.8; bin (.5, .6]: 4, 0, 2.4 -> 2.4
    assert cal["n"] == 16 and cal["n_with_confidence"] == 16 and cal["threshold"] == 0.8
    assert (cal["high"]["n"], cal["high"]["estimate"]) == (12, pytest.approx(8 / 12))
    assert (cal["low"]["n"], cal["low"]["estimate"]) == (4, 0.0)
    assert cal["ece"]["estimate"] == pytest.approx((2.8 + 2.4) / 16)
    correct = [i < 4 for i in PEOPLE for _ in range(2)]
    assert cal["brier"]["estimate"] == pytest.approx(brier_score_loss(correct, [CONFIDENCE[i] for i in PEOPLE for _ in range(2)]))
    # the CI resamples users (4 clusters), and every verdict's confidence is in judgments.csv
    assert cal["ece"]["n_clusters"] == 4 and cal["ece"]["ci"][0] <= cal["ece"]["estimate"] <= cal["ece"]["ci"][1]
    rows = list(csv.DictReader((out / "judgments.csv").open()))
    assert sorted({(r["item_id"], float(r["confidence"])) for r in rows}) == sorted((f"c{i}", c) for i, c in CONFIDENCE.items())
    assert "confidence: decisive verdicts agree with people 0.67" in output
    page = (out / "report.html").read_text()
    assert 'id="calibration"' in page and "conf@confidence" in page


@covers("run --confidence-threshold")
def test_confidence_threshold_of_run(tmp_path):
    with OpenAIServer(responder, mode="json_schema") as srv:
        res, _, _ = run(tmp_path, srv, "conf@confidence", "--confidence-threshold", "0.5")
    cal = res["judges"]["conf@confidence"]["calibration"]
    assert (cal["threshold"], cal["high"]["n"], cal["low"]["n"]) == (0.5, 8, 0)


def test_judges_without_confidence_have_no_calibration(tmp_path):
    with OpenAIServer(responder, mode="json_schema") as srv:
        res, output, out = run(tmp_path, srv, "conf")
        assert "confidence" not in srv.requests[0]["response_format"]["json_schema"]["schema"]["properties"]
    assert "calibration" not in res["judges"]["conf"]
    assert "confidence:" not in output and 'id="calibration"' not in (out / "report.html").read_text()


def test_logprobs_give_the_probability_of_the_rating(tmp_path):
    """params.logprobs = true: the server returns token log-probabilities; the rating digit's
    probability (0.55 on odd items, 0.95 on even ones, every other token 0.99) is the confidence."""
    def token_probability(request, token, index):
        if token in "12345":
            return 0.55 if item_of(request) % 2 else 0.95
        return 0.99

    with OpenAIServer(responder, mode="json_schema", token_probability=token_probability) as srv:
        path = config(tmp_path, srv, "lp")
        path.write_text(path.read_text() + "params = { logprobs = true }\n")
        out = tmp_path / "out"
        r = invoke("run", "--data", write_data(tmp_path / "d.jsonl"), "--judges", "lp", "--config", path, "--out", out,
                   "--cache-dir", tmp_path / "cache")
        assert r.exit_code == 0, r.output
        assert all(req.get("logprobs") is True for req in srv.requests)
    rows = {r["item_id"]: float(r["confidence"]) for r in csv.DictReader((out / "judgments.csv").open())}
    assert rows == {f"c{i}": pytest.approx(0.55 if i % 2 else 0.95) for i in PEOPLE}
    cal = json.loads((out / "results.json").read_text())["judges"]["lp"]["calibration"]
    high = [i for i in PEOPLE if i % 2 == 0]  # 0.95 >= 0.8
    assert cal["high"]["n"] == 4 and cal["high"]["estimate"] == pytest.approx(np.mean([i < 4 for i in high]))


def test_answer_probability_finds_the_value_token():
    from types import SimpleNamespace as NS

    from audit.engine.logprobs import answer_probability

    def completion(tokens):
        content = [NS(token=t, logprob=float(np.log(p))) for t, p in tokens]
        return NS(choices=[NS(logprobs=NS(content=content))])

    toks = [('{"', .99), ("winner", .99), ('":', .99), (' "', .99), ("B", .7), ('",', .99), (' "rating', .5), ('": 4}', .4)]
    assert answer_probability(completion(toks), "winner") == pytest.approx(0.7)
    assert answer_probability(completion([('{"rating":', .9), ("5", .61), ("}", 1.0)]), "rating") == pytest.approx(0.61)
    assert answer_probability(completion(toks), "missing") is None
    assert answer_probability(NS(choices=[NS(logprobs=None)]), "rating") is None
