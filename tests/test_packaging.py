"""prompts/, reports/ and fixtures/ must work from a normal (non-editable) install."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds and installs wheels

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True)
    return next(out.glob("judge_audit_personalization-*.whl"))


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


DIST = "judge-audit-personalization"  # "judge-audit" on PyPI is an unrelated project


@pytest.mark.slow
def test_wheel_installs_by_name_and_its_console_script_runs(wheel, tmp_path):
    """The built wheel, installed by its distribution name from a folder (no index: nothing else can
    answer to the name) into a fresh virtual environment, gives a working `judge-audit` command."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py, script = venv / "bin" / "python", venv / "bin" / "judge-audit"
    pip = subprocess.run([str(py), "-m", "pip", "install", "--ignore-installed", "--no-deps", "--no-index", "--find-links", str(wheel.parent),
                          DIST], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    show = subprocess.run([str(py), "-m", "pip", "show", DIST], capture_output=True, text=True)
    assert show.returncode == 0 and f"Name: {DIST}" in show.stdout
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"JUDGE_AUDIT_CACHE_DIR": str(tmp_path / "cache")}
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("judge-audit, version ")
    where = subprocess.run([str(py), "-c", "import audit; print(audit.__file__)"], capture_output=True, text=True,
                           env=env, cwd=tmp_path)
    assert where.stdout.strip().startswith(str(venv)), where.stdout  # the installed copy, not the checkout
    data = ROOT / "fixtures" / "example_imported.jsonl"
    run = subprocess.run([str(script), "run", "--data", str(data), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "style-explicit: inflation" in run.stdout
    assert (tmp_path / "out" / "report.html").read_text(encoding="utf-8").startswith("<!doctype html>")
