"""The command line: parses options and calls the stages. Nothing heavy is imported at start-up
(litellm alone costs ~3 s), so ``judge-audit --help`` is instant.

Exit codes: 0 ok, 1 a gate check failed, 2 bad input or usage, 3 a judge is unavailable.
"""

from __future__ import annotations

import sys
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
    """Live progress of the judge calls on stderr (audit.render.progress): redrawn in place on a terminal,
    plain lines at each 10% (and every 30 s) otherwise."""
    from audit.render.progress import Progress

    progress = Progress()
    for judge, total in (total_by_judge or {}).items():
        progress.expect(judge, total)
    return progress


@cli.command()
@click.option("--data", type=click.Path(path_type=Path), help="JSONL or CSV of judged pairs (default: the bundled example).")
@click.option("--judges", "judges", metavar="A,B,...", help="Judges to call: names from the judge config or litellm model ids.")
@click.option("--config", type=click.Path(path_type=Path), help="TOML file adding or overriding judges.")
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True, help="Output folder.")
@click.option("--flagger", default="offline", show_default=True, help="Explicit-mention flagger: 'offline' or a judge name.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for presentation order.")
@click.option("--measure-habits", is_flag=True, help="Have each called judge write personalized answers to measure its mention habit.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Result cache (default ~/.cache/judge-audit or $JUDGE_AUDIT_CACHE_DIR).")
@click.option("--both-orders", is_flag=True, help="Judge every pair in both presentation orders: measures position bias (flip rate, slot-A preference).")
@click.option("--samples", type=click.IntRange(min=1), default=1, show_default=True, help="Ratings per item and order (use with --temperature): measures self-consistency.")
@click.option("--temperature", type=click.FloatRange(min=0), help="Sampling temperature for the called judges (overrides their config).")
@click.option("--dry-run", is_flag=True, help="Print the calls and estimated cost per judge, call nothing.")
@click.option("--workers", type=click.IntRange(min=0), help="Worker processes for provider calls (default: automatic; 0 = in-process).")
def run(data, judges, config, out, flagger, seed, measure_habits, cache_dir, both_orders, samples, temperature,
        dry_run, workers):
    """Run the whole audit: load, flag mentions, judge, measure, write results and report.

    \b
    Examples:
      judge-audit run                                  # bundled example, local judge
      judge-audit run --data my.jsonl --judges claude,gpt-5.4 --out audit-out/
      judge-audit run --data my.jsonl                  # audit imported judge ratings only
      judge-audit run --data my.jsonl --judges claude --both-orders --samples 3 --temperature 0.7
      judge-audit run --data my.jsonl --judges claude,gpt-5.4 --both-orders --dry-run
    """
    from audit.engine.config import parse_judge_list
    from audit.audits.preference import RunOptions, dry_run as plan_run, run_audit
    from audit.render.outputs import publish
    from audit.render.terminal import run_summary

    opts = RunOptions(data=data, judges=parse_judge_list(judges), config=config, out=out, flagger=flagger,
                      seed=seed, measure_habits=measure_habits, cache_dir=cache_dir, samples=samples,
                      both_orders=both_orders, temperature=temperature, workers=workers)
    if dry_run:
        from audit.render.terminal import format_plan

        click.echo(format_plan(plan_run(opts)))
        return
    if samples > 1 and not temperature:
        click.echo(f"note: --samples {samples} without a --temperature above 0: repeated samples can differ only by "
                   "the provider's own nondeterminism", err=True)
    outcome = run_audit(opts, log=lambda s: click.echo(s, err=True), on_result=_progress())
    click.echo(run_summary(outcome.results))
    for kind, path in publish(outcome).items():
        click.echo(f"wrote {path}")


@cli.command()
@click.option("--from", "from_dir", required=True, type=click.Path(path_type=Path),
              help="Output folder of a finished `judge-audit run` (results.json, judgments.csv, items.jsonl).")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default="html", show_default=True,
              help="html: the full report; md: a short Markdown summary for a pull-request comment.")
@click.option("--out", type=click.Path(path_type=Path),
              help="File to write (default: DIR/report.html or DIR/report.md; '-' prints to stdout).")
