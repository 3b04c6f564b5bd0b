"""The helper commands: plan (power), simulate (synthetic data), cache (stats, clear)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from audit.cli.group import cache_dir_option, cli, seed_option


@cli.command()
@click.option("--metric", type=click.Choice(["inflation", "mention-delta"]), default="inflation", show_default=True,
              help="inflation: judge - human mean (paired); mention-delta: mention vs no-mention items (two groups).")
@click.option("--effect", type=float, required=True, help="Smallest bias worth detecting, in rating points (e.g. 0.3).")
@click.option("--sd", type=float, required=True,
              help="SD of the per-item quantity: judge - human mean (inflation), or the rating within a group (mention-delta).")
@click.option("--power", type=float, default=0.8, show_default=True, help="Wanted power.")
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Two-sided significance level.")
@click.option("--mention-share", type=float, default=0.5, show_default=True,
              help="Share of items whose answer explicitly mentions an attribute (mention-delta).")
@click.option("--icc", type=float, default=0.0, show_default=True,
              help="Intra-cluster correlation: share of the item variance shared by the items of one user.")
@click.option("--cluster-size", type=int, default=1, show_default=True, help="Items per user (cluster).")
@click.option("--raters", type=int, default=1, show_default=True, help="Human annotators per item.")
@click.option("--rater-sd", type=float, default=0.0, show_default=True,
              help="SD of one annotator's rating around the item's true rating (annotator noise).")
@click.option("--simulations", type=click.IntRange(min=0), default=2000, show_default=True,
              help="Simulated data sets for the check (0 = skip).")
@seed_option("Seed of the simulation.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(metric, effect, sd, power, alpha, mention_share, icc, cluster_size, raters, rater_sd, simulations, seed, as_json):
    """How many human-rated items are needed to detect a judge's bias?

    \b
    Examples:
      judge-audit plan --effect 0.3 --sd 1.0
      judge-audit plan --metric mention-delta --effect 0.4 --sd 1.1 --mention-share 0.3
      judge-audit plan --effect 0.3 --sd 1.0 --icc 0.2 --cluster-size 4 --raters 3 --rater-sd 0.8
    """
    import json

    from audit.stats.power import Design, plan as make_plan, plan_text

    design = Design(metric=metric, effect=effect, sd=sd, alpha=alpha, power=power, icc=icc, cluster_size=cluster_size,
                    raters=raters, rater_sd=rater_sd, mention_share=mention_share)
    result = make_plan(design, simulations=simulations, seed=seed)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else plan_text(result))


def _floats(value: str | None, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{what} must be a number or comma-separated numbers, one per judge (got {value!r})")


@cli.command()
@click.option("--out", required=True, type=click.Path(path_type=Path), help="JSONL file to write.")
@click.option("--items", "n_items", type=click.IntRange(min=1), default=200, show_default=True, help="Number of items.")
@click.option("--annotators", type=click.IntRange(min=1), default=5, show_default=True, help="Number of annotators.")
@click.option("--raters-per-item", type=click.IntRange(min=1), default=3, show_default=True, help="Annotators rating each item.")
@click.option("--users", type=click.IntRange(min=1), help="Number of users (clusters); default items/2.")
@click.option("--judges", "judge_names", default="sim-judge-a,sim-judge-b", show_default=True, metavar="A,B,...",
              help="Judge names (labels of the simulation).")
@click.option("--inflation", default="0.6,0.2", show_default=True, metavar="X[,X2...]", help="Planted inflation per judge (rating points).")
@click.option("--mention-bias", default="0.4,0.0", show_default=True, metavar="Y[,...]",
              help="Planted judge-minus-human mention delta per judge.")
@click.option("--position-bias", default="0.3,0.0", show_default=True, metavar="Z[,...]",
              help="Planted shift when the personalized answer is shown first, per judge.")
@click.option("--noise", type=click.FloatRange(min=0), default=0.7, show_default=True, help="Annotator noise SD.")
@click.option("--judge-noise", type=click.FloatRange(min=0), default=0.5, show_default=True, help="Judge noise SD.")
@click.option("--human-mention-effect", type=float, default=0.0, show_default=True, help="Humans' own mention delta (latent).")
@click.option("--mention-rate", type=click.FloatRange(0, 1), default=0.4, show_default=True, help="Share of items with an explicit mention.")
@seed_option("Seed of the simulation.")
def simulate(out, n_items, annotators, raters_per_item, users, judge_names, inflation, mention_bias, position_bias,
             noise, judge_noise, human_mention_effect, mention_rate, seed):
    """Write a SYNTHETIC dataset with planted judge biases (to check the statistics).

    \b
    The file is in the normal input format, labelled synthetic in its '#' header, which
    also holds the parameters and the exact expected value of each planted quantity.
    Both presentation orders' verdicts are in meta.judge_verdicts (see docs/METHODS.md).
    \b
    Example:
      judge-audit simulate --out sim.jsonl --items 400 --inflation 0.5 --mention-bias 0.3 --seed 1
      judge-audit run --data sim.jsonl --out sim-audit/
    """
    import json

    from audit.errors import ConfigError
    from audit.stats.simulate import SimParams, write_jsonl

    if out.suffix.lower() != ".jsonl":
        raise ConfigError(f"--out must name a .jsonl file (got {out})")
    names = tuple(n.strip() for n in judge_names.split(",") if n.strip())
    try:
        params = SimParams(n_items=n_items, n_annotators=annotators, raters_per_item=raters_per_item,
                           judges=names, inflation=_floats(inflation, "--inflation"),
                           mention_bias=_floats(mention_bias, "--mention-bias"),
                           position_bias=_floats(position_bias, "--position-bias"), noise=noise,
                           judge_noise=judge_noise, human_mention_effect=human_mention_effect,
                           mention_rate=mention_rate, n_users=users, seed=seed)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        data = write_jsonl(out, params)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror}") from None
    click.echo(f"wrote {out}: {n_items} synthetic items, {annotators} annotators, judges {', '.join(names)}")
    for name, t in data.truth["judges"].items():
        click.echo(f"{name}: expected inflation {t['inflation']:+.3f}, mention delta {t['mention_delta']:+.3f}, "
                   f"excess mention uplift {t['excess_mention_uplift']:+.3f}, position shift {t['position_shift']:+.3f}")
    click.echo("truth: " + json.dumps(data.truth["humans"]))


@cli.group()
def cache():
    """Inspect and prune the result cache (every paid, validated model result).

    \b
    Examples:
      judge-audit cache stats
      judge-audit cache clear --model openai/gpt-4o --yes
      judge-audit cache clear --older-than 30 --yes
    """


@cache.command("stats")
@cache_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def cache_stats(cache_dir, as_json):
    """Entries, size on disk, and per model: entries, tokens and the recorded cost."""
    import json

    from audit.engine.cache import ResultCache
    from audit.text.fmt import token_count, usd

    rc = ResultCache(cache_dir)
    try:
        st = rc.stats()
    finally:
        rc.close()
    if as_json:
        click.echo(json.dumps(st.to_dict(), indent=2))
        return
    click.echo(f"{st.directory}: {st.entries} entries, {st.size_bytes / 1e6:.1f} MB")
    for model, m in st.models.items():
        click.echo(f"  {model}: {m.entries} entries, tokens {token_count(m.tokens_in)} in / {token_count(m.tokens_out)} out, "
                   f"paid {usd(m.cost_usd)}" + (f" ({m.unpriced} without a known price)" if m.unpriced else ""))
    for name, n in st.derived.items():
        click.echo(f"  derived/{name}: {n} entries (computed here, not paid for)")


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


@cache.command("clear")
@cache_dir_option
@click.option("--model", help="Only the entries of this litellm model id (as `cache stats` lists them).")
@click.option("--older-than", type=click.FloatRange(min=0), metavar="DAYS", help="Only entries stored more than DAYS days ago.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def cache_clear(cache_dir, model, older_than, yes):
    """Delete cached results. They were paid for: a later run pays for them again."""
    from audit.engine.cache import ResultCache
    from audit.errors import ConfigError

    rc = ResultCache(cache_dir)
    try:
        everything = model is None and older_than is None
        keys = None if everything else rc.select(model=model, older_than_s=None if older_than is None else older_than * 86400)
        n = len(rc) if everything else len(keys)
        what = f"{n} cached results" + (f" of {model}" if model else "") + (f" older than {older_than:g} days" if older_than is not None else "")
        if n == 0:
            click.echo(f"nothing to delete in {rc.directory}")
            return
        if not yes:
            if not _stdin_is_terminal():
                raise ConfigError(f"refusing to delete {what} in {rc.directory} without confirmation: pass --yes")
            click.confirm(f"Delete {what} in {rc.directory}? They were paid for", abort=True, err=True)
        removed = rc.clear() if everything else rc.delete(keys)
    finally:
        rc.close()
    click.echo(f"deleted {removed} cached results from {rc.directory}")


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), help="Write the schema to this file (default: print it).")
def schema(out):
    """Print the JSON Schema of results.json (run, relevance, counterfactual and study results).

    \b
    Example:
      judge-audit schema --out results.schema.json
    """
    import json

    from audit.data.files import atomic_write
    from audit.data.results import results_schema
    from audit.errors import ConfigError

    text = json.dumps(results_schema(), indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        atomic_write(out, text)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror}") from None
    click.echo(f"wrote {out}")
