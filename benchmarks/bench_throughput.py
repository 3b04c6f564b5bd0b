"""Throughput of ``judge-audit run`` against a local OpenAI-compatible server with fixed latency,
beside the limit C/L and beside a bare ``litellm.acompletion`` + semaphore loop on the same server.

    python benchmarks/bench_throughput.py                      # C=32, L=1 s, 1,000 items
    python benchmarks/bench_throughput.py --items 2000 --concurrency 64 --latency 0.5 --repeat 3

For each repeat (alternating): the bare loop (fresh process, one warm-up call), then
``judge-audit run`` (fresh process, fresh cache, one judge, one order per item). Figures:

* judging rate: server-side, n / (last request arrival - first arrival + L). The same clock and
  the same definition for both contenders; it excludes start-up and report writing.
* end-to-end: n / wall time of the whole ``judge-audit run`` command (start-up, litellm import,
  loading, flagging, judging, statistics, report).

Targets (issue 3): judging rate >= 90% of C/L, and >= 1.0x the bare loop.
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

from _common import HERE, Server, judge_config, machine, median, row  # noqa: E402


def bare(server: Server, data: Path, c: int) -> dict:
    proc = subprocess.Popen([sys.executable, str(HERE / "bare_loop.py"), "--base-url", server.base_url, "--data", str(data),
                             "--concurrency", str(c), "--handshake"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "warm"
    server.reset()
    proc.stdin.write("go\n")
    proc.stdin.flush()
    out = json.loads(proc.stdout.read().strip().splitlines()[-1])
    proc.wait()
    out["server"] = server.stats()
    return out


def ours(server: Server, data: Path, c: int, work: Path, workers: str | None) -> dict:
    server.reset()
    config = judge_config(work / "judges.toml", server.base_url, c)
    env = dict(os.environ, BENCH_KEY="sk-bench", JUDGE_AUDIT_CACHE_DIR=str(work / f"cache-{time.time_ns()}"))
    if workers is not None:
        env["JUDGE_AUDIT_WORKERS"] = workers
    t0 = time.perf_counter()
    proc = subprocess.run(["judge-audit", "run", "--data", str(data), "--judges", "bench", "--config", str(config),
                           "--out", str(work / "out")], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"judge-audit run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    res = json.loads((work / "out" / "results.json").read_text())
    cost = res["judges"]["bench"]["cost"]
    return {"wall_s": wall, "server": server.stats(), "calls": cost["calls"], "failures": cost["failures"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", help="JUDGE_AUDIT_WORKERS for judge-audit run (default: automatic)")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args()
    n, c, lat = args.items, args.concurrency, args.latency
    limit = c / lat
    print(f"throughput: {n} items, C={c}, L={lat}s, limit C/L = {limit:.1f}/s; {machine()}")
    runs = []
    with tempfile.TemporaryDirectory() as tmp, Server(lat) as server:
        work = Path(tmp)
        data = work / "items.jsonl"
        subprocess.run([sys.executable, str(HERE / "make_data.py"), "--items", str(n), "--out", str(data)], check=True,
                       capture_output=True)
        for r in range(args.repeat):
            b = bare(server, data, c)
            o = ours(server, data, c, work, args.workers)
            runs.append({"bare": b, "ours": o})
            print(f"  repeat {r + 1}: bare loop {b['server']['rate']:.1f}/s (client {b['rate']:.1f}/s, "
                  f"{b['cpu_ms_per_call']:.1f} ms CPU/call); judge-audit run judging {o['server']['rate']:.1f}/s, "
                  f"end-to-end {n / o['wall_s']:.1f}/s ({o['wall_s']:.1f}s), {o['failures']} failed", flush=True)
    ours_rate = median([x["ours"]["server"]["rate"] for x in runs])
    bare_rate = median([x["bare"]["server"]["rate"] for x in runs])
    e2e = median([n / x["ours"]["wall_s"] for x in runs])
    print(f"results (median of {len(runs)}):")
    print(row("judge-audit run, judging rate (server-side)", f"{ours_rate:.1f}/s = {ours_rate / limit:.0%} of C/L",
              ">= 90% of C/L", "PASS" if ours_rate >= 0.9 * limit else "FAIL"))
    print(row("bare litellm.acompletion + semaphore", f"{bare_rate:.1f}/s = {bare_rate / limit:.0%} of C/L", "(reference)"))
    print(row("judge-audit run / bare loop", f"{ours_rate / bare_rate:.2f}x", ">= 1.0x",
              "PASS" if ours_rate >= bare_rate else "FAIL"))
    print(row("judge-audit run, end-to-end (whole command)", f"{e2e:.1f}/s = {e2e / limit:.0%} of C/L",
              "(includes start-up and report)"))
    if args.json:
        args.json.write_text(json.dumps({"items": n, "concurrency": c, "latency": lat, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
