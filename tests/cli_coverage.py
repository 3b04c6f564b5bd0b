"""Which CLI commands and options a test exercises: ``@covers("run --flagger", "judges")``.

Every command and every option of ``judge-audit`` (read from Click's own command tree) must be
named by at least one ``covers(...)`` in the tests; ``tests/test_cli_coverage.py`` fails otherwise,
so a new command or option cannot land without a test. A target is the command path
(``"cache clear"``), optionally followed by one option's longest name (``"cache clear --yes"``);
``"--version"`` is an option of the group itself.

Mark a test only for what it really exercises: a test that passes ``--seed`` but would pass just as
well if the option were ignored does not cover it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import click

TESTS = Path(__file__).resolve().parent


def covers(*targets: str):
    """Decorator naming the CLI targets a test exercises (read statically; no effect at run time)."""
    def mark(fn):
        fn.cli_targets = targets
        return fn
    return mark


def cli_targets(group: click.Group) -> set[str]:
    """Every leaf command path and every ``command --option`` of the tree (help options excluded)."""
    out: set[str] = set()

    def walk(cmd: click.Command, path: list[str]) -> None:
        prefix = " ".join(path)
        for p in cmd.params:
            if getattr(p, "hidden", False):
                continue
            name = max(p.opts, key=len) if p.opts else p.name
            out.add(f"{prefix} {name}".strip())
        if isinstance(cmd, click.Group):
            for sub_name, sub in sorted(cmd.commands.items()):
                walk(sub, path + [sub_name])
        else:
            out.add(prefix)

    walk(group, [])
    return out


def covered_targets(folder: Path = TESTS) -> dict[str, list[str]]:
    """target -> the tests (file::function) whose ``covers(...)`` names it, read from the source."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "covers":
                    for arg in deco.args:
                        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                            found.setdefault(arg.value, []).append(f"{path.relative_to(folder)}::{node.name}")
    return found


def uncovered(group: click.Group, folder: Path = TESTS) -> tuple[list[str], list[str]]:
    """(targets of the tree no test covers, covered targets that are not in the tree)."""
    tree, covered = cli_targets(group), covered_targets(folder)
    return sorted(tree - set(covered)), sorted(set(covered) - tree)
