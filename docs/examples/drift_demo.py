"""The README's `judge-audit drift` example: two runs of one programmed judge served by the test
suite's OpenAI-compatible server on 127.0.0.1, between which (1) the "provider" ships a new snapshot
behind the same model name (its system_fingerprint changes and it rates every answer that names an
attribute one point higher) and (2) the team's generator revises ten personalized answers.

ILLUSTRATIVE: the data is judge-audit's hand-written example (fixtures/example.jsonl), the judge is a
program (no real model), and run B's data differs from it only in ten revised answers.

    python docs/examples/drift_demo.py /tmp/drift-demo     # then: cd /tmp/drift-demo && judge-audit drift runs/a runs/b
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from openai_server import OpenAIServer, prompt_text  # noqa: E402


NAMING = re.compile(r"\b(as an? |given your|since you|for someone who)", re.I)


def programmed_judge(snapshot: str, personalized: set[str]):
    """Rates the personalized answer 4 when it names the user ("As a ...", "Given your ..."), else 3; a
    revised answer ("[revised]") one point higher; snapshot "2026-11" adds one point to every naming answer."""
    def respond(request):
        text = prompt_text(request, ("user",))
        a = re.search(r"<response_a>(.*?)</response_a>", text, re.S).group(1).strip()
        b = re.search(r"<response_b>(.*?)</response_b>", text, re.S).group(1).strip()
        slot = 1 if b in personalized else 0
        answer = (a, b)[slot]
        named = bool(NAMING.search(answer))
        score = 3 + named + answer.startswith("[revised]") + (named and snapshot == "2026-11")
        score = max(1, min(5, score))
        raw = score if slot == 1 else 6 - score  # the 1-5 scale is A much better .. B much better
        return json.dumps({"rating": raw, "rationale": "programmed"})
    return respond


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in (ROOT / "fixtures/example.jsonl").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    revised = [dict(r, personalized="[revised] " + r["personalized"]) if k < 10 else r for k, r in enumerate(rows)]
    header = "# ILLUSTRATIVE: judge-audit's hand-written example data; in b.jsonl ten personalized answers are marked [revised]\n"
    for name, data in (("a.jsonl", rows), ("b.jsonl", revised)):
        (folder / name).write_text(header + "".join(json.dumps(r) + "\n" for r in data))
    env = {**os.environ, "DEMO_KEY": "sk-demo"}
    current = {}
    with OpenAIServer(lambda request: current["judge"](request), mode="json_schema") as srv:  # one endpoint for both runs
        (folder / "judges.toml").write_text(
            f'[judges.house-judge]\nmodel = "openai/house-judge"\napi_base = "{srv.base_url}"\n'
            'api_key_env = "DEMO_KEY"\nparams = { temperature = 0.0 }\n')
        for run, data, snapshot in (("a", rows, "2026-10"), ("b", revised, "2026-11")):
            current["judge"] = programmed_judge(snapshot, {r["personalized"].strip() for r in data})
            srv.system_fingerprint = f"fp_{snapshot}"
            subprocess.run([sys.executable, "-m", "audit.cli", "run", "--data", f"{run}.jsonl", "--judges", "house-judge",
                            "--config", "judges.toml", "--out", f"runs/{run}", "--cache-dir", f"cache-{run}"],
                           cwd=folder, env=env, check=True, capture_output=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "drift-demo"))
