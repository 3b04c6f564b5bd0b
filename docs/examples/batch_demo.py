"""The README's batch-judging example: `judge-audit run --batch` against the test suite's
OpenAI-compatible server on 127.0.0.1 (its /v1/files and /v1/batches endpoints), serving a *programmed*
judge (no real model) on judge-audit's hand-written illustrative example data. Two requests of the
batch are made to fail, to show the interactive retry. Prints what the commands printed.

    python docs/examples/batch_demo.py /tmp/batch-demo
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from openai_server import OpenAIServer, prompt_text  # noqa: E402


def programmed(request):
    """4 (personalized better) on the generic(1)..personalized(5) scale, whichever slot holds it."""
    text = prompt_text(request, ("user",))
    a = re.search(r"<response_a>(.*?)</response_a>", text, re.S).group(1)
    b = re.search(r"<response_b>(.*?)</response_b>", text, re.S).group(1)
    return json.dumps({"rating": 4 if len(b) > len(a) else 2, "rationale": "programmed: the longer answer"})


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []

    def errors(custom_id):
        if len(failed) < 2 and custom_id not in failed:
            failed.append(custom_id)
        return custom_id in failed

    env = {**os.environ, "DEMO_KEY": "sk-demo", "PYTHONPATH": str(ROOT)}
    with OpenAIServer(programmed, mode="json_schema", batch_delay=2.0, batch_errors=errors) as srv:
        (folder / "judges.toml").write_text(
            f'[judges.house-judge]\nmodel = "openai/house-judge"\napi_base = "{srv.base_url}"\napi_key_env = "DEMO_KEY"\n')
        for args in (["--no-wait"], ["--no-wait"], []):
            cmd = ["run", "--judges", "house-judge", "--config", "judges.toml", "--both-orders", "--batch", *args,
                   "--out", "batch-out", "--cache-dir", "cache"]
            p = subprocess.run([sys.executable, "-m", "audit.cli", *cmd], cwd=folder, env=env, capture_output=True, text=True)
            lines = [x for x in (p.stderr + p.stdout).splitlines() if not re.match(r"\s*house-judge: \d+/\d+ ", x)]
            print("$ judge-audit " + " ".join(cmd))
            print("\n".join(lines))
            if args:
                time.sleep(1.0)
        p = subprocess.run([sys.executable, "-m", "audit.cli", "batches", "--cache-dir", "cache"], cwd=folder, env=env,
                           capture_output=True, text=True)
        print("$ judge-audit batches --cache-dir cache")
        print(p.stdout.rstrip())
        print(f"# the server answered {srv.batch_requests_answered} requests inside the batch and {srv.count} chat requests")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "batch-demo"))
