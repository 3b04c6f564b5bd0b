"""Shared helpers of the benchmarks: the server process, data, judge config, timing, the table."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return f"{os.cpu_count()} CPUs, load average {load[0]:.2f} (1 min) at start, Python {sys.version.split()[0]}"


class Server:
    """tests/openai_server.py in its own process (benchmarks/serve.py), answering after ``latency``."""

    def __init__(self, latency: float):
        self.latency = latency
        self.proc = subprocess.Popen([sys.executable, str(HERE / "serve.py"), "--latency", str(latency)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.base_url = self.proc.stdout.readline().strip()

    def _ask(self, cmd: str) -> dict:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stats(self) -> dict:
        """Counts, and the server-side rate n / (last arrival - first arrival + latency)."""
        st = self._ask("stats")
        if st["count"]:
            st["rate"] = st["count"] / (st["last_arrival"] - st["first_arrival"] + self.latency)
        return st

    def reset(self) -> None:
        self._ask("reset")

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def judge_config(path: Path, base_url: str, concurrency: int, names=("bench",)) -> Path:
    text = "".join(f'[judges.{n}]\nmodel = "openai/{n}-model"\napi_base = "{base_url}"\napi_key_env = "BENCH_KEY"\n'
                   f"concurrency = {concurrency}\n\n" for n in names)
    path.write_text(text, encoding="utf-8")
    return path


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def row(label: str, value: str, limit: str, verdict: str = "") -> str:
    return f"  {label:<46} {value:>22}   {limit:<34} {verdict}"
