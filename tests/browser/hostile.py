"""A dataset whose strings try to break out of report.html, and a run of it with a called judge.

HAND-WRITTEN TEST DATA. The first items are the bundled illustrative example
(fixtures/example_imported.jsonl: hand-written answers, illustrative ratings, style-* judge labels);
one more item and one more imported judge carry hostile strings. The called judge is a planted
rule served by tests/openai_server.py on 127.0.0.1 (no model): it prefers the longer answer and
writes a hostile rationale. Every payload would set ``window.__pwned`` if it ever ran.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "example_imported.jsonl"

HOSTILE_JUDGE = 'judge<img src=x onerror="window.__pwned=6"> $x^2$'
HOSTILE_ID = 'x"><script>window.__pwned=7</script>'
PROMPT = "</textarea><script>window.__pwned=1</script>{{ 7*7 }} {% if true %}jinja{% endif %} ${x}"
ATTRIBUTE = '<img src=x onerror="window.__pwned=2">'
GENERIC = "</script><script>window.__pwned=3</script><!-- an unclosed comment"
PERSONALIZED = ("As a vegetarian, try this. <svg onload=\"window.__pwned=4\"></svg> </div></details><style>body{display:none}"
                "</style> \u2028 ]]> " + "A long answer that must fold. " * 40)
GENERATOR = '<b onmouseover="window.__pwned=5">gen</b>'
ANNOTATOR = "<u>annotator-X</u>"
RATIONALE = "</td></tr></table><script>window.__pwned=9</script>{{ 7*7 }} Response {side} is longer."
PAYLOADS = (HOSTILE_JUDGE, HOSTILE_ID, PROMPT, ATTRIBUTE, GENERIC, GENERATOR, ANNOTATOR)


def fixture_rows() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def hostile_rows() -> list[dict]:
    rows = fixture_rows()
    for r in rows:  # the hostile judge rates every item: one more than the people's rounded mean
        mean = sum(h["rating"] for h in r["human_ratings"]) / len(r["human_ratings"])
        r["judge_ratings"].append({"judge": HOSTILE_JUDGE, "rating": min(5, round(mean) + 1)})
    judges = [j["judge"] for j in rows[0]["judge_ratings"]]
    rows.append({
        "id": HOSTILE_ID, "user_id": "u'><script>window.__pwned=8</script>", "prompt": PROMPT,
        "attributes": [ATTRIBUTE, "vegetarian"], "generic": GENERIC, "personalized": PERSONALIZED,
        "generator": GENERATOR,
        "human_ratings": [{"annotator": ANNOTATOR, "rating": 2}, {"annotator": "annotator-A", "rating": 3}],
        "judge_ratings": [{"judge": j, "rating": 5} for j in judges],
    })
    return rows


def write_hostile(path: Path) -> Path:
    path.write_text("# HAND-WRITTEN TEST DATA (see tests/browser/hostile.py)\n"
                    + "".join(json.dumps(r) + "\n" for r in hostile_rows()), encoding="utf-8")
    return path


def longer_answer(text: str):
    """The planted called judge: prefers the longer response (a rule, not a model)."""
    a = re.search(r"<response_a>(.*?)</response_a>", text, re.S).group(1)
    b = re.search(r"<response_b>(.*?)</response_b>", text, re.S).group(1)
    side = "A" if len(a) >= len(b) else "B"
    return (2 if side == "A" else 4), RATIONALE.replace("{side}", side)


def run_with_called_judge(data: Path, out: Path, cache: Path, *extra: str, command: str = "run"):
    """``judge-audit run`` (or ``command``, e.g. "counterfactual") on ``data`` with the planted judge
    ``lengthy`` over loopback HTTP, both presentation orders. Returns the CliRunner result."""
    import os

    from click.testing import CliRunner

    from audit.cli import cli
    from openai_server import OpenAIServer, judge_responder

    os.environ.setdefault("JA_REPORT_TEST_KEY", "sk-test")
    with OpenAIServer(judge_responder(longer_answer, roles=("user",))) as srv:
        cfg = out.parent / "judges-report-test.toml"
        cfg.write_text(f'[judges.lengthy]\nmodel = "openai/lengthy-judge"\napi_base = "{srv.base_url}"\n'
                       'api_key_env = "JA_REPORT_TEST_KEY"\nmode = "json"\nconcurrency = 8\nmax_retries = 1\n'
                       'timeout = 20\nparams = { temperature = 0.0 }\n', encoding="utf-8")
        return CliRunner().invoke(cli, [command, "--data", str(data), "--judges", "lengthy", "--config", str(cfg),
                                        "--out", str(out), "--cache-dir", str(cache), "--both-orders",
                                        "--workers", "0", *extra])