def report(from_dir, fmt, out):
    """Re-render a finished run's report from its output folder, calling no model.

    \b
    Examples:
      judge-audit report --from judge-audit-out/
      judge-audit report --from audit-out/ --format md --out comment.md
      judge-audit report --from audit-out/ --format md --out - | gh pr comment 12 --body-file -
    """
    from audit.errors import ConfigError
    from audit.data.files import atomic_write
    from audit.render.report import report_text

    text = report_text(from_dir, fmt)
    if out is not None and str(out) == "-":
        click.echo(text, nl=False)
        return
    target = out if out is not None else from_dir / ("report.md" if fmt == "md" else "report.html")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, text)
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror}") from None
    click.echo(f"wrote {target}")


@cli.command()
@click.option("--config", type=click.Path(path_type=Path), help="TOML file adding or overriding judges.")
def judges(config):
    """List judge names and what they resolve to.

    \b
    Example:
      judge-audit judges --config my-judges.toml
    """
    import os

    from audit.engine.config import load_judge_config

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


@cli.command()
@click.option("--judge", required=True, help="The judge to gate: a judge name, litellm model id, or a judge imported in --data.")
@click.option("--data", type=click.Path(path_type=Path), help="JSONL or CSV of judged pairs (default: the bundled example).")
@click.option("--policy", type=click.Path(path_type=Path), help="Policy TOML with the thresholds (see docs/GATE.md).")
@click.option("--baseline", metavar="JUDGE|PATH", help="Incumbent: a judge name, or a saved audit (DIR, DIR/results.json[#JUDGE]).")
@click.option("--min-items", type=click.IntRange(min=1), help="Fail with fewer items rated by judge and humans.")
@click.option("--max-inflation", type=float, help="Limit on the CI upper bound of inflation (judge - human).")
@click.option("--max-mention-gap", type=float, help="Limit on |judge mention delta - human mention delta| (CI bound farthest from 0).")
@click.option("--min-spearman", type=float, help="Limit on the CI lower bound of Spearman rho with humans.")
@click.option("--max-position-flip-rate", type=float, help="Limit on the CI upper bound of the flip rate (judges both orders).")
@click.option("--max-over-selection-ratio", type=float, help="Limit on the CI upper bound of judge / human relevance selection rate (needs --relevance-data).")
@click.option("--min-relevance-f1", type=float, help="Limit on the CI lower bound of relevance F1 against the human majority (needs --relevance-data).")
@click.option("--max-counterfactual-effect", type=float, help="Limit on |causal mention effect| (CI bound farthest from 0; runs the counterfactual test on --data).")
@click.option("--relevance-data", type=click.Path(path_type=Path), help="JSONL or CSV of relevance pairs for the relevance thresholds (as for `judge-audit relevance`).")
@click.option("--config", type=click.Path(path_type=Path), help="TOML file adding or overriding judges.")
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True, help="Folder for the audit's outputs.")
@click.option("--junit", "junit_path", type=click.Path(path_type=Path), help="Write JUnit XML (one testcase per check).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the checks as JSON.")
@click.option("--markdown", "md_path", type=click.Path(path_type=Path), help="Write a Markdown summary (for a PR comment).")
@click.option("--flagger", default="offline", show_default=True, help="Explicit-mention flagger: 'offline' or a judge name.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for presentation order.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Result cache (default ~/.cache/judge-audit or $JUDGE_AUDIT_CACHE_DIR).")
def check(judge, data, policy, baseline, min_items, max_inflation, max_mention_gap, min_spearman,
          max_position_flip_rate, max_over_selection_ratio, min_relevance_f1, max_counterfactual_effect, relevance_data,
          config, out, junit_path, json_path, md_path, flagger, seed, cache_dir):
    """Gate a judge in CI: fail when it is more biased than the policy allows or than its baseline.

    \b
    Examples:
      judge-audit check --judge new-judge --data audit.jsonl --policy judge-policy.toml --junit out.xml
      judge-audit check --judge new-judge --baseline claude --data audit.jsonl
      judge-audit check --judge new-judge --baseline last-audit/results.json --max-inflation 0.5
      judge-audit check --judge new-judge --relevance-data rel.jsonl --min-relevance-f1 0.4 --max-counterfactual-effect 0.5
    \b
    Exit codes: 0 passed, 1 a check failed, 2 bad input or configuration,
                3 a judge is unavailable (credentials, provider down).
    """
    import json
    import time

    from audit.gate.check import CheckOptions, run_check
    from audit.errors import ConfigError, GateFailed
    from audit.gate.policy import Policy, load_policy
    from audit.render.outputs import publish
    from audit.render.terminal import format_report
    from audit.render.junit import write_junit
    from audit.render.markdown import check_markdown

    started = time.perf_counter()
    pol = load_policy(policy) if policy else Policy()
    pol = pol.with_overrides(min_items=min_items, max_inflation=max_inflation, max_mention_gap=max_mention_gap,
                             min_spearman=min_spearman, max_position_flip_rate=max_position_flip_rate,
                             max_over_selection_ratio=max_over_selection_ratio, min_relevance_f1=min_relevance_f1,
                             max_counterfactual_effect=max_counterfactual_effect)
    opts = CheckOptions(judge=judge, policy=pol, data=data, baseline=baseline, config=config, out=out,
                        flagger=flagger, seed=seed, cache_dir=cache_dir, relevance_data=relevance_data)
    outcome = run_check(opts, log=lambda s: click.echo(s, err=True), progress=_progress)
    for stage in outcome.stages:  # the pages of the audits the gate ran (paid results are never drawn twice)
        publish(stage)
    report = outcome.report.to_dict() | {"results": str(outcome.paths.get("results", ""))}
    elapsed = time.perf_counter() - started
    click.echo(format_report(outcome.report))
    try:
        for path, write in ((junit_path, lambda p: write_junit(p, report, time_s=elapsed)),
                            (json_path, lambda p: p.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")),
                            (md_path, lambda p: p.write_text(check_markdown(report, outcome.results), encoding="utf-8"))):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                write(path)
                click.echo(f"wrote {path}")
    except OSError as exc:
        raise ConfigError(f"cannot write {exc.filename}: {exc.strerror}") from None
    if not outcome.report.passed:
        failed = outcome.report.failed
        raise GateFailed(f"gate failed: {len(failed)} of {len(outcome.report.checks)} checks "
                         f"({', '.join(c.name for c in failed)})")


@cli.command()
@click.option("--data", type=click.Path(path_type=Path), help="JSONL or CSV of (attribute, prompt) pairs (default: the bundled example).")
@click.option("--judges", "judges", metavar="A,B,...", help="Judges to call: names from the judge config or litellm model ids.")
@click.option("--config", type=click.Path(path_type=Path), help="TOML file adding or overriding judges.")
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True, help="Output folder.")
@click.option("--ties", type=click.Choice(["irrelevant", "relevant", "exclude"]), default="irrelevant", show_default=True,
              help="Human majority when exactly half the annotators say relevant.")
