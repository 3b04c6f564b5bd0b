"""Batch judging (issue 19): `run --batch` submits the uncached calls through the OpenAI-compatible
file and batch endpoints of the loopback server (real HTTP through litellm), with zero chat-completion
requests; a killed run resumes the same batch without submitting twice; requests that fail inside a
batch are retried interactively and counted; results and cache keys equal an interactive run's.

HAND-WRITTEN SYNTHETIC DATA (tests/test_cli_run_options.write_data): no real answers, people or models.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.engine.cache import ResultCache
from cli_coverage import covers
from openai_server import OpenAIServer
from test_cli_run_options import KEY, N, _key, config, invoke, preference, write_data  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def judge(request):
    return preference(request, 4)


def ratings(out: Path) -> list[tuple]:
    rows = list(csv.DictReader((out / "judgments.csv").open()))
    return sorted((r["item_id"], r["order"], r["rating"], r["rationale"]) for r in rows if r["judge"] == "j")


def batch_states(cache_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((cache_dir / "batches").glob("*.json"))]


@covers("run --batch")
def test_batch_run_makes_no_chat_request_and_matches_an_interactive_run(tmp_path):
    data = write_data(tmp_path / "d.jsonl")
    with OpenAIServer(judge, mode="json_schema") as srv:
        (tmp_path / "b").mkdir()
        rb = invoke("run", "--data", data, "--judges", "j", "--config", config(tmp_path / "b", srv, "j"), "--out",
                    tmp_path / "batch", "--cache-dir", tmp_path / "cb", "--both-orders", "--batch")
        assert rb.exit_code == 0, rb.output
        assert srv.count == 0 and srv.batches_created == 1 and srv.batch_requests_answered == 2 * N
        again = invoke("run", "--data", data, "--judges", "j", "--config", tmp_path / "b" / "judges.toml",
                       "--out", tmp_path / "again", "--cache-dir", tmp_path / "cb", "--both-orders")
        assert again.exit_code == 0 and srv.count == 0  # an interactive re-run finds every batch result cached
    with OpenAIServer(judge, mode="json_schema") as srv:
        (tmp_path / "i").mkdir()
        r = invoke("run", "--data", data, "--judges", "j", "--config", config(tmp_path / "i", srv, "j"), "--out",
                   tmp_path / "inter", "--cache-dir", tmp_path / "ci", "--both-orders")
        assert r.exit_code == 0 and srv.count == 2 * N
    assert ratings(tmp_path / "batch") == ratings(tmp_path / "inter")
    # the same cache keys: the api_base differs between the two servers, so compare through one spec
    from audit.audits.judging import planned_calls
    from audit.data.items import load_items
    from audit.engine.config import load_judge_config
    from audit.engine.judge import Engine

    spec = load_judge_config(tmp_path / "b" / "judges.toml")["j"]
    planned = planned_calls(list(load_items(data).items), [spec], samples=1, both_orders=True, seed=0)
    cache = ResultCache(tmp_path / "cb")
    try:
        keys = [Engine(cache).key_for(spec, c.messages, c.response_model, order=c.order, sample=c.sample) for _, c in planned]
        assert len(cache.get_many(keys)) == 2 * N
    finally:
        cache.close()
    state = batch_states(tmp_path / "cb")[0]
    assert sorted(state["keys"]) == sorted(keys) and state["n_cached"] == 2 * N and state["n_failed"] == 0
    assert f"batch: submitted {2 * N} requests of j" in rb.output
    res = json.loads((tmp_path / "batch" / "results.json").read_text())
    assert res["judges"]["j"]["fingerprint"]["system_fingerprints"] == ["fp_test"]


def test_failed_batch_requests_are_retried_interactively_and_counted(tmp_path):
    data = write_data(tmp_path / "d.jsonl")
    failing = {}

    def errors(custom_id):  # the first three requests of the batch fail
        failing.setdefault("ids", [])
        if len(failing["ids"]) < 3 and custom_id not in failing["ids"]:
            failing["ids"].append(custom_id)
        return custom_id in failing["ids"]

    with OpenAIServer(judge, mode="json_schema", batch_errors=errors) as srv:
        r = invoke("run", "--data", data, "--judges", "j", "--config", config(tmp_path, srv, "j"), "--out", tmp_path / "o",
                   "--cache-dir", tmp_path / "c", "--batch")
        assert r.exit_code == 0, r.output
        assert srv.batch_requests_answered == N - 3 and srv.count == 3  # the three failures, interactively
    state = batch_states(tmp_path / "c")[0]
    assert state["n_failed"] == 3 and sorted(state["failed"]) == sorted(failing["ids"])
    assert "3 failed (retried interactively)" in r.output
    assert len(ratings(tmp_path / "o")) == N


@covers("run --wait", "batches --cache-dir", "batches cancel", "batches cancel batch_id")
def test_no_wait_submits_and_a_rerun_collects(tmp_path):
    data = write_data(tmp_path / "d.jsonl")
    with OpenAIServer(judge, mode="json_schema", batch_delay=3600) as srv:
        cfg = config(tmp_path, srv, "j")
        args = ("run", "--data", data, "--judges", "j", "--config", cfg, "--out", tmp_path / "o", "--cache-dir", tmp_path / "c",
                "--batch")
        r = invoke(*args, "--no-wait")
        assert r.exit_code == 0 and "run the same command again" in r.output and srv.batches_created == 1
        listed = invoke("batches", "--cache-dir", tmp_path / "c")
        assert listed.exit_code == 0 and " j " in listed.output and f"0/{N} done" in listed.output
        r = invoke(*args, "--no-wait")  # still running: nothing submitted twice
        assert r.exit_code == 0 and srv.batches_created == 1
        srv.batch_delay = 0
        r = invoke(*args)  # collects
        assert r.exit_code == 0, r.output
        assert srv.batches_created == 1 and srv.count == 0 and len(ratings(tmp_path / "o")) == N
        listed = invoke("batches", "--cache-dir", tmp_path / "c")
        assert f"collected: {N} cached, 0 failed" in listed.output
        # cancel: a new batch (another seed: new orders, new keys), cancelled; its requests go interactive next time
        srv.batch_delay = 3600
        r = invoke(*args, "--seed", "5", "--both-orders", "--no-wait")
        assert r.exit_code == 0 and srv.batches_created == 2
        new = [s for s in batch_states(tmp_path / "c") if not s["collected"]][0]
        c = invoke("batches", "--cache-dir", tmp_path / "c", "cancel", new["id"])
        assert c.exit_code == 0 and "cancelled" in c.output
        bad = invoke("batches", "--cache-dir", tmp_path / "c", "cancel", "nope")
        assert bad.exit_code == 2


def test_kill_9_during_a_batch_then_rerun_never_submits_twice(tmp_path):
    data = write_data(tmp_path / "d.jsonl")
    with OpenAIServer(judge, mode="json_schema", batch_delay=3600) as srv:
        cfg = config(tmp_path, srv, "j")
        env = {**os.environ, "PYTHONPATH": str(ROOT), KEY: "sk-opts"}
        cmd = [sys.executable, "-m", "audit.cli", "run", "--data", str(data), "--judges", "j", "--config", str(cfg),
               "--out", str(tmp_path / "o"), "--cache-dir", str(tmp_path / "c"), "--batch"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                states = batch_states(tmp_path / "c") if (tmp_path / "c" / "batches").is_dir() else []
                if states and states[0].get("provider_batch_id") and srv.batches[states[0]["provider_batch_id"]]["status"] == "in_progress":
                    break
                time.sleep(0.1)
            else:
                raise AssertionError("the batch was not submitted")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        assert srv.batches_created == 1 and srv.count == 0
        srv.batch_delay = 0
        r = invoke("run", "--data", data, "--judges", "j", "--config", cfg, "--out", tmp_path / "o", "--cache-dir", tmp_path / "c",
                   "--batch")
        assert r.exit_code == 0, r.output
        assert srv.batches_created == 1 and srv.count == 0  # resumed the same batch
        assert len(ratings(tmp_path / "o")) == N


def test_judges_without_a_batch_api_fall_back_with_a_notice(tmp_path):
    data = write_data(tmp_path / "d.jsonl")
    with OpenAIServer(judge, mode="tools") as srv:
        r = invoke("run", "--data", data, "--judges", "j", "--config", config(tmp_path, srv, "j", mode="tools"), "--out",
                   tmp_path / "o", "--cache-dir", tmp_path / "c", "--batch")
        assert r.exit_code == 0, r.output
        assert "batch: j is judged interactively (batch judging supports the json_schema and json modes" in r.output
        assert srv.count == N and srv.batches_created == 0


def test_batch_in_json_mode_and_per_judge_config(tmp_path):
    """`batch = true` in the judge config batches that judge without --batch; json mode spells the schema out."""
    data = write_data(tmp_path / "d.jsonl")
    with OpenAIServer(judge, mode="json") as srv:
        cfg = config(tmp_path, srv, "j", mode="json")
        cfg.write_text(cfg.read_text() + "batch = true\n")
        r = invoke("run", "--data", data, "--judges", "j", "--config", cfg, "--out", tmp_path / "o", "--cache-dir", tmp_path / "c")
        assert r.exit_code == 0, r.output
        assert srv.count == 0 and srv.batches_created == 1 and srv.batch_requests_answered == N


def test_dry_run_shows_the_batch_price(tmp_path):
    """--dry-run --batch: litellm's price x 0.5 for a priced model (gpt-4o-mini) behind the loopback endpoint."""
    data = write_data(tmp_path / "d.jsonl")
    cfg = tmp_path / "judges.toml"
    cfg.write_text(f'[judges.mini]\nmodel = "openai/gpt-4o-mini"\napi_base = "http://127.0.0.1:9/v1"\napi_key_env = "{KEY}"\n')
    r = invoke("run", "--data", data, "--judges", "mini", "--config", cfg, "--cache-dir", tmp_path / "c", "--dry-run", "--batch")
    assert r.exit_code == 0, r.output
    total = float(r.output.split("total estimated cost: $")[1].split()[0])
    batch = float(r.output.split("with --batch: mini $")[1].split()[0])
    assert batch == pytest.approx(total / 2, rel=0.05)
