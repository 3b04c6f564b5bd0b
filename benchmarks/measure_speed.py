"""How long the statistics stage (results.build_results: every estimate, CI, agreement number)
takes on a synthetic audit of 10,000 judgments.

    python benchmarks/measure_speed.py                 # 1,000 items x 5 judges x 2 orders
    python benchmarks/measure_speed.py --items 2000 --judges 5 --orders 1 --users 500

Data: `audit.stats.simulate` (synthetic). Prints the median wall time of --repeat runs (after one
warm-up run that pays for the imports).
"""

from __future__ import annotations

import argparse
import statistics
import time

from audit.data.items import MentionFlag
from audit.data.judgments import Judgment
from audit.data.items import Dataset, Item
from audit.audits.results import build_results
from audit.stats.simulate import ORDERS, SimParams, draw, to_rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--judges", type=int, default=5)
    ap.add_argument("--orders", type=int, choices=(1, 2), default=2)
    ap.add_argument("--annotators", type=int, default=5)
    ap.add_argument("--users", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    names = tuple(f"sim-judge-{k + 1}" for k in range(args.judges))
    params = SimParams(n_items=args.items, n_annotators=args.annotators, judges=names, inflation=(0.5,),
                       mention_bias=(0.3,), position_bias=(0.2,), n_users=args.users, seed=0)
    data = draw(params)
    rows = to_rows(data)
    items = tuple(Item.model_validate({k: v for k, v in r.items() if k != "judge_ratings"}) for r in rows)
    dataset = Dataset("synthetic", "0" * 64, items)
    flags = {it.id: MentionFlag(bool(it.mention), (), "user") for it in items}
    judgments = []
    for i, it in enumerate(items):
        for k, name in enumerate(names):
            for o in range(args.orders):
                order = o if args.orders == 2 else int(data.shown[i, k])
                rating = float(data.verdicts[i, k, order])
                judgments.append(Judgment(it.id, name, name, ORDERS[order], 0, rating, None, None, "ok"))
    kw = dict(judge_models={n: n for n in names}, judge_sources={n: "called" for n in names})
    build_results(dataset, flags, judgments, **kw)  # warm-up: imports
    times, cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        build_results(dataset, flags, judgments, **kw)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(f"{len(judgments)} judgments ({args.items} items, {args.judges} judges, {args.orders} order(s), "
          f"{args.annotators} annotators, {params.users} users): build_results median "
          f"{statistics.median(times):.3f} s wall (min {min(times):.3f}, max {max(times):.3f}), "
          f"{statistics.median(cpu):.3f} s CPU, {args.repeat} runs")


if __name__ == "__main__":
    main()