@click.option("--baselines", "baselines", metavar="bm25,embedding|none", help="No-LLM baselines to score (default: bm25,embedding).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the bootstrap and the baselines' split.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Result cache (default ~/.cache/judge-audit or $JUDGE_AUDIT_CACHE_DIR).")
def relevance(data, judges, config, out, ties, baselines, seed, cache_dir):
    """Audit relevance judges: which user attributes should change the answer?

    \b
    Examples:
      judge-audit relevance                                   # bundled example, imported labels
      judge-audit relevance --data rel.jsonl --judges claude,gpt-5.4,qwen --out rel-out/
      judge-audit relevance --data rel.jsonl --baselines bm25 --ties exclude
    """
    from audit.engine.config import parse_judge_list
    from audit.audits.relevance import RelevanceOptions, parse_baselines, run_relevance
    from audit.render.outputs import publish
    from audit.render.terminal import relevance_summary

    opts = RelevanceOptions(data=data, judges=parse_judge_list(judges), config=config, out=out, seed=seed, ties=ties,
                            baselines=parse_baselines(baselines), cache_dir=cache_dir)
    outcome = run_relevance(opts, log=lambda s: click.echo(s, err=True), on_result=_progress())
    click.echo(relevance_summary(outcome.results["relevance"]))
    for path in publish(outcome).values():
        click.echo(f"wrote {path}")


