"""A fully cached re-run: ``judge-audit run`` over 10,000 cached judgments (results + report).

    python benchmarks/bench_cached.py                       # 1,000 items x 5 judges x 2 orders
    python benchmarks/bench_cached.py --items 5000 --judges 1 --repeat 3

The cache is filled through the engine's own plan and key functions (the keys a run computes),
with a plausible record per call; the judges' api_base is a closed port, so any call that was not
served from the cache would fail -- the benchmark checks that every judgment was a cache hit.
``--breakdown`` also times the stages in-process (load, flag, judge, statistics, outputs).

Target (issue 3): <= 5 s for 10,000 judgments on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import HERE, machine, median, row  # noqa: E402

DEAD = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, a real call fails at once


def fill_cache(data: Path, config: Path, cache_dir: Path) -> int:
    from audit.engine.cache import ResultCache
    from audit.engine.config import load_judge_config
    from audit.engine.judge import Engine
    from audit.audits.judging import planned_calls
    from audit.engine.provider import Attempt, record_for
    from audit.data.items import load_items

    specs = list(load_judge_config(config).values())
    specs = [s for s in specs if s.api_base == DEAD]
    items = list(load_items(data).items)
    cache = ResultCache(cache_dir)
    engine = Engine(cache)
    rng = random.Random(0)
    db = cache._open()
    n = 0
    with db.transact():
        for _, c in planned_calls(items, specs, samples=1, both_orders=True, seed=0):
            key = engine.key_for(c.spec, c.messages, c.response_model, order=c.order, sample=c.sample)
            value = {"rating": rng.choice([2, 3, 4, 4, 5]), "rationale": "SYNTHETIC cached verdict for the benchmark"}
            db.set(key, record_for(c.spec, Attempt("ok", value, rng.uniform(0.5, 2.0), 600, 40, None)))
            n += 1
    cache.close()
    return n


def breakdown(data: Path, config: Path, judges: list[str], out: Path) -> list[tuple[str, float]]:
    """Stage timings of one cached run, in this process, with the garbage-collector settings of
    ``judge-audit`` (audit.cli.main) and the time spent collecting."""
    import gc

    from audit.cli.group import GC_THRESHOLDS

    gc.set_threshold(*GC_THRESHOLDS)
    collecting = {"s": 0.0, "t": 0.0}

    def on_gc(phase, info):
        if phase == "start":
            collecting["t"] = time.perf_counter()
        else:
            collecting["s"] += time.perf_counter() - collecting["t"]
    gc.callbacks.append(on_gc)
    t0 = time.perf_counter()
    import audit.audits.preference as R

    marks = [("import audit.audits.preference", time.perf_counter() - t0)]
    for name in ("load_items", "flag_items", "run_judges", "build_results", "write_outputs"):
        f = getattr(R, name)

        def timed(*a, _f=f, _name=name, **k):
            s = time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                marks.append((_name, time.perf_counter() - s))
        setattr(R, name, timed)
    R.run_audit(R.RunOptions(data=data, judges=judges, config=config, out=out, both_orders=True))
    marks.append(("total (in-process, without interpreter start and exit)", time.perf_counter() - t0))
    marks.append(("  of which garbage collection", collecting["s"]))
    gc.callbacks.remove(on_gc)
    return marks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--judges", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=5, help="re-runs timed after the first run (median reported)")
    ap.add_argument("--breakdown", action="store_true")
    args = ap.parse_args()
    names = [f"bench{i + 1}" for i in range(args.judges)]
    n_judgments = args.items * args.judges * 2
    print(f"cached re-run: {args.items} items x {args.judges} judges x 2 orders = {n_judgments} judgments; {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data, config, cache_dir = work / "items.jsonl", work / "judges.toml", work / "cache"
        subprocess.run([sys.executable, str(HERE / "make_data.py"), "--items", str(args.items), "--out", str(data)],
                       check=True, capture_output=True)
        config.write_text("".join(f'[judges.{n}]\nmodel = "openai/{n}-model"\napi_base = "{DEAD}"\n'
                                  f'api_key_env = "BENCH_KEY"\nconcurrency = 32\n\n' for n in names))
        os.environ.update(BENCH_KEY="sk-bench", JUDGE_AUDIT_CACHE_DIR=str(cache_dir))
        filled = fill_cache(data, config, cache_dir)
        assert filled == n_judgments, filled
        walls = []
        # run 0 is the run that made the cache: its judgments are cached, but it computes the offline
        # mention flags (remembered from then on) and reads cold files; the target is about re-runs
        for r in range(args.repeat + 1):
            t0 = time.perf_counter()
            proc = subprocess.run(["judge-audit", "run", "--data", str(data), "--judges", ",".join(names), "--config",
                                   str(config), "--both-orders", "--out", str(work / "out")], capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise SystemExit(f"judge-audit run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
            res = json.loads((work / "out" / "results.json").read_text())
            cached = sum(j["cost"]["cached"] for j in res["judges"].values())
            calls = sum(j["cost"]["calls"] for j in res["judges"].values())
            assert cached == calls == n_judgments, (cached, calls)
            what = "first run (flags computed)" if r == 0 else f"re-run {r}"
            print(f"  {what}: {walls[-1]:.2f}s wall, {cached}/{calls} judgments from the cache", flush=True)
        print("result:")
        m = median(walls[1:])
        print(row(f"fully cached re-run, {n_judgments} judgments (median)", f"{m:.2f}s", "<= 5 s",
                  "PASS" if m <= 5 else "FAIL"))
        if args.breakdown:
            print("stages (one run in this process):")
            for name, secs in breakdown(data, config, names, work / "out-b"):
                print(f"  {name:<48} {secs:6.2f}s")


if __name__ == "__main__":
    main()
