"""Run tests/openai_server.py's OpenAIServer in its own process (so its CPU does not compete with
the client's event loop for the GIL). Prints the base URL on stdout, serves until stdin closes.

Every request is answered ``--latency`` seconds after it arrives; the arrival times give the
server-side throughput: n / (last arrival - first arrival + latency).

    python benchmarks/serve.py --latency 1.0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from openai_server import OpenAIServer, judge_responder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--rating", type=int, default=4)
    args = ap.parse_args()
    arrivals: list[float] = []

    def latency(request: dict) -> float:  # called once per request, as it arrives
        arrivals.append(time.monotonic())
        return args.latency

    with OpenAIServer(judge_responder(lambda text: args.rating, "benchmark"), latency=latency) as srv:
        print(srv.base_url, flush=True)
        for line in sys.stdin:  # "stats" -> counts and arrival times as JSON; "reset" -> start over
            if line.strip() == "stats":
                first, last = (arrivals[0], arrivals[-1]) if arrivals else (None, None)
                print(json.dumps({"count": srv.count, "ok": srv.ok_count, "max_in_flight": srv.max_in_flight,
                                  "first_arrival": first, "last_arrival": last, "latency": args.latency}), flush=True)
            elif line.strip() == "arrivals":
                print(json.dumps(arrivals), flush=True)
            elif line.strip() == "reset":
                srv.reset_counts()
                arrivals.clear()
                print("{}", flush=True)


if __name__ == "__main__":
    main()