@cli.command()
@click.option("--data", type=click.Path(path_type=Path), help="JSONL or CSV of judged pairs (default: the bundled example).")
@click.option("--judges", "judges", metavar="A,B,...", help="Judges to call (default: local; imported ratings cannot rate the variants).")
@click.option("--config", type=click.Path(path_type=Path), help="TOML file adding or overriding judges.")
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True, help="Output folder.")
@click.option("--rewriter", metavar="NAME", help="Model that rewrites each ablation (checked to change only the mention; else the deletion is kept).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for presentation order, injection templates and the bootstrap.")
@click.option("--both-orders", is_flag=True, help="Judge every answer in both presentation orders.")
@click.option("--samples", type=click.IntRange(min=1), default=1, show_default=True, help="Ratings per answer and order (use with --temperature).")
@click.option("--temperature", type=click.FloatRange(min=0), help="Sampling temperature for the called judges (overrides their config).")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Result cache (default ~/.cache/judge-audit or $JUDGE_AUDIT_CACHE_DIR).")
@click.option("--workers", type=click.IntRange(min=0), help="Worker processes for provider calls (default: automatic; 0 = in-process).")
def counterfactual(data, judges, config, out, rewriter, seed, both_orders, samples, temperature, cache_dir, workers):
    """Does the judge reward the mere naming of an attribute? Re-judge each answer with only its mention changed.

    \b
    Ablation: answers with an explicit mention are judged again with the mention deleted.
    Injection: answers without one are judged again with one templated mention inserted.
    Effect = rating(with the mention) - rating(without), per judge, with a 95% CI.
    \b
    Examples:
      judge-audit counterfactual --data my.jsonl --judges claude,gpt-5.4,qwen --out cf-out/
      judge-audit counterfactual --data my.jsonl --judges claude --rewriter gpt-5.4 --both-orders
    """
    from audit.engine.config import parse_judge_list
    from audit.audits.counterfactual import CounterfactualOptions, run_counterfactual
    from audit.render.outputs import publish
    from audit.render.terminal import counterfactual_summary as cf_summary

    opts = CounterfactualOptions(data=data, judges=parse_judge_list(judges), config=config, out=out, seed=seed,
                                 samples=samples, both_orders=both_orders, temperature=temperature, rewriter=rewriter,
                                 cache_dir=cache_dir, workers=workers)
    outcome = run_counterfactual(opts, log=lambda s: click.echo(s, err=True), on_result=_progress())
    click.echo(cf_summary(outcome.results["counterfactual"]))
    for path in publish(outcome).values():
        click.echo(f"wrote {path}")


@cli.command()
@click.option("--form", type=click.Choice(["absolute", "pairwise"]),
              help="absolute: responses rated 1-N on criteria; pairwise: two responses and a binary preference. "
                   "Implied by --layout hanna/llmbar.")
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="The study: JSONL/CSV (docs/FORMATS.md), a HANNA scores CSV, or an LLMBar dataset folder.")
@click.option("--layout", type=click.Choice(["native", "hanna", "llmbar"]), default="native", show_default=True,
              help="How --data is laid out.")
@click.option("--scale", default="1-5", show_default=True, help="Rating scale of the absolute form, MIN-MAX.")
@click.option("--judges", "judges", metavar="A,B,...", help="Audit only these judges of the study (default: all).")
@click.option("--exclude-system", "exclude_systems", multiple=True, metavar="NAME",
              help="Leave out items whose 'system' is NAME (repeatable; e.g. HANNA's human-written stories: Human).")
@click.option("--out", type=click.Path(path_type=Path), default="judge-audit-study", show_default=True, help="Output folder.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the cluster bootstrap.")
def study(form, data, layout, scale, judges, exclude_systems, out, seed):
    """Audit the ratings of an existing judge study (no model call).

    \b
    Examples:
      judge-audit study --form absolute --data ratings.jsonl --scale 1-7
      judge-audit study --form pairwise --data verdicts.csv --out study-out/
      judge-audit study --layout hanna --data hanna_metric_scores_llm.csv --exclude-system Human
      judge-audit study --layout llmbar --data LLMBar/Dataset/Processed/MT-Bench
    """
    from audit.engine.config import parse_judge_list
    from audit.errors import ConfigError
    from audit.data.studies import parse_scale
    from audit.audits.study import StudyOptions, run_study
    from audit.render.terminal import study_summary

    try:
        lo_hi = parse_scale(scale)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    opts = StudyOptions(data=data, form=form, layout=layout, scale=lo_hi, judges=parse_judge_list(judges),
                        exclude_systems=list(exclude_systems), out=out, seed=seed)
    outcome = run_study(opts)
    click.echo(study_summary(outcome.results))
    for path in outcome.paths.values():
        click.echo(f"wrote {path}")


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
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the simulation.")
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
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the simulation.")
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


def _cache_dir_option(f):
    return click.option("--cache-dir", type=click.Path(path_type=Path),
                        help="Result cache (default ~/.cache/judge-audit or $JUDGE_AUDIT_CACHE_DIR).")(f)


@cache.command("stats")
@_cache_dir_option
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
@_cache_dir_option
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


if __name__ == "__main__":  # pragma: no cover
    main()
