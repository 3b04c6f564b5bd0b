"""Live progress of the judge calls: per judge done/total, cached, failures, rate and ETA.

On a terminal the lines are redrawn in place (at most every ``min_interval`` seconds); when the
output is not a terminal (CI logs, pipes) one plain line is written per judge at each 10% step
and at least every ``log_every`` seconds, and a final line when a judge is done.

Used as the engine's ``on_result`` callback: ``Progress()(judge, result)`` per result, with
``expect(judge, total)`` before and ``finish()`` after (see :func:`audit.engine.judge.run_judges`).
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TextIO

RATE_WINDOW_S = 30.0


@dataclass
class _Judge:
    total: int | None = None
    done: int = 0
    cached: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    recent: deque = field(default_factory=deque)  # monotonic times of recent uncached results
    next_step: int = 1  # next 10% step to log (non-terminal)
    last_line: float = float("-inf")  # when its last plain line was written


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """Callable ``(judge, CallResult)``; writes to ``stream`` (default stderr)."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None, min_interval: float = 0.2,
                 log_every: float = 30.0, min_step_gap: float = 2.0, clock=time.monotonic):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.min_interval = min_interval
        self.log_every = log_every
        self.min_step_gap = min_step_gap
        self.clock = clock
        self.judges: dict[str, _Judge] = {}
        self._drawn = 0  # lines drawn last time (terminal)
        self._last_draw = 0.0
        self._last_log = clock()

    def expect(self, judge: str, total: int) -> None:
        self.judges.setdefault(judge, _Judge(started=self.clock())).total = total

    def __call__(self, judge: str, result) -> None:
        now = self.clock()
        j = self.judges.setdefault(judge, _Judge(started=now))
        j.done += 1
        if result.cached:
            j.cached += 1
        else:
            j.recent.append(now)
        if result.value is None:
            j.failed += 1
        while j.recent and now - j.recent[0] > RATE_WINDOW_S:
            j.recent.popleft()
        complete = j.total is not None and j.done >= j.total
        if complete and j.finished is None:
            j.finished = now
        if self.tty:
            if complete or now - self._last_draw >= self.min_interval:
                self._draw(now)
        else:
            self._log(judge, j, now, complete)

    # --- numbers
    def rate(self, j: _Judge, now: float) -> float | None:
        """Uncached results per second over the last RATE_WINDOW_S seconds."""
        if len(j.recent) < 2:
            return None
        span = max(now - j.recent[0], 1e-9)
        return (len(j.recent) - 1) / span if span > 0 else None

    def line(self, name: str, j: _Judge, now: float) -> str:
        total = j.total if j.total is not None else "?"
        parts = [f"{name}: {j.done}/{total}"]
        if j.total:
            parts[0] += f" ({j.done / j.total:.0%})"
        if j.cached:
            parts.append(f"{j.cached} cached")
        parts.append(f"{j.failed} failed")
        if j.finished is not None:
            parts.append(f"done in {_duration(j.finished - j.started)}")
        else:
            r = self.rate(j, now)
            if r:
                parts.append(f"{r:.1f}/s")
                if j.total:
                    parts.append(f"ETA {_duration((j.total - j.done) / r)}")
        return ", ".join(parts)

    # --- output
    def _draw(self, now: float) -> None:
        lines = [self.line(n, j, now) for n, j in self.judges.items()]
        out = []
        if self._drawn:
            out.append(f"\x1b[{self._drawn}F")  # back to the first line drawn last time
        out.extend("\x1b[2K" + ln + "\n" for ln in lines)
        self.stream.write("".join(out))
        self.stream.flush()
        self._drawn = len(lines)
        self._last_draw = now

    def _log(self, name: str, j: _Judge, now: float, complete: bool) -> None:
        """A plain line when the judge finishes, crosses a 10% step (at most one line per
        ``min_step_gap`` seconds, so an instant cached pass prints one line), or every ``log_every``."""
        step = int(10 * j.done / j.total) if j.total else None
        if complete and j.finished == now:
            pass
        elif step is not None and step >= j.next_step and now - j.last_line >= self.min_step_gap:
            j.next_step = step + 1
        elif now - max(self._last_log, j.last_line) >= self.log_every:
            pass
        else:
            return
        self.stream.write(self.line(name, j, now) + "\n")
        self.stream.flush()
        self._last_log = j.last_line = now

    def finish(self) -> None:
        """Final state (terminal: one last redraw, so the lines show the totals)."""
        if self.tty and self.judges:
            self._draw(self.clock())
