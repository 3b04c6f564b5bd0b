"""``judge-audit annotate``: collect human ratings in a local web app (serve), follow them (status),
and write them into the data (export). See docs/ANNOTATE.md."""

from __future__ import annotations

import json
from pathlib import Path

import click

from audit.cli.group import cli, seed_option

DEFAULT_PORT = 8765


@cli.group()
def annotate():
    """Collect the human ratings an audit needs, in a local annotation app.

    \b
    Examples:
      judge-audit annotate serve --data pairs.jsonl --annotators alice,bob,carol --db ratings.sqlite
      judge-audit annotate status --db ratings.sqlite
      judge-audit annotate export --db ratings.sqlite --out pairs-rated.jsonl
    """


def _links(host: str, port: int, tokens: dict[str, str | None]) -> list[str]:
    shown = "127.0.0.1" if host in ("127.0.0.1", "localhost") else host
    out = []
    for name, token in tokens.items():
        out.append(f"  {name}: http://{shown}:{port}/a/{token}" if token else
                   f"  {name}: link issued earlier (tokens are stored hashed; --reissue-links makes new ones)")
    return out


@annotate.command()
@click.option("--data", required=True, type=click.Path(path_type=Path), help="The pairs to rate (JSONL/CSV, as for `run`).")
@click.option("--annotators", required=True, metavar="A,B,...", help="Annotator names; each gets a private link.")
@click.option("--db", "db_path", required=True, type=click.Path(path_type=Path), help="SQLite file of the session (created or reopened).")
@click.option("--strategy", type=click.Choice(["sequential", "random", "informative"]), default="informative",
              show_default=True, help="Which items each annotator sees next.")
@click.option("--repeats", type=click.IntRange(min=0), default=2, show_default=True,
              help="Planned repeats per annotator (items shown twice) to measure self-consistency.")
@click.option("--target-items", type=click.IntRange(min=1), metavar="N",
              help="Items that need --per-item ratings (e.g. from `judge-audit plan`); status counts what is left.")
@click.option("--per-item", type=click.IntRange(min=1), default=3, show_default=True, help="Ratings wanted per item.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (anything but loopback is exposed to the network).")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=DEFAULT_PORT, show_default=True, help="Port to listen on.")
@click.option("--judgments-from", type=click.Path(path_type=Path), metavar="RUN",
              help="A finished `judge-audit run` on these items: the informative strategy asks first where its judges disagree.")
@click.option("--reissue-links", is_flag=True, help="Give the named annotators new links (their old links stop working).")
@click.option("--links-only", is_flag=True, help="Create or reopen the session and print the links, without serving.")
@seed_option("Seed of the presentation order, the random strategy and the planned repeats.")
def serve(data, annotators, db_path, strategy, repeats, target_items, per_item, host, port, judgments_from, reissue_links,
          links_only, seed):
    """Serve the annotation app: one private link per annotator."""
    from audit.audits.annotate import start
    from audit.render.annotate import serve as run_server

    names = [n.strip() for n in annotators.split(",") if n.strip()]
    settings, tokens = start(data, names, db_path, strategy=strategy, seed=seed, repeats=repeats,
                             target_items=target_items, per_item=per_item, reissue=reissue_links,
                             judgments_from=judgments_from)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: binding {host}: anyone who can reach this address and port can try links; "
                   "the tokens are the only protection", err=True)
    click.echo(f"annotation session {db_path} on {settings.data_path} (strategy {settings.strategy}); private links:")
    for line in _links(host, port, tokens):
        click.echo(line)
    if links_only:
        return
    click.echo(f"serving on http://{host}:{port}/ (Ctrl-C stops; every submitted rating is already saved)", err=True)
    run_server(db_path, host, port)


@annotate.command()
@click.option("--db", "db_path", required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="SQLite file of the session.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(db_path, as_json):
    """Progress, agreement so far, self-consistency and items still needed."""
    from audit.audits.annotate import status as session_status

    s = session_status(db_path)
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    click.echo(f"{s['n_ratings']} ratings of {s['n_items']} items ({s['data']}; strategy {s['strategy']})")
    for name, p in s["annotators"].items():
        c = s["self_consistency"][name]
        cons = (f"; repeats {c['same']}/{c['n_repeats']} identical, mean |difference| {c['mean_abs_difference']:.2f}"
                if c["n_repeats"] else "")
        click.echo(f"  {name}: {p['done']} of {p['total']}{cons}")
    click.echo("items by number of human ratings: " + ", ".join(f"{k}: {v}" for k, v in s["items_by_ratings"].items()))
    alpha, own = s["krippendorff_alpha_ordinal"], s["krippendorff_alpha_session"]
    click.echo((f"agreement so far: Krippendorff's alpha (ordinal) {alpha:.2f} over every rating"
                if alpha is not None else "agreement so far: not yet measurable (needs items rated by two annotators)")
               + (f", {own:.2f} among this session's annotators" if own is not None else ""))
    need = f"; still needed: {s['items_still_needed']} of {s['target_items']}" if s["target_items"] else ""
    click.echo(f"items with >= {s['per_item']} ratings: {s['items_with_enough']}{need}")


@annotate.command()
@click.option("--db", "db_path", required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="SQLite file of the session.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="JSONL to write (never the input data).")
def export(db_path, out):
    """Write the data with the collected ratings merged into human_ratings (JSONL)."""
    from audit.audits.annotate import export as write_export

    n = write_export(db_path, out)
    click.echo(f"wrote {out} ({n} ratings added)")
