"""The audit commands: run, report, judges, check, relevance, counterfactual, study."""

from __future__ import annotations

from pathlib import Path

import click

from audit.cli.group import (DEFAULT_OUT, cache_dir_option, cli, confidence_threshold_option, config_option, flagger_option, judges_option, out_option,
                             pairs_option, progress, prompt_option, seed_option, temperature_option, workers_option)


@cli.command()
@pairs_option
@judges_option()
@config_option
@out_option()
@flagger_option
@seed_option("Seed for presentation order.")
@click.option("--measure-habits", is_flag=True, help="Have each called judge write personalized answers to measure its mention habit.")
@cache_dir_option
@click.option("--both-orders", is_flag=True, help="Judge every pair in both presentation orders: measures position bias (flip rate, slot-A preference).")
@click.option("--samples", type=click.IntRange(min=1), default=1, show_default=True, help="Ratings per item and order (use with --temperature): measures self-consistency.")
@temperature_option
@click.option("--dry-run", is_flag=True, help="Print the calls and estimated cost per judge, call nothing.")
@workers_option
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the first N items of the data.")
@prompt_option
@confidence_threshold_option
@click.option("--batch", is_flag=True, help="Submit the uncached calls through the providers' batch APIs (about half "
                                            "the price; resumable; `judge-audit batches` lists them).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="With --batch: wait for the batches, or submit them and exit (re-run the command to collect).")
def run(data, judges, config, out, flagger, seed, measure_habits, cache_dir, both_orders, samples, temperature,
        dry_run, workers, limit, prompt, confidence_threshold, batch, wait):
    """Run the whole audit: load, flag mentions, judge, measure, write results and report.

    \b
    Examples:
      judge-audit run                                  # bundled example, local judge
      judge-audit run --data my.jsonl --judges claude,gpt-5.4 --out audit-out/
      judge-audit run --data my.jsonl                  # audit imported judge ratings only
      judge-audit run --data my.jsonl --judges claude --both-orders --samples 3 --temperature 0.7
      judge-audit run --data my.jsonl --judges claude,gpt-5.4 --both-orders --dry-run
      judge-audit run --data my.jsonl --judges claude,claude@debiased,claude@./my_rubric/
      judge-audit run --data my.jsonl --judges claude,gpt-5.4 --prompt ./my_rubric/
      judge-audit run --data my.jsonl --config team.toml --judges panel   # a [juries.panel] of judges
      judge-audit run --data my.jsonl --judges claude@confidence          # calibration of its stated confidence
      judge-audit run --data big.jsonl --judges gpt-5.4 --both-orders --batch --no-wait   # later: the same again
    """
    from audit.engine.config import parse_judge_list
    from audit.audits.preference import RunOptions, dry_run as plan_run, run_audit
    from audit.render.outputs import publish
    from audit.render.terminal import run_summary

    opts = RunOptions(data=data, judges=parse_judge_list(judges), config=config, out=out, flagger=flagger,
                      seed=seed, measure_habits=measure_habits, cache_dir=cache_dir, samples=samples,
                      both_orders=both_orders, temperature=temperature, workers=workers, limit=limit, prompt=prompt,
                      confidence_threshold=confidence_threshold, batch=batch, wait=wait)
    if dry_run:
        from audit.render.terminal import format_plan

        click.echo(format_plan(plan_run(opts)))
        return
    if samples > 1 and not temperature:
        click.echo(f"note: --samples {samples} without a --temperature above 0: repeated samples can differ only by "
                   "the provider's own nondeterminism", err=True)
    outcome = run_audit(opts, log=lambda s: click.echo(s, err=True), on_result=progress())
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
@config_option
def judges(config):
    """List judge names and what they resolve to.

    \b
    Example:
      judge-audit judges --config my-judges.toml
    """
    import os

    from audit.engine.config import load_judge_config, load_juries
    from audit.engine.prompts import judge_prompt

    specs = load_judge_config(config)
    width = max(len(n) for n in specs)
    for name, s in specs.items():
        if s.is_local:
            key = "in-process (xllamacpp)"
        elif s.api_key_env:
            key = f"{s.api_key_env} {'set' if os.environ.get(s.api_key_env) else 'NOT set'}"
        else:
            key = "no key configured"
        click.echo(f"{name:<{width}}  {s.describe()}  [{s.mode}; {key}; prompt {judge_prompt(s.prompt).label}]")
    for jury in load_juries(config, specs).values():
        click.echo(f"{jury.name:<{width}}  {jury.describe()}  [jury: no calls of its own]")
    click.echo("Any litellm model id (e.g. openai/gpt-4o-mini) also works as a judge name; NAME@PROMPT judges with "
               "another prompt (judge-audit prompts).")


@cli.command()
def prompts():
    """List the shipped judge prompts (the default and its named variants) and their variables.

    \b
    Use one with --judges NAME@VARIANT, --prompt VARIANT or prompt = "VARIANT" in the judge config;
    your own is a folder with system.j2 and user.j2 using the same variables (docs/PROMPTS.md).
    """
    from audit.engine.prompts import JUDGE_VARIABLES, judge_prompt, shipped_variants

    click.echo("judge prompts (judge_preference):")
    for name in ["default", *shipped_variants()]:
        p = judge_prompt(name)
        click.echo(f"  {p.label:<20} {p.description}")
    click.echo("variables (every judge prompt must use each; their values are fenced as untrusted text):")
    for var, what in JUDGE_VARIABLES.items():
        click.echo(f"  {var:<11} {what}")


@cli.command()
@click.option("--judge", required=True, help="The judge to gate: a judge name, litellm model id, or a judge imported in --data.")
@pairs_option
@click.option("--policy", type=click.Path(path_type=Path), help="Policy TOML with the thresholds (see docs/GATE.md).")
@click.option("--baseline", metavar="JUDGE|PATH", help="Incumbent: a judge name, or a saved audit (DIR, DIR/results.json[#JUDGE]).")
@click.option("--min-items", type=click.IntRange(min=1), help="Fail with fewer items rated by judge and humans.")
@click.option("--max-inflation", type=float, help="Limit on the CI upper bound of inflation (judge - human).")
@click.option("--max-mention-gap", type=float, help="Limit on |judge mention delta - human mention delta| (CI bound farthest from 0).")
@click.option("--min-spearman", type=float, help="Limit on the CI lower bound of Spearman rho with humans.")
@click.option("--max-style-controlled-mention-gap", type=float,
              help="Limit on |the judge's mention coefficient - people's| at equal length and markdown (CI bound farthest from 0).")
@click.option("--max-self-preference", type=float,
              help="Limit on the CI upper bound of self-preference (inflation on its own model family's answers minus on the others).")
@click.option("--max-position-flip-rate", type=float, help="Limit on the CI upper bound of the flip rate (judges both orders).")
@click.option("--max-over-selection-ratio", type=float, help="Limit on the CI upper bound of judge / human relevance selection rate (needs --relevance-data).")
@click.option("--min-relevance-f1", type=float, help="Limit on the CI lower bound of relevance F1 against the human majority (needs --relevance-data).")
@click.option("--max-counterfactual-effect", type=float, help="Limit on |causal mention effect| (CI bound farthest from 0; runs the counterfactual test on --data).")
@click.option("--relevance-data", type=click.Path(path_type=Path), help="JSONL or CSV of relevance pairs for the relevance thresholds (as for `judge-audit relevance`).")
@click.option("--extraction-data", type=click.Path(path_type=Path),
              help="Extracted attributes with human labels for the stage-1 thresholds (as for `judge-audit extraction`).")
@click.option("--max-acceptance-inflation", type=float,
              help="Limit on the CI upper bound of the verifier's acceptance rate minus people's (needs --extraction-data).")
@click.option("--min-reject-recall", type=float,
              help="Limit on the CI lower bound of the share of human-rejected attributes the verifier rejects.")
@click.option("--min-extraction-kappa", type=float,
              help="Limit on the CI lower bound of the verifier's Cohen's kappa with the human label.")
@click.option("--drift-from", type=click.Path(path_type=Path), metavar="RUN",
              help="A saved run of this judge (an earlier run/check output folder) for --max-judge-shift and "
                   "--require-same-fingerprint.")
@click.option("--max-judge-shift", type=float,
              help="Limit on |judge shift| since --drift-from (CI bound farthest from 0; mean rating change on anchor items).")
@click.option("--require-same-fingerprint", is_flag=True, default=None,
              help="Fail when the judge's fingerprint (model snapshot, prompt, schema, parameters) differs from --drift-from.")
@config_option
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True, help="Folder for the audit's outputs.")
@click.option("--junit", "junit_path", type=click.Path(path_type=Path), help="Write JUnit XML (one testcase per check).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the checks as JSON.")
@click.option("--markdown", "md_path", type=click.Path(path_type=Path), help="Write a Markdown summary (for a PR comment).")
@flagger_option
@seed_option("Seed for presentation order.")
@cache_dir_option
def check(judge, data, policy, baseline, min_items, max_inflation, max_mention_gap, min_spearman,
          max_style_controlled_mention_gap, max_self_preference, max_position_flip_rate, max_over_selection_ratio, min_relevance_f1, max_counterfactual_effect, relevance_data,
          extraction_data, max_acceptance_inflation, min_reject_recall, min_extraction_kappa,
          drift_from, max_judge_shift, require_same_fingerprint, config, out, junit_path, json_path, md_path, flagger, seed,
          cache_dir):
    """Gate a judge in CI: fail when it is more biased than the policy allows or than its baseline.

    \b
    Examples:
      judge-audit check --judge new-judge --data audit.jsonl --policy judge-policy.toml --junit out.xml
      judge-audit check --judge new-judge --baseline claude --data audit.jsonl
      judge-audit check --judge new-judge --baseline last-audit/results.json --max-inflation 0.5
      judge-audit check --judge new-judge --relevance-data rel.jsonl --min-relevance-f1 0.4 --max-counterfactual-effect 0.5
      judge-audit check --judge claude --drift-from runs/2026-10-01 --max-judge-shift 0.2 --require-same-fingerprint
      judge-audit check --judge new-verifier --extraction-data attributes.jsonl --policy policy.toml
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
                             max_counterfactual_effect=max_counterfactual_effect,
                             max_style_controlled_mention_gap=max_style_controlled_mention_gap,
                             max_self_preference=max_self_preference, max_judge_shift=max_judge_shift,
                             max_acceptance_inflation=max_acceptance_inflation, min_reject_recall=min_reject_recall,
                             min_extraction_kappa=min_extraction_kappa)
    if require_same_fingerprint:
        from dataclasses import replace

        pol = replace(pol, require_same_fingerprint=True,
                      sources=pol.sources | {"require_same_fingerprint": "option --require-same-fingerprint"})
    opts = CheckOptions(judge=judge, policy=pol, data=data, baseline=baseline, config=config, out=out,
                        flagger=flagger, seed=seed, cache_dir=cache_dir, relevance_data=relevance_data,
                        drift_from=drift_from, extraction_data=extraction_data)
    outcome = run_check(opts, log=lambda s: click.echo(s, err=True), progress=progress)
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
@judges_option()
@config_option
@out_option()
@click.option("--ties", type=click.Choice(["irrelevant", "relevant", "exclude"]), default="irrelevant", show_default=True,
              help="Human majority when exactly half the annotators say relevant.")
@click.option("--baselines", "baselines", metavar="bm25,embedding|none", help="No-LLM baselines to score (default: bm25,embedding).")
@seed_option("Seed for the bootstrap and the baselines' split.")
@cache_dir_option
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
    outcome = run_relevance(opts, log=lambda s: click.echo(s, err=True), on_result=progress())
    click.echo(relevance_summary(outcome.results["relevance"]))
    for path in publish(outcome).values():
        click.echo(f"wrote {path}")


@cli.command()
@pairs_option
@judges_option("Judges to call (default: local; imported ratings cannot rate the variants).")
@config_option
@out_option()
@click.option("--rewriter", metavar="NAME", help="Model that rewrites each ablation (checked to change only the mention; else the deletion is kept).")
@seed_option("Seed for presentation order, injection templates and the bootstrap.")
@click.option("--both-orders", is_flag=True, help="Judge every answer in both presentation orders.")
@click.option("--samples", type=click.IntRange(min=1), default=1, show_default=True, help="Ratings per answer and order (use with --temperature).")
@temperature_option
@cache_dir_option
@workers_option
@prompt_option
def counterfactual(data, judges, config, out, rewriter, seed, both_orders, samples, temperature, cache_dir, workers, prompt):
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
                                 cache_dir=cache_dir, workers=workers, prompt=prompt)
    outcome = run_counterfactual(opts, log=lambda s: click.echo(s, err=True), on_result=progress())
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
@click.option("--judges", "judges", metavar="A,B,...",
              help="Judges to audit (default: all of the study's). A name that is not a judge of the study is called "
                   "on its items (pairwise form): a name from the judge config or a litellm model id.")
@click.option("--exclude-system", "exclude_systems", multiple=True, metavar="NAME",
              help="Leave out items whose 'system' is NAME (repeatable; e.g. HANNA's human-written stories: Human).")
@click.option("--out", type=click.Path(path_type=Path), default="judge-audit-study", show_default=True, help="Output folder.")
@seed_option("Seed of the cluster bootstrap and of the presentation order of called judges.")
@config_option
@click.option("--both-orders", is_flag=True, help="Called judges: judge every item in both presentation orders.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the first N items of the study.")
@cache_dir_option
@click.option("--average-over", type=click.Choice(["cluster", "system"]),
              help="Absolute form: also compute each correlation and kappa within every cluster (document, dialogue "
                   "context) or system and average over them (summary / system level).")
@confidence_threshold_option
def study(form, data, layout, scale, judges, exclude_systems, out, seed, config, both_orders, limit, cache_dir,
          average_over, confidence_threshold):
    """Audit the ratings of a judge study, and of judges called on its items.

    \b
    Examples:
      judge-audit study --form absolute --data ratings.jsonl --scale 1-7
      judge-audit study --form pairwise --data verdicts.csv --out study-out/
      judge-audit study --layout hanna --data hanna_metric_scores_llm.csv --exclude-system Human
      judge-audit study --layout llmbar --data LLMBar/Dataset/Processed/MT-Bench
      judge-audit study --layout llmbar --data LLMBar/Dataset/Processed/MT-Bench --judges local --both-orders
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
                        exclude_systems=list(exclude_systems), out=out, seed=seed, config=config,
                        both_orders=both_orders, limit=limit, cache_dir=cache_dir, average_over=average_over,
                        confidence_threshold=confidence_threshold)
    from audit.render.outputs import publish

    outcome = run_study(opts, log=lambda s: click.echo(s, err=True), on_result=progress())
    click.echo(study_summary(outcome.results))
    for path in publish(outcome).values():
        click.echo(f"wrote {path}")

