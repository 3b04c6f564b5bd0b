"""How many ratings each `judge-audit annotate` strategy needs before the 95% CI of the mean human
rating over items is narrower than 0.5 points (120 synthetic items, 3 annotators rating in turn;
audit.audits.annotate.simulate_collection). Prints the median and quartiles over 50 simulations.

    python benchmarks/bench_annotate_strategies.py
"""

import numpy as np

from audit.audits.annotate import simulate_collection

if __name__ == "__main__":
    for strategy in ("informative", "random", "sequential"):
        need = [simulate_collection(strategy, seed=k) for k in range(50)]
        got = [n for n in need if n is not None]
        q1, med, q3 = np.percentile(got, [25, 50, 75]) if got else (None, None, None)
        print(f"{strategy:<12} ratings needed: median {med:.0f} (quartiles {q1:.0f}-{q3:.0f}); "
              f"never reached in {len(need) - len(got)} of {len(need)}")
