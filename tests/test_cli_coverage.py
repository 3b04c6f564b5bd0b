"""Every command and option of the CLI has a test (``covers(...)``, tests/cli_coverage.py)."""

from __future__ import annotations

import click

from audit.cli import cli
from cli_coverage import TESTS, cli_targets, covered_targets, uncovered


def test_every_command_and_option_has_a_test():
    missing, stale = uncovered(cli)
    assert not missing, ("commands/options without a test (add one, marked @covers(...)):\n  " + "\n  ".join(missing))
    assert not stale, "covers(...) names targets the CLI does not have:\n  " + "\n  ".join(stale)


def test_a_new_option_without_a_test_is_caught(tmp_path):
    """Plant an option and a command in a copy of the tree: the coverage check names both."""
    import copy

    planted = copy.deepcopy(cli)
    planted.commands["run"].params.append(click.Option(["--brand-new-option"], is_flag=True))
    planted.add_command(click.Command("brand-new-command", callback=lambda: None))
    before, _ = uncovered(cli)
    missing, stale = uncovered(planted)
    assert sorted(set(missing) - set(before)) == ["brand-new-command", "run --brand-new-option"] and stale == []


def test_a_covers_naming_a_removed_option_is_caught(tmp_path):
    (tmp_path / "test_x.py").write_text('from cli_coverage import covers\n\n@covers("run --gone")\ndef test_x():\n    pass\n')
    assert covered_targets(tmp_path) == {"run --gone": ["test_x.py::test_x"]}
    _, stale = uncovered(cli, tmp_path)
    assert stale == ["run --gone"]


def test_the_tree_is_read_from_click():
    targets = cli_targets(cli)
    assert {"run", "run --data", "cache clear --yes", "--version", "schema --out"} <= targets
    assert not any(t.endswith("--help") for t in targets)
    assert TESTS.name == "tests"
