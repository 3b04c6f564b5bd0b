"""The command group, its error handling, the option bundles its commands share, and ``main``.

The command line parses options and calls the stages. Nothing heavy is imported at start-up
(litellm alone costs ~3 s), so ``judge-audit --help`` is instant.

Exit codes: 0 ok, 1 a gate check failed, 2 bad input or usage, 3 a judge is unavailable.
"""

from __future__ import annotations

from pathlib import Path

import click

from audit import __version__
from audit.errors import AuditError

DEFAULT_OUT = "judge-audit-out"


class AuditGroup(click.Group):
    """Turns every AuditError into one line on stderr and its documented exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AuditError as exc:
            click.echo(f"Error: {exc}" if exc.exit_code else str(exc), err=True)  # exit 0: a notice (batches pending)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted: every completed judgment is in the cache; run the same command to resume.", err=True)
            ctx.exit(130)


@click.group(cls=AuditGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="judge-audit")
def cli():
    """Audit LLM judges against human ratings of personalized answers.

    \b
    Exit codes: 0 ok, 1 a gate check failed, 2 bad input or usage,
                3 a judge is unavailable (credentials, provider down).
    """


def progress(total_by_judge: dict[str, int] | None = None):
    """Live progress of the judge calls on stderr (audit.render.progress): redrawn in place on a terminal,
    plain lines at each 10% (and every 30 s) otherwise."""
    from audit.render.progress import Progress

    progress = Progress()
    for judge, total in (total_by_judge or {}).items():
        progress.expect(judge, total)
    return progress


# --- option bundles shared by the commands (each keeps its --help text) ------------------------

def config_option(f):
    return click.option("--config", type=click.Path(path_type=Path), help="TOML file adding or overriding judges.")(f)


def cache_dir_option(f):
    return click.option("--cache-dir", type=click.Path(path_type=Path),
                        help="Result cache (default ~/.cache/judge-audit or $JUDGE_AUDIT_CACHE_DIR).")(f)


def out_option(help: str = "Output folder.", default: str = DEFAULT_OUT):
    return click.option("--out", type=click.Path(path_type=Path), default=default, show_default=True, help=help)


def seed_option(help: str):
    return click.option("--seed", type=int, default=0, show_default=True, help=help)


def judges_option(help: str = "Judges to call: names from the judge config or litellm model ids."):
    return click.option("--judges", "judges", metavar="A,B,...", help=help)


def pairs_option(f):
    return click.option("--data", type=click.Path(path_type=Path),
                        help="JSONL or CSV of judged pairs (default: the bundled example).")(f)


def flagger_option(f):
    return click.option("--flagger", default="offline", show_default=True,
                        help="Explicit-mention flagger: 'offline' or a judge name.")(f)


def temperature_option(f):
    return click.option("--temperature", type=click.FloatRange(min=0),
                        help="Sampling temperature for the called judges (overrides their config).")(f)


def prompt_option(f):
    return click.option("--prompt", metavar="NAME|DIR",
                        help="Judge prompt of every called judge: a shipped variant (see `judge-audit prompts`) or a "
                             "folder with system.j2 and user.j2. The judges are named JUDGE@PROMPT.")(f)


def confidence_threshold_option(f):
    return click.option("--confidence-threshold", type=click.FloatRange(0, 1), default=0.8, show_default=True,
                        metavar="T",
                        help="Calibration: accuracy of verdicts with the judge's confidence >= T vs the rest "
                             "(docs/FORMATS.md).")(f)


def workers_option(f):
    return click.option("--workers", type=click.IntRange(min=0),
                        help="Worker processes for provider calls (default: automatic; 0 = in-process).")(f)


# The cyclic garbage collector's default thresholds (700, 10, 10) make a run of 10,000 judgments
# collect ~850 times, ~80 of them walking every live object (pandas, scipy, the judgments): 0.7-1.2 s
# of a 4-5 s fully cached re-run (benchmarks/bench_cached.py). Reference counting frees everything
# that is not a cycle, so collecting rarely costs little memory in a short-lived command.
GC_THRESHOLDS = (50_000, 20, 100)


def main() -> None:
    import gc

    gc.set_threshold(*GC_THRESHOLDS)
    try:
        cli(prog_name="judge-audit")
    finally:
        # Interpreter shutdown runs one last full collection over the whole heap (0.5-0.8 s after a
        # large run) only to free memory the exiting process returns anyway. Frozen objects are
        # skipped; atexit handlers, file flushing and module teardown still run as usual.
        gc.freeze()

