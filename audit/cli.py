"""The command line: parses options and calls the stages. Nothing heavy is imported at start-up
(litellm alone costs ~3 s), so ``judge-audit --help`` is instant.

Exit codes: 0 ok, 1 a gate check failed, 2 bad input or usage, 3 a judge is unavailable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .errors import AuditError

DEFAULT_OUT = "judge-audit-out"


class AuditGroup(click.Group):
    """Turns every AuditError into one line on stderr and its documented exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AuditError as exc:
            click.echo(f"Error: {exc}", err=True)
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


def _progress(total_by_judge: dict[str, int] | None = None):
    """A small progress line on stderr: rewritten in place on a terminal, every 10% otherwise."""
    counts: dict[str, list[int]] = {}
    tty = sys.stderr.isatty()

    def on_result(judge: str, result) -> None:
        done, failed = counts.setdefault(judge, [0, 0])
        counts[judge] = [done + 1, failed + (result.value is None)]
        total = (total_by_judge or {}).get(judge)
        d, f = counts[judge]
        line = f"{judge}: {d}/{total or '?'} judged, {f} failed"
        if tty:
            click.echo("\r" + line, nl=False, err=True)
            if total and d == total:
                click.echo("", err=True)
        elif total and (d == total or d % max(1, total // 10) == 0):
            click.echo(line, err=True)

    return on_result


@cli.command()
@click.option("--data", type=click.Path(path_type=Path), help="JSONL or CSV of judged pairs (default: the bundled example).")
@click.option("--judges", "judges", metavar="A,B,...", help="Judges to call: names from the judge config or litellm model ids.")
@click.option("--config", type=click.Path(path_type=Path), help="TOML file adding or overriding judges.")
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True, help="Output folder.")
@click.option("--flagger", default="offline", show_default=True, help="Explicit-mention flagger: 'offline' or a judge name.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for presentation order.")
@click.option("--measure-habits", is_flag=True, help="Have each called judge write personalized answers to measure its mention habit.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Result cache (default ~/.cache/judge-audit or $JUDGE_AUDIT_CACHE_DIR).")
def run(data, judges, config, out, flagger, seed, measure_habits, cache_dir):
    """Run the whole audit: load, flag mentions, judge, measure, write results and report.

    \b
    Examples:
      judge-audit run                                  # bundled example, local judge
      judge-audit run --data my.jsonl --judges claude,gpt-5.4 --out audit-out/
      judge-audit run --data my.jsonl                  # audit imported judge ratings only
    """
    from .config import parse_judge_list
    from .run import RunOptions, run_audit

    opts = RunOptions(data=data, judges=parse_judge_list(judges), config=config, out=out, flagger=flagger,
                      seed=seed, measure_habits=measure_habits, cache_dir=cache_dir)
    outcome = run_audit(opts, log=lambda s: click.echo(s, err=True), on_result=_progress())
    click.echo(summary_text(outcome.results))
    for kind, path in outcome.paths.items():
        click.echo(f"wrote {path}")


def summary_text(results: dict) -> str:
    """The terminal summary: one line per judge and one for humans."""

    def fmt(est, signed=True):
        if not est or est.get("estimate") is None:
            return "n/a"
        f = "{:+.2f}" if signed else "{:.2f}"
        s = f.format(est["estimate"])
        if est.get("ci"):
            s += " [" + ", ".join(f.format(v) for v in est["ci"]) + "]"
        return s

    h = results["humans"]
    lines = [
        f"items: {results['n_items']} ({results['n_items_with_human_ratings']} with human ratings, "
        f"{results['n_mention']} with an explicit mention)",
        f"humans: no-better rate {fmt(h['no_better_rate'], False)}, mention delta {fmt(h['mention_delta'])}",
    ]
    for name, j in results["judges"].items():
        lines.append(
            f"{name}: inflation {fmt(j['inflation'])}, mention delta {fmt(j['mention_delta'])}, "
            f"spearman {fmt(j['spearman'])} ({j['n_items_rated']} items, {j['source']})"
        )
        lines.extend(f"  warning: {w}" for w in j["warnings"])
    hb = results["habit_bias"]
    lines.append(
        f"habit vs bias: spearman r {hb['spearman_r']:+.2f} (p={hb['p_value']:.3f}, {hb['n_models']} models)"
        if hb.get("spearman_r") is not None else f"habit vs bias: not computed ({hb.get('reason')})"
    )
    return "\n".join(lines)


@cli.command()
@click.option("--config", type=click.Path(path_type=Path), help="TOML file adding or overriding judges.")
def judges(config):
    """List judge names and what they resolve to.

    \b
    Example:
      judge-audit judges --config my-judges.toml
    """
    import os

    from .config import load_judge_config

    specs = load_judge_config(config)
    width = max(len(n) for n in specs)
    for name, s in specs.items():
        if s.is_local:
            key = "in-process (llama-cpp-python)"
        elif s.api_key_env:
            key = f"{s.api_key_env} {'set' if os.environ.get(s.api_key_env) else 'NOT set'}"
        else:
            key = "no key configured"
        click.echo(f"{name:<{width}}  {s.describe()}  [{s.mode}; {key}]")
    click.echo("Any litellm model id (e.g. openai/gpt-4o-mini) also works as a judge name.")


def main() -> None:
    cli(prog_name="judge-audit")


if __name__ == "__main__":  # pragma: no cover
    main()
