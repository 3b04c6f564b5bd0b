"""The embedded judge: the raw engine vs the same prompts through ``judge-audit run``, and the
engine's judgments per second with 1 and with 4 slots.

    python benchmarks/bench_local.py                 # the 44 bundled pairs, SmolLM2-135M
    python benchmarks/bench_local.py --model gemma3-270m --items 20

1. raw engine: the rendered judge prompts of the bundled pairs (the run's own messages, order and
   response format) sent one after another to xllamacpp's in-process server, in a fresh process,
   model load included -- what a hand-written loop over the engine would cost;
2. ``judge-audit run --judges <model>`` on the same pairs with an empty cache (fresh process: start-up,
   litellm, instructor, the cache, statistics and the report included);
3. the raw engine with 1 and with 4 slots (4 threads sending at once).

Target (issue 12): judge-audit within 1.15x of the raw engine per judgment, start-up included.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine  # noqa: E402

RAW = r"""
import json, sys, time, concurrent.futures as cf
t0 = time.perf_counter()
from audit.engine import local
from audit.engine.schemas import Verdict
reqs = json.load(open(sys.argv[1]))
model, slots = sys.argv[2], int(sys.argv[3])
local.reserve(model, slots)
srv = local.server(model)
loaded = time.perf_counter()
schema = {"type": "json_schema", "json_schema": {"name": "Verdict", "schema": Verdict.model_json_schema()}}
calls = [local.request(m, {"temperature": 0.0, "max_tokens": 160, "response_format": schema}) for m in reqs]
t1 = time.perf_counter()
if slots == 1:
    outs = [srv.handle_chat_completions(c) for c in calls]
else:
    with cf.ThreadPoolExecutor(slots) as ex:
        outs = list(ex.map(srv.handle_chat_completions, calls))
t2 = time.perf_counter()
ok = sum(1 for o in outs if o.get("choices"))
print(json.dumps({"load_s": loaded - t0, "judge_s": t2 - t1, "total_s": t2 - t0, "ok": ok, "n": len(calls)}))
"""


def prompts(n: int) -> list[list[dict]]:
    """The messages ``judge-audit run`` sends for the first n bundled pairs (seed 0, one order)."""
    from audit.audits.judging import judge_messages
    from audit.audits.preference import bundled_example
    from audit.data.items import load_items
    from audit.data.judgments import presentation_order

    items = load_items(bundled_example()).items[:n]
    return [judge_messages(it, presentation_order(it.id, 0, 0)) for it in items]


def raw(reqs_path: Path, model: str, slots: int) -> dict:
    out = subprocess.run([sys.executable, "-c", RAW, str(reqs_path), model, str(slots)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def ours(work: Path, model: str, n: int) -> dict:
    cfg = work / "judges.toml"
    cfg.write_text(f'[judges.bench]\nmodel = "local-gguf/{model}"\nmode = "json_schema"\nconcurrency = 1\n'
                   f'timeout = 600\nparams = {{ temperature = 0.0, max_tokens = 160 }}\n')
    env = dict(os.environ, JUDGE_AUDIT_CACHE_DIR=str(work / f"cache-{time.time_ns()}"))
    t0 = time.perf_counter()
    proc = subprocess.run(["judge-audit", "run", "--judges", "bench", "--config", str(cfg), "--limit", str(n),
                           "--out", str(work / "out")], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    res = json.loads((work / "out" / "results.json").read_text())
    return {"total_s": wall, "n": n, "failed": res["judges"]["bench"]["n_failed"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--items", type=int, default=44)
    args = ap.parse_args()
    print(f"embedded judge {args.model}, {args.items} bundled pairs; {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        reqs = work / "reqs.json"
        reqs.write_text(json.dumps(prompts(args.items)))
        r1 = raw(reqs, args.model, 1)
        o = ours(work, args.model, args.items)
        r4 = raw(reqs, args.model, 4)
    n = args.items
    print(f"  raw engine, 1 slot:   {r1['total_s']:.1f} s in all ({r1['load_s']:.1f} s start-up and load), "
          f"{r1['total_s'] / n:.2f} s per judgment; judging alone {n / r1['judge_s']:.2f} judgments/s ({r1['ok']}/{n} answers)")
    print(f"  judge-audit run:      {o['total_s']:.1f} s in all, {o['total_s'] / n:.2f} s per judgment ({o['failed']} failed)")
    ratio = o["total_s"] / r1["total_s"]
    print(f"  ratio judge-audit / raw engine, start-up included: {ratio:.2f}x   (target <= 1.15x: "
          f"{'PASS' if ratio <= 1.15 else 'FAIL'})")
    print(f"  raw engine, 4 slots:  judging alone {n / r4['judge_s']:.2f} judgments/s "
          f"({r1['judge_s'] / r4['judge_s']:.2f}x the 1-slot rate)")


if __name__ == "__main__":
    main()
