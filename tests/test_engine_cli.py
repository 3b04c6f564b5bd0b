"""The engine's command-line surface: ``run --dry-run``, the progress lines, ``cache stats|clear``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from audit.cli import cli
from openai_server import OpenAIServer, judge_responder
from cli_coverage import covers


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("FAKE_JUDGE_KEY", "sk-test")


def _config(tmp_path, srv, model="openai/fake-model", key_env="FAKE_JUDGE_KEY"):
    path = tmp_path / "judges.toml"
    path.write_text(f'[judges.fake]\nmodel = "{model}"\napi_base = "{srv.base_url}"\napi_key_env = "{key_env}"\n'
                    'concurrency = 8\n', encoding="utf-8")
    return path


def _table_row(output: str, judge: str) -> list[str]:
    return next(line.split() for line in output.splitlines() if line.startswith(judge + " "))


@covers("run --dry-run")
def test_dry_run_spends_nothing_then_sees_the_cache(tmp_path):
    with OpenAIServer(judge_responder(lambda text: 4)) as srv:
        config = _config(tmp_path, srv)
        args = ["run", "--judges", "fake", "--config", str(config), "--both-orders", "--out", str(tmp_path / "out")]
        res = CliRunner().invoke(cli, args + ["--dry-run"])
        assert res.exit_code == 0, res.output
        assert srv.count == 0 and not (tmp_path / "out").exists()
        judge, model, calls, cached, to_call, tin, tout, cost = _table_row(res.output, "fake")
        assert (calls, cached, to_call, cost) == ("88", "0", "88", "unknown")
        assert tin.endswith("k") and float(tin[:-1]) > 10  # ~500 prompt tokens per call
        assert "total estimated cost: unknown" in res.output
        assert CliRunner().invoke(cli, args).exit_code == 0 and srv.count == 88
        again = CliRunner().invoke(cli, args + ["--dry-run"])
        assert _table_row(again.output, "fake")[2:5] == ["88", "88", "0"]
        assert srv.count == 88


def test_dry_run_prices_a_known_model_and_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    with OpenAIServer() as srv:
        config = _config(tmp_path, srv, model="openai/gpt-4o-mini", key_env="NO_SUCH_KEY")
        res = CliRunner().invoke(cli, ["run", "--judges", "fake", "--config", str(config), "--dry-run"])
        assert res.exit_code == 0, res.output
        assert srv.count == 0
    cost = _table_row(res.output, "fake")[-1]
    assert cost.startswith("$") and float(cost[1:]) > 0
    assert "not ready: judge 'fake' (openai/gpt-4o-mini) needs an API key: set NO_SUCH_KEY" in res.output


def test_progress_is_plain_lines_when_not_a_terminal(tmp_path):
    with OpenAIServer(judge_responder(lambda text: 4)) as srv:
        res = CliRunner().invoke(cli, ["run", "--judges", "fake", "--config", str(_config(tmp_path, srv)),
                                       "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "\x1b[" not in res.stderr and "\r" not in res.stderr
    assert "fake: 44/44 (100%), 0 failed, done in" in res.stderr


@covers("cache stats",
        "cache stats --cache-dir",
        "cache stats --json",
        "cache clear",
        "cache clear --cache-dir",
        "cache clear --model",
        "cache clear --older-than",
        "cache clear --yes",
        "run --cache-dir")
def test_cache_stats_and_clear(tmp_path):
    cache_dir = tmp_path / "cache"
    with OpenAIServer(judge_responder(lambda text: 4)) as srv:
        res = CliRunner().invoke(cli, ["run", "--judges", "fake", "--config", str(_config(tmp_path, srv)),
                                       "--out", str(tmp_path / "out"), "--cache-dir", str(cache_dir)])
        assert res.exit_code == 0, res.output
    stats = CliRunner().invoke(cli, ["cache", "stats", "--cache-dir", str(cache_dir)])
    assert stats.exit_code == 0 and "44 entries" in stats.output
    assert "openai/fake-model: 44 entries" in stats.output and "paid unknown (44 without a known price)" in stats.output
    as_json = json.loads(CliRunner().invoke(cli, ["cache", "stats", "--cache-dir", str(cache_dir), "--json"]).output)
    assert as_json["entries"] == 44 and as_json["models"]["openai/fake-model"]["cost_usd"] is None

    refused = CliRunner().invoke(cli, ["cache", "clear", "--cache-dir", str(cache_dir)])
    assert refused.exit_code == 2 and "pass --yes" in refused.output
    other = CliRunner().invoke(cli, ["cache", "clear", "--cache-dir", str(cache_dir), "--model", "openai/other", "--yes"])
    assert other.exit_code == 0 and "nothing to delete" in other.output
    recent = CliRunner().invoke(cli, ["cache", "clear", "--cache-dir", str(cache_dir), "--older-than", "1", "--yes"])
    assert "nothing to delete" in recent.output  # everything was stored just now
    gone = CliRunner().invoke(cli, ["cache", "clear", "--cache-dir", str(cache_dir), "--model", "openai/fake-model", "--yes"])
    assert gone.exit_code == 0 and "deleted 44 cached results" in gone.output
    assert "0 entries" in CliRunner().invoke(cli, ["cache", "stats", "--cache-dir", str(cache_dir)]).output


def test_cache_clear_asks_on_a_terminal(tmp_path, monkeypatch):
    from audit.engine.cache import ResultCache

    cache = ResultCache(tmp_path / "c")
    cache.set("k", {"value": {}, "model": "m", "at": 0})
    cache.close()
    monkeypatch.setattr("audit.cli.tools._stdin_is_terminal", lambda: True)
    no = CliRunner().invoke(cli, ["cache", "clear", "--cache-dir", str(tmp_path / "c")], input="n\n")
    assert no.exit_code == 1 and "They were paid for" in no.output
    yes = CliRunner().invoke(cli, ["cache", "clear", "--cache-dir", str(tmp_path / "c")], input="y\n")
    assert yes.exit_code == 0 and "deleted 1 cached results" in yes.output
