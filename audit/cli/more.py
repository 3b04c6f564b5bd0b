"""More audit commands: ``extraction`` (stage 1: attribute-extraction verifiers against people) and
``drift`` (did the judge change between saved runs?)."""

from __future__ import annotations

from pathlib import Path

import click

from audit.cli.group import cache_dir_option, cli, config_option, judges_option, progress, seed_option


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--judge", "judges", multiple=True, metavar="NAME",
              help="Judge to compare (repeatable; default: every judge present in all the runs).")
@click.option("--out", type=click.Path(path_type=Path), default="judge-audit-drift", show_default=True,
              help="Output folder (drift.json, drift.html).")
@click.option("--chart", type=click.Path(path_type=Path), metavar="FILE.html",
              help="Also write the drift page (with the EWMA chart of a series) to this file.")
@seed_option("Seed of the cluster bootstrap.")
def drift(runs, judges, out, chart, seed):
    """Did the judge change? Compare saved run folders (no model call).

    Two runs: the judge's fingerprint and the fields that differ, its rating shift on anchor items
    (identical in both runs) against the total score change, the system's share, its agreement with
    people before and after, and the items whose verdict flipped. Three or more runs: each run's
    shift against the first on an EWMA control chart.

    \b
    Examples:
      judge-audit drift runs/2026-10-01 runs/2026-11-01
      judge-audit drift runs/* --judge claude --chart drift.html
    """
    from audit.audits.drift import DriftOptions, run_drift
    from audit.data.files import atomic_write
    from audit.render.drift import drift_summary
    from audit.render.outputs import page_html, publish

    outcome = run_drift(DriftOptions(runs=list(runs), judges=list(judges), out=out, seed=seed))
    click.echo(drift_summary(outcome.results))
    for path in publish(outcome).values():
        click.echo(f"wrote {path}")
    if chart:
        atomic_write(chart, page_html(outcome))
        click.echo(f"wrote {chart}")


@cli.command()
@click.option("--data", type=click.Path(path_type=Path),
              help="JSONL or CSV of extracted attributes with human labels (default: the bundled illustrative example).")
@judges_option("Verifiers to call: names from the judge config or litellm model ids (default: the data's imported "
               "verifiers, else the local judge).")
@config_option
@click.option("--out", type=click.Path(path_type=Path), default="judge-audit-extraction", show_default=True,
              help="Output folder (results.json, extraction_judgments.csv, extraction.html).")
@seed_option("Seed of the cluster bootstrap.")
@cache_dir_option
def extraction(data, judges, config, out, seed, cache_dir):
    """Stage 1: do attribute-extraction verifiers accept, flag and reject extracted attributes as people do?

    \b
    Examples:
      judge-audit extraction --data attributes.jsonl --judges claude,gpt-5.4 --out ext-out/
      judge-audit extraction --data attributes.jsonl          # audit imported verifier labels only
    """
    from audit.audits.extraction import ExtractionOptions, run_extraction
    from audit.engine.config import parse_judge_list
    from audit.render.extraction import extraction_summary
    from audit.render.outputs import publish

    outcome = run_extraction(ExtractionOptions(data=data, judges=parse_judge_list(judges), config=config, out=out,
                                               seed=seed, cache_dir=cache_dir),
                             log=lambda s: click.echo(s, err=True), on_result=progress())
    click.echo(extraction_summary(outcome.results))
    for path in publish(outcome).values():
        click.echo(f"wrote {path}")


@cli.group(invoke_without_command=True)
@cache_dir_option
@click.pass_context
def batches(ctx, cache_dir):
    """List the batches of batch judging (`run --batch`) in the cache: status, progress, cost.

    \b
    Examples:
      judge-audit batches
      judge-audit batches cancel ja-0123456789ab
    """
    from audit.engine.batch import BatchStore
    from audit.engine.cache import default_cache_dir

    ctx.obj = BatchStore.of(cache_dir or default_cache_dir())
    if ctx.invoked_subcommand:
        return
    states = ctx.obj.all()
    if not states:
        click.echo(f"no batches in {ctx.obj.root}")
        return
    import datetime as dt

    for s in states:
        when = dt.datetime.fromtimestamp(s["created"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        done = s["counts"].get("completed") if s.get("counts") else None
        result = (f"collected: {s['n_cached']} cached, {s['n_failed']} failed (retried interactively)" if s["collected"]
                  else f"{done or 0}/{s['n_requests']} done")
        click.echo(f"{s['id']}  {s['judge']:<16} {s['status']:<12} {s['n_requests']:>6} requests  {result}  "
                   f"provider id {s.get('provider_batch_id') or '-'}  submitted {when}")


@batches.command()
@click.argument("batch_id")
@click.pass_obj
def cancel(store, batch_id):
    """Cancel a running batch (by judge-audit id or provider id); its requests are judged again on the next run."""
    from audit.engine.batch import poll, provider_kwargs, spec_of
    from audit.engine.provider import litellm_module
    from audit.errors import ConfigError

    state = store.get(batch_id)
    if state is None:
        raise ConfigError(f"no batch {batch_id!r} in {store.root} (`judge-audit batches` lists them)")
    if state.get("provider_batch_id") is None or state["collected"]:
        raise ConfigError(f"batch {batch_id!r} is {state['status']}: nothing to cancel")
    spec = spec_of(state)
    litellm_module().cancel_batch(batch_id=state["provider_batch_id"], **provider_kwargs(spec))
    poll(spec, state, store)
    click.echo(f"cancelled {state['id']} ({state['provider_batch_id']}): {state['status']}")
