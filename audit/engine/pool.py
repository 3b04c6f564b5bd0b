"""Worker processes that make provider requests, so litellm's CPU cost stays off the main loop.

litellm spends ~7-15 ms of CPU per call (request building, logging objects, cost lookups). In one
process every call's CPU time queues on one event loop; at 32 calls in flight that queueing, not
the network, is what limits throughput. :class:`WorkerPool` runs N processes, each with its own
event loop, litellm and instructor. The :class:`audit.engine.judge.Engine` in the main process keeps the
whole policy (cache lookups, per-judge concurrency and requests/min, retries, Retry-After) and
hands each *attempt* to the least-busy worker.

How the processes start: the main process makes one socket pair per worker and starts one host
process (``python -m audit.engine.pool``, the run's environment) that imports litellm once, freezes the
garbage collector's view of those objects, and forks the other workers, each keeping only its
own socket (on systems without ``fork`` every worker is its own host). Unlike multiprocessing's
spawn/forkserver, nothing re-imports the caller's ``__main__``.

Each worker writes a validated result to the cache itself, the moment it arrives, before it
replies. Workers ignore Ctrl-C (the main process decides) and exit as soon as their socket to the
main process closes -- so ``kill -9`` of the main process leaves no worker paying for calls that
nobody will read.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path


class _Worker:
    def __init__(self, sock: socket.socket):
        from multiprocessing.connection import Connection

        self.sock = sock
        self.conn = Connection(os.dup(sock.fileno()))
        self.pending: dict[int, str] = {}  # job id -> judge name
        self.alive = True
        self.ready = False
        self.pid: int | None = None
        self.send_lock = threading.Lock()


class WorkerPool:
    """``n`` worker processes; :meth:`run` sends one attempt and awaits its :class:`~audit.engine.provider.Attempt`.

    The processes start in a background thread (the host imports litellm, ~3 s), so the caller
    can go on with other work; the first :meth:`run` waits until a worker is ready.
    """

    def __init__(self, n: int, cache_dir: str | Path, cache_enabled: bool = True):
        self.n = n
        self.cache_dir = str(cache_dir)
        self.cache_enabled = cache_enabled
        self.workers: list[_Worker] = []
        self.hosts: list[subprocess.Popen] = []
        self._futures: dict[int, asyncio.Future] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._shares: dict[str, list[int]] = {}  # judge -> its concurrency share per worker
        self._outstanding: dict[str, list[int]] = {}  # judge -> jobs handed to each worker, not yet answered
        self._fallback: dict[str, asyncio.Semaphore] = {}
        self._ready = threading.Event()  # every worker is ready or gone
        self._ready_wait: asyncio.Future | None = None
        self._closed = False
        self.error: str | None = None
        threading.Thread(target=self._start, name="judge-audit-pool-start", daemon=True).start()

    # --- lifecycle
    def _start(self) -> None:
        from audit.engine.provider import offline_env

        try:
            offline_env()
            pairs = [socket.socketpair() for _ in range(self.n)]
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p] + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
            groups = [pairs] if hasattr(os, "fork") else [[p] for p in pairs]
            for group in groups:
                fds = [b.fileno() for _, b in group]
                args = json.dumps({"fds": fds, "cache_dir": self.cache_dir, "cache_enabled": self.cache_enabled})
                self.hosts.append(subprocess.Popen([sys.executable, "-m", "audit.engine.pool", args], pass_fds=fds, env=env,
                                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
            for _, b in pairs:
                b.close()
            workers = [_Worker(a) for a, _ in pairs]
            with self._lock:
                self.workers.extend(workers)  # all at once: shares are split over every worker
            for w in workers:
                threading.Thread(target=self._read, args=(w,), name="judge-audit-pool-read", daemon=True).start()
        except Exception as exc:  # noqa: BLE001 - the engine falls back to in-process calls
            self.error = f"{type(exc).__name__}: {exc}"
            self._ready.set()

    def _check_ready(self) -> None:
        """Called under the lock: set ``_ready`` once no worker is still starting."""
        if self.workers and all(w.ready or not w.alive for w in self.workers):
            self._ready.set()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self.workers)
        for w in workers:
            try:
                # shutdown, not just close: our reader thread is blocked in recv() on this socket,
                # and a plain close() would not end the connection while it is.
                w.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            w.sock.close()  # the worker sees EOF and exits
        for host in self.hosts:
            try:
                host.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover - a wedged host
                host.kill()
                host.wait(timeout=5)

    # --- requests
    async def _wait_ready(self) -> None:
        if self._ready.is_set():
            return
        if self._ready_wait is None or self._ready_wait.get_loop() is not asyncio.get_running_loop():
            self._ready_wait = asyncio.ensure_future(asyncio.to_thread(self._ready.wait))
        await asyncio.shield(self._ready_wait)

    def _share(self, name: str, concurrency: int) -> tuple[list[int], list[int]]:
        """Called under the lock: a judge's concurrency split over the workers (fixed at first use)."""
        if name not in self._shares:
            n = len(self.workers)
            self._shares[name] = [concurrency // n + (1 if i < concurrency % n else 0) for i in range(n)]
            self._outstanding[name] = [0] * n
        return self._shares[name], self._outstanding[name]

    async def run(self, key: str, spec, messages: list[dict], response_model, api_key: str | None):
        """One attempt in a worker; on success the worker has already stored it under ``key``.

        Each worker runs at most its share of the judge's ``concurrency`` at once (its own
        semaphore) and holds the judge after a 429 with Retry-After; jobs beyond the share wait
        at the worker. The job goes to the worker with the most free room for this judge.
        """
        await self._wait_ready()
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._closed or self.error or not self.workers:
                    break
                shares, out = self._share(spec.name, spec.concurrency)
                cands = [i for i, w in enumerate(self.workers) if w.alive and w.ready and shares[i] > 0]
                if not cands:
                    break
                i = max(cands, key=lambda i: (shares[i] - out[i], shares[i]))
                w = self.workers[i]
                job_id = next(self._ids)
                fut = loop.create_future()
                self._futures[job_id] = fut
                w.pending[job_id] = spec.name
                out[i] += 1
            try:
                with w.send_lock:
                    w.conn.send((job_id, key, spec, messages, response_model, api_key, shares[i]))
            except (OSError, ValueError, EOFError):
                self._worker_died(w)
                continue
            return await fut
        return await self._run_here(key, spec, messages, response_model, api_key)

    async def _run_here(self, key: str, spec, messages, response_model, api_key):
        """No worker left: the attempt in this process, with the judge's concurrency limit."""
        from audit.engine.cache import ResultCache
        from audit.engine.provider import attempt, record_for

        sem = self._fallback.setdefault(spec.name, asyncio.Semaphore(spec.concurrency))
        async with sem:
            a = await attempt(spec, messages, response_model, api_key)
        if a.kind == "ok" and self.cache_enabled:
            fallback = ResultCache(self.cache_dir)
            fallback.set(key, record_for(spec, a))
            fallback.close()
        return a

    def _read(self, w: _Worker) -> None:
        """Reader thread: resolve the futures of one worker's replies."""
        while True:
            try:
                job_id, result = w.conn.recv()
            except (EOFError, OSError, TypeError, ValueError):
                self._worker_died(w)
                try:
                    w.conn.close()
                except OSError:
                    pass
                return
            if job_id == "ready":
                with self._lock:
                    w.pid, w.ready = result, True
                    self._check_ready()
                continue
            with self._lock:
                self._settle(w, job_id)
                fut = self._futures.pop(job_id, None)
            if fut is not None:
                fut.get_loop().call_soon_threadsafe(_resolve, fut, result)

    def _settle(self, w: _Worker, job_id: int) -> None:
        """Called under the lock: a job of ``w`` is answered (or lost)."""
        name = w.pending.pop(job_id, None)
        if name is not None and name in self._outstanding:
            self._outstanding[name][self.workers.index(w)] -= 1

    def _worker_died(self, w: _Worker) -> None:
        from audit.engine.provider import Attempt

        with self._lock:
            w.alive = False
            lost = []
            for job_id in list(w.pending):
                self._settle(w, job_id)
                lost.append(self._futures.pop(job_id, None))
            self._check_ready()  # nobody will become ready: run() falls back to in-process
        why = "worker process exited" if self._closed else "worker process exited unexpectedly"
        for fut in lost:
            if fut is not None:  # no reply, so no stored result: a transient failure, retried
                fut.get_loop().call_soon_threadsafe(_resolve, fut, Attempt("retry", error=why))


def _resolve(fut: asyncio.Future, result) -> None:
    if not fut.done():
        fut.set_result(result)


# --- the worker processes --------------------------------------------------------------------


def host_main(fds: list[int], cache_dir: str, cache_enabled: bool) -> None:
    """Import litellm once, fork a worker per extra socket, and serve the first socket here."""
    import gc
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's decision
    from audit.engine.provider import instructor_client as _instructor_client, litellm_module as _litellm

    lm = _litellm()
    _instructor_client("json_schema")
    skip_success_logging(lm)
    warm_up(lm)
    # litellm's import leaves ~300k long-lived objects; freezing them keeps every full GC pass from
    # walking them all (tens of ms, on the critical path of the calls in flight) and keeps the
    # forked workers' copy-on-write pages shared.
    gc.collect()
    gc.freeze()
    if len(fds) > 1:
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped automatically
    for i, fd in enumerate(fds[1:], start=1):
        if os.fork() == 0:
            for other in fds:
                if other != fd:
                    os.close(other)
            _serve_fd(fd, cache_dir, cache_enabled)
            os._exit(0)
    for other in fds[1:]:
        os.close(other)
    _serve_fd(fds[0], cache_dir, cache_enabled)


def skip_success_logging(lm) -> bool:
    """In a worker, skip litellm's per-call success logging when no logging integration is set.

    After every call litellm builds a standard logging payload (cost lookups, metadata copies) for
    its callback integrations, in ``Logging.success_handler`` (a thread) and
    ``Logging.async_success_handler`` (a task on the same loop): ~1.5 ms of CPU per call, ~20% of
    litellm's per-call cost here, for nobody when no callback is configured -- and a worker
    process has none. Returns whether the handlers were replaced (only if no callback of any
    kind is registered and the handlers exist under these names).
    """
    names = ("callbacks", "input_callback", "success_callback", "failure_callback", "service_callback",
             "_async_success_callback", "_async_failure_callback")
    if any(getattr(lm, n, None) for n in names):
        return False
    try:
        from litellm.litellm_core_utils.litellm_logging import Logging
    except ImportError:
        return False
    if not (hasattr(Logging, "success_handler") and hasattr(Logging, "async_success_handler")):
        return False

    def success_handler(self, *args, **kwargs):
        return None

    async def async_success_handler(self, *args, **kwargs):
        return None

    Logging.success_handler = success_handler
    Logging.async_success_handler = async_success_handler
    return True


def warm_up(lm) -> None:
    """Load, once and before forking, the ~600 modules litellm, openai and instructor import on a
    first call (~0.8 s of CPU that every worker would otherwise spend in its first wave of calls).

    One synchronous structured call to a closed local port: it builds a real request and fails
    to connect at once. Synchronous on purpose: no event loop or async client exists in this
    process when it forks.
    """
    import instructor

    from audit.engine.schemas import Verdict

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        instructor.from_litellm(lm.completion, mode=instructor.Mode.JSON_SCHEMA).chat.completions.create(
            model="openai/warm-up", api_base=f"http://127.0.0.1:{port}/v1", api_key="warm-up",
            messages=[{"role": "user", "content": "warm-up"}], response_model=Verdict, max_retries=0,
            num_retries=0, timeout=2)
    except Exception:  # noqa: BLE001 - expected: nothing listens there
        pass


def _serve_fd(fd: int, cache_dir: str, cache_enabled: bool) -> None:
    from multiprocessing.connection import Connection

    from audit.engine.cache import ResultCache

    conn = Connection(fd)
    cache = ResultCache(cache_dir, enabled=cache_enabled)
    try:
        asyncio.run(_serve(conn, cache))
    finally:
        os._exit(0)


async def _serve(conn, cache) -> None:
    import time

    from audit.engine.provider import RETRY_AFTER_CAP_S
    from audit.engine.provider import Attempt, attempt, record_for

    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task] = set()
    sems: dict[str, asyncio.Semaphore] = {}  # per judge: this worker's share of its concurrency
    hold: dict[str, float] = {}  # per judge: no request before this time (Retry-After)
    unavailable: dict[str, str] = {}  # per judge: why it cannot be used (401/403/404)

    async def handle(job_id, key, spec, messages, response_model, api_key, share) -> None:
        name = spec.name
        a = Attempt("retry", error="worker error: no attempt made")
        try:
            sem = sems.get(name) or sems.setdefault(name, asyncio.Semaphore(max(1, share)))
            async with sem:
                if name in unavailable:  # queued behind a call that found the judge unusable: no request
                    a = Attempt("fatal", error=unavailable[name])
                else:
                    wait = hold.get(name, 0.0) - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    a = await attempt(spec, messages, response_model, api_key)
                    if a.kind == "ok":
                        cache.set(key, record_for(spec, a))  # stored before the main process hears of it
                    elif a.kind == "fatal":
                        unavailable.setdefault(name, a.error or "judge unavailable")
                    elif a.kind == "retry" and a.retry_after:
                        hold[name] = max(hold.get(name, 0.0), time.monotonic() + min(a.retry_after, RETRY_AFTER_CAP_S))
        except Exception as exc:  # noqa: BLE001 - the main process must always get an answer
            if a.kind != "ok":  # (an ok result whose storing failed is still returned as ok)
                a = Attempt("retry", error=f"worker error: {type(exc).__name__}: {exc}")
        try:
            conn.send((job_id, a))
        except (OSError, ValueError):
            os._exit(0)

    def start(msg) -> None:
        t = loop.create_task(handle(*msg))
        tasks.add(t)
        t.add_done_callback(tasks.discard)

    def reader() -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                os._exit(0)  # the main process is gone (or closed the pool): stop paying for calls
            loop.call_soon_threadsafe(start, msg)

    conn.send(("ready", os.getpid()))
    threading.Thread(target=reader, name="judge-audit-worker-read", daemon=True).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    _args = json.loads(sys.argv[1])
    host_main(_args["fds"], _args["cache_dir"], _args["cache_enabled"])
