"""The command line (one Click group, ``judge-audit``): parses options and calls the stages.

``audit.cli.group`` holds the group, its error handling, the shared option bundles and ``main``;
``audit.cli.audits`` the audit commands, ``audit.cli.more`` extraction and drift, ``audit.cli.annotate`` the
annotation app, ``audit.cli.tools`` plan,
simulate and cache.
"""

from audit.cli import annotate, audits, more, tools  # noqa: F401  (registers the commands)
from audit.cli.group import cli, main

__all__ = ["cli", "main"]
