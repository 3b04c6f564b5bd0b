"""prompts/, reports/ and fixtures/ must work from a normal (non-editable) install."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True)
    return next(out.glob("judge_audit-*.whl"))


def test_wheel_ships_templates_and_fixtures(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for prompt in sorted(p.name for p in (ROOT / "prompts").glob("*.j2")):
        assert f"audit/_prompts/{prompt}" in names
    assert "audit/_reports/report.html.j2" in names and "audit/_reports/report.css" in names
    assert "audit/_fixtures/example.jsonl" in names
    assert "audit/judges.toml" in names


def test_installed_copy_renders_prompts_and_report(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = (
        "import audit, audit.engine.prompts as p, audit.render.report as r, audit.render.html as h, audit.audits.preference as run;"
        "assert audit.__file__.startswith(%r), audit.__file__;"
        "m = p.render_messages('judge_preference', attributes=['x'], prompt='q', response_a='a', response_b='b');"
        "assert 'Response A' in m[0]['content'];"
        "assert run.bundled_example().is_file();"
        "h.environment().get_template('report.html.j2');"
        "print('ok')"
    ) % str(target)
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
