"""Start-up time of ``judge-audit --help`` (the console script, a fresh interpreter each time).

    python benchmarks/bench_startup.py --repeat 10

Target (issue 3): <= 0.5 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, median, row  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    print(f"start-up: judge-audit --help, {args.repeat} runs; {machine()}")
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        subprocess.run(["judge-audit", "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    imported = subprocess.run([sys.executable, "-c", "import sys, audit.cli; "
                               "print(sorted(m for m in ('litellm', 'instructor', 'pandas', 'numpy', 'scipy', 'pingouin') if m in sys.modules))"],
                              capture_output=True, text=True).stdout.strip()
    print(f"  runs: {', '.join(f'{t:.3f}' for t in times)} s; heavy modules imported by audit.cli: {imported}")
    print("result:")
    m = median(times)
    print(row("judge-audit --help (median)", f"{m:.3f}s", "<= 0.5 s", "PASS" if m <= 0.5 else "FAIL"))
    print(row("judge-audit --help (max)", f"{max(times):.3f}s", "<= 0.5 s"))


if __name__ == "__main__":
    main()
