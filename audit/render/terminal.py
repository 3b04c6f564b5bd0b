"""Terminal summaries: the lines `judge-audit` prints for each command, from typed results."""

from __future__ import annotations

from audit.audits.judging import JudgePlan
from audit.data.results import Judge, Results, typed
from audit.gate.checks import Check, GateReport
from audit.engine.cost import OUT_TOKENS_EST, SAMPLE_FOR_TOKENS
from audit.text.fmt import ci_pct, ci_text, estimate_text, num, p_text, pct, token_count, usd


def format_plan(plans: list[JudgePlan]) -> str:
    head = ("judge", "model", "calls", "cached", "to call", "tokens in (est.)", "tokens out (est.)", "cost (est.)")
    rows = [(p.judge, p.model, str(p.calls), str(p.cached), str(p.to_call), token_count(p.tokens_in), token_count(p.tokens_out),
             usd(p.cost_usd)) for p in plans]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in [head, *rows]]
    known = [p.cost_usd for p in plans]
    total = "unknown (a judge has no price in litellm's price map)" if any(c is None for c in known) else usd(sum(known))
    lines.append(f"total estimated cost: {total}")
    lines.append(f"estimates: prompt tokens counted with litellm.token_counter (up to {SAMPLE_FOR_TOKENS} calls per "
                 f"judge, scaled), {OUT_TOKENS_EST} output tokens per call, prices from litellm's price map")
    for p in plans:
        if p.batch == "batch":
            lines.append(f"with --batch: {p.judge} {usd(p.batch_cost_usd)} (interactive price x 0.5, the providers' batch "
                         "discount; estimated)")
        elif p.batch:
            lines.append(f"with --batch: {p.judge} is judged interactively ({p.batch})")
    for p in plans:
        if p.ready != "ok":
            lines.append(f"not ready: {p.ready}")
    return "\n".join(lines)


def cost_line(c: dict) -> str:
    lat = ""
    if c.get("latency_p50") is not None:
        lat = f", latency p50 {c['latency_p50']:.2f}s p95 {c['latency_p95']:.2f}s"
    return (f"cost: {c['calls']} calls ({c['cached']} cached, {c['failures']} failed), tokens {token_count(c['tokens_in'])} in / "
            f"{token_count(c['tokens_out'])} out{lat}, {usd(c['cost_usd'])}"
            + (f" ({usd(c['cost_usd_this_run'])} this run)" if c.get("paid_this_run") and c["cost_usd"] is not None else ""))


def engine_summary_lines(j: Judge) -> list[str]:
    """Terminal lines for one judge's position, self-consistency and cost (empty when not measured)."""
    lines = []
    if j.position is not None:
        f, s = j.position.flip_rate, j.position.slot_a_preference
        lines.append(f"  position: flip rate {pct(f.estimate)}{ci_pct(f)} over {j.position.n_pairs} pairs; "
                     f"slot A picked in {pct(s.estimate)}{ci_pct(s)} of decisive verdicts")
    sc = j.self_consistency
    if sc is not None:
        icc = sc.icc
        icc_text = f"{icc.estimate:.2f}" if icc.estimate is not None else f"n/a ({icc.reason})"
        lines.append(f"  self-consistency over {sc.samples} samples: exact agreement {pct(sc.exact_agreement.estimate)}"
                     f"{ci_pct(sc.exact_agreement)}, ICC(1,1) {icc_text}")
    if j.cost is not None:
        lines.append("  " + cost_line(j.cost.model_dump()))
    return lines


# --- judge-audit run -------------------------------------------------------------------------


def signature_line(card: dict | None) -> list[str]:
    """``signature: ...`` (the audit card's one-line signature), when the card has one."""
    sig = (card or {}).get("signature")
    return [f"signature: {sig}"] if sig else []


def run_summary(results: Results | dict) -> str:
    """The terminal summary of a run (typed results): one line for the items, the humans, and per judge."""
    r = typed(results) if isinstance(results, dict) else results

    def fmt(est, signed=True):
        return estimate_text(est, signed=signed)

    h = r.humans
    lines = [
        f"items: {r.n_items} ({r.n_items_with_human_ratings} with human ratings, {r.n_mention} with an explicit mention)",
        f"humans: no-better rate {fmt(h.no_better_rate, False)}, mention delta {fmt(h.mention_delta)}",
    ]
    if h.ceiling.kappa_quadratic or h.krippendorff_alpha:
        lines.append(f"humans agree: leave-one-out kappa_w {fmt(h.ceiling.kappa_quadratic)}, "
                     f"Krippendorff alpha {fmt(h.krippendorff_alpha)}")
    for name, j in r.judges.items():
        lines.append(f"{name}: inflation {fmt(j.inflation)}, mention delta {fmt(j.mention_delta)}, "
                     f"spearman {fmt(j.spearman)} ({j.n_items_rated} items, {j.source})")
        agree = j.agreement
        kappa = agree.kappa_quadratic if agree else None
        if kappa or j.excess_mention_uplift:
            gap = (agree.ceiling_gap or {}).get("kappa_quadratic") if agree else None
            lines.append(f"  kappa_w with humans {fmt(kappa)}" + (f", minus human ceiling {fmt(gap)}" if gap else "")
                         + f"; excess mention uplift {fmt(j.excess_mention_uplift)}")
        lines.extend(f"  warning: {w}" for w in j.warnings)
        lines.extend(engine_summary_lines(j))
        sc = j.style_control
        if sc and sc.excess:
            v = j.verbosity or {}
            lines.append(f"  style control: mention gap at equal length and markdown {fmt(sc.excess.get('mention'))} "
                         f"(raw {fmt(j.excess_mention_uplift)}), length gap {fmt(sc.excess.get('length'))}; "
                         f"prefers the longer answer {fmt(v.get('judge_prefers_longer'), False)} vs people "
                         f"{fmt(v.get('humans_prefer_longer'), False)}")
        if j.self_preference and j.self_preference.estimate is not None:
            lines.append(f"  self-preference ({j.family}): {fmt(j.self_preference)} (inflation on its own family's "
                         "answers minus on the others)")
        if j.prompt and j.prompt.get("name") != "default":
            lines.append(f"  prompt: {j.prompt['name']} (sha256 {j.prompt['sha256'][:8]})")
        cal = j.calibration
        if cal and cal.get("n_with_confidence"):
            lines.append(f"  confidence: decisive verdicts agree with people {fmt(cal['high'], False)} at confidence >= "
                         f"{cal['threshold']:g} (n={cal['high']['n']}) vs {fmt(cal['low'], False)} below "
                         f"(n={cal['low']['n']}); ECE {fmt(cal['ece'], False)}, Brier {fmt(cal['brier'], False)}")
        if j.jury:
            alpha = (j.jury.get("members_agreement") or {}).get("krippendorff_alpha") or {}
            lines.append(f"  jury: {j.jury['aggregate']} of {', '.join(j.jury['members'])}; members agree: Krippendorff "
                         f"alpha {fmt(alpha)}; {j.jury['n_items_partial']} items with a member missing")
    for pe in r.prompt_effects:
        lines.append(f"prompt effect {pe['judges'][1]} vs {pe['judges'][0]} (same model, {pe['n_items']} items): "
                     f"inflation {fmt(pe['inflation'])}, mention delta {fmt(pe['mention_delta'])}")
    hb = r.habit_bias
    lines.append(f"habit vs bias: spearman r {num(hb.spearman_r, signed=True)} (p={num(hb.p_value, 3)}, {hb.n_models} models)"
                 if hb.spearman_r is not None else f"habit vs bias: not computed ({hb.reason})")
    lines += signature_line(r.audit_card)
    return "\n".join(lines)


# --- judge-audit check ---------------------------------------------------------------------------


NAME_WIDTH = 28


def format_check(c: Check, width: int = NAME_WIDTH) -> str:
    """One terminal line: status, name (padded to ``width``), estimate, CI, limit (and the tested bound)."""
    if c.name == "min_items":
        est, ci = f"{int(c.estimate or 0)}", "-"
        limit = f">= {int(c.limit)}"
    elif c.name == "require_same_fingerprint":
        return f"{c.status}  {c.name:<{width}} {c.detail}"
    else:
        est = num(c.estimate, signed=True)
        ci = ci_text(c.ci, signed=True) if c.ci else "no CI"
        short = {"CI upper bound": "upper", "CI lower bound": "lower", "|CI bound| farthest from 0": "|bound|"}[c.tested]
        limit = f"{short} {c.comparison} {c.limit:g}"
    line = f"{c.status}  {c.name:<{width}} {est:>6}  {ci:<16}  {limit:<16}"
    if c.p_value is not None and c.name.startswith("baseline:"):
        line += "  " + p_text(c.p_value, style="g")
    if not c.passed:
        line += f"  -- {c.detail}"
    return line.rstrip()


def format_report(report: GateReport) -> str:
    """The terminal summary: a header, one line per check, the verdict."""
    head = f"judge-audit check: judge {report.judge!r}"
    if report.baseline:
        head += f" vs baseline {report.baseline}"
    if report.data:
        head += f" on {report.data}"
    if report.relevance_data:
        head += f" (relevance: {report.relevance_data})" if report.data else f" on {report.relevance_data} (relevance pairs)"
    width = max([NAME_WIDTH] + [len(c.name) for c in report.checks])
    lines = [head, f"{'':6}{'check':<{width}} {'est.':>6}  {'95% CI':<16}  limit"]
    lines += [format_check(c, width) for c in report.checks]
    lines += [f"note: {n}" for n in report.notes]
    lines.append(report.summary())
    return "\n".join(lines)


# --- judge-audit relevance ---------------------------------------------------------------------


def relevance_summary(section: dict) -> str:
    """One line per rater group, judge and baseline."""
    h = section["humans"]
    ag = section["agreement"]
    lines = [
        f"pairs: {section['n_pairs']} ({section['n_users']} users, {h['n_annotators']} annotators, {h['n_labels']} human labels); "
        f"human majority relevant: {h['n_majority_relevant']} ({section['ties']['n_tied']} ties, rule: {section['ties']['rule']})",
        f"humans: selection rate {estimate_text(h['selection_rate'])}",
    ]
    for name, j in section["judges"].items():
        lines.append(f"{name}: selection {estimate_text(j['selection_rate'])}, over-selection x{estimate_text(j['over_selection_ratio'])}, "
                     f"P {estimate_text(j['precision'])} R {estimate_text(j['recall'])} F1 {estimate_text(j['f1'])} "
                     f"({j['n_pairs_labelled']} pairs, {j['source']})")
        lines.extend(f"  warning: {w}" for w in j["warnings"])
    for name, b in section["baselines"].items():
        if not b["available"]:
            lines.append(f"baseline {name}: unavailable ({b.get('reason')})")
            continue
        lines.append(f"baseline {name}: threshold {b['threshold']:.3f} (calibration half, {b['split']['n_calibration_pairs']} pairs); "
                     f"on the evaluation half ({b['split']['n_evaluation_pairs']} pairs): selection {estimate_text(b['selection_rate'])}, "
                     f"P {estimate_text(b['precision'])} R {estimate_text(b['recall'])} F1 {estimate_text(b['f1'])}")
    lines.append(f"kappa: within humans {estimate_text(ag['mean_within_humans'])}, within judges {estimate_text(ag['mean_within_judges'])}, "
                 f"human-judge {estimate_text(ag['mean_human_judge'])}")
    lines += signature_line(section.get("audit_card"))
    return "\n".join(lines)


# --- judge-audit counterfactual ------------------------------------------------------------------


def _signed(est: dict | None) -> str:
    return estimate_text(est, signed=True, reason=True)


def _p_after(est: dict | None) -> str:
    p = (est or {}).get("p_value")
    return "" if p is None else ", " + p_text(p)


def counterfactual_summary(section: dict) -> str:
    """The terminal summary: variants, the human delta, and per judge the two causal effects beside
    its observational mention delta."""
    a, i = section["ablation"], section["injection"]

    def methods(c: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(c["methods"].items()))

    lines = [
        f"items: {section['n_items']} ({section['n_mention']} with an explicit mention)",
        f"ablation: {a['n_variants']} variants ({methods(a) or 'none'}), {a['n_skipped']} skipped; "
        f"injection: {i['n_variants']} variants, {i['n_skipped']} skipped",
        f"humans (observational, original answers): mention delta {_signed(section['humans']['mention_delta'])}",
    ]
    for name, j in section["judges"].items():
        ab, inj = j["ablation_effect"], j["injection_effect"]
        lines.append(f"{name}: mention effect by ablation {_signed(ab)}{_p_after(ab)} (n={ab['n']}); "
                     f"by injection {_signed(inj)}{_p_after(inj)} (n={inj['n']}); "
                     f"observational mention delta {_signed(j['observational_mention_delta'])}")
        lines.extend(f"  warning: {w}" for w in j["warnings"])
    lines.append("effect = rating(with the mention) - rating(the same answer without it), 1-5 scale, 95% cluster-bootstrap CI")
    lines += signature_line(section.get("audit_card"))
    return "\n".join(lines)


# --- judge-audit study ---------------------------------------------------------------------------


def study_summary(results: dict) -> str:
    """A short table for the terminal; every number with its CI is in results.json."""
    text = _absolute_study(results) if results["form"] == "absolute" else _pairwise_study(results)
    return "\n".join([text, *signature_line(results.get("audit_card"))])


def _absolute_study(r: dict) -> str:
    crit = r["criteria"]
    judges = r["judges"]
    width = max([len("humans (reference)")] + [len(j) for j in judges]) + 2
    cols = [max(len(c), 6) + 2 for c in crit]

    def row(name, cells):
        return f"{name:<{width}}" + "".join(f"{c:>{w}}" for c, w in zip(cells, cols))

    lo, hi = r["scale"]
    lines = [f"absolute study: {r['n_items']} items ({r['n_clusters']} clusters), {len(crit)} criteria, "
             f"{r['humans']['n_annotators']} annotators, {len(judges)} judges, scale {lo:g}-{hi:g}",
             "", "Kendall tau-b with the human mean (item level):", row("", crit)]
    lines.append(row("humans (reference)", [estimate_text(r["humans"]["criteria"][c]["reference_kendall"], ci=False) for c in crit]))
    for name, j in judges.items():
        lines.append(row(name, [estimate_text(j["criteria"].get(c, {}).get("kendall"), ci=False) for c in crit]))
    lines += ["", "Pearson r with the human mean (item level):", row("", crit)]
    for name, j in judges.items():
        lines.append(row(name, [estimate_text(j["criteria"].get(c, {}).get("pearson"), signed=True, ci=False) for c in crit]))
    kappa_rows = [(name, [((j["criteria"].get(c, {}).get("kappa") or {}).get("quadratic")) for c in crit])
                  for name, j in judges.items()]
    if any(v for _, vals in kappa_rows for v in vals):
        lines += ["", "quadratic-weighted kappa with the human rating:", row("", crit)]
        lines += [row(name, [estimate_text(v, signed=True, ci=False) for v in vals]) for name, vals in kappa_rows]
    averaged = [(name, [j["criteria"].get(c, {}).get("averaged_over") for c in crit]) for name, j in judges.items()]
    group = next((a["group"] for _, vals in averaged for a in vals if a), None)
    if group:
        lines += ["", f"Kendall tau-b within each {group}, averaged over {group}s (groups used/skipped):", row("", crit)]
        lines += [row(name, [(f"{estimate_text(a['kendall'], signed=True, ci=False)} "
                              f"({a['kendall']['n_groups']}/{a['kendall']['n_groups_skipped']})") if a else "n/a"
                             for a in vals]) for name, vals in averaged]
    system = [(name, [j["criteria"].get(c, {}).get("system_level") for c in crit]) for name, j in judges.items()]
    if any(v for _, vals in system for v in vals):
        lines += ["", "system level: Kendall tau-b over per-system means (systems):", row("", crit)]
        lines += [row(name, [f"{estimate_text(v['kendall'], signed=True, ci=False)} ({v['n_systems']})" if v else "n/a"
                             for v in vals]) for name, vals in system]
    lines += ["", "inflation = judge rating - human mean:", row("", crit)]
    for name, j in judges.items():
        lines.append(row(name, [estimate_text(j["criteria"].get(c, {}).get("inflation"), signed=True, ci=False) for c in crit]))
    for name, j in judges.items():
        lines.extend(f"warning: {name}: {w}" for w in j["warnings"])
    lines.append("95% CIs, p-values and Spearman's rho: results.json")
    return "\n".join(lines)


def _pairwise_study(r: dict) -> str:
    judges = r["judges"]
    width = max(len("judge"), *(len(j) for j in judges)) + 2
    labels = ", ".join(f"{k}: {v}" for k, v in r["labels"].items())
    head = f"{'judge':<{width}}{'accuracy':<22}{'positional agr.':<22}{'first-slot share':<24}kappa"
    lines = [f"pairwise study: {r['n_items']} items (labels {labels}), {len(judges)} judges", "", head]
    for name, j in judges.items():
        pb = j["position_bias"]
        first = estimate_text(pb, ci=False) + (f" (p={pb['p_value']:.2g})" if pb.get("p_value") is not None else "")
        lines.append(f"{name:<{width}}{estimate_text(j['accuracy']):<22}{estimate_text(j['positional_agreement']):<22}"
                     f"{first:<24}{estimate_text(j['kappa'])}")
    lines.append("(first-slot share 0.5 = no position bias, p: exact McNemar test; all CIs and p-values: results.json)")
    lines += ["", f"{'judge':<{width}}{'decisive accuracy':<22}{'macro precision':<22}{'macro recall':<22}macro F1"]
    lines += [f"{name:<{width}}{estimate_text(j.get('accuracy_decisive')):<22}"
              f"{estimate_text(j.get('macro_precision')):<22}{estimate_text(j.get('macro_recall')):<22}"
              f"{estimate_text(j.get('macro_f1'))}" for name, j in judges.items()]
    lines += calibration_lines({name: j.get("calibration") for name, j in judges.items()}, width)
    ak = (r.get("humans") or {}).get("annotator_kappa") or {}
    if ak:
        lines += ["", f"annotators: {r['humans']['n_annotators']}, mean pairwise Cohen's kappa "
                      f"{estimate_text(ak.get('mean'), reason=True)} over {ak['mean']['n']} pairs "
                      "(every pair: results.json humans.annotator_kappa)"]
    for name, j in judges.items():
        lines.extend(f"warning: {name}: {w}" for w in j["warnings"])
    return "\n".join(lines)


def calibration_lines(calibrations: dict[str, dict | None], width: int) -> list[str]:
    """The calibration table (judges that stated a confidence); no lines when none did."""
    rows = {n: c for n, c in calibrations.items() if c and c.get("n_with_confidence")}
    if not rows:
        return []
    t = next(iter(rows.values()))["threshold"]
    lines = ["", f"calibration of the judges' confidence (decisive verdicts; high = confidence >= {t:g}):",
             f"{'judge':<{width}}{'with confidence':<17}{'high: accuracy (n)':<28}{'low: accuracy (n)':<28}"
             f"{'ECE':<22}Brier"]
    for name, c in rows.items():
        lines.append(f"{name:<{width}}{c['n_with_confidence']:<17}"
                     f"{estimate_text(c['high']) + ' (' + str(c['high']['n']) + ')':<28}"
                     f"{estimate_text(c['low']) + ' (' + str(c['low']['n']) + ')':<28}"
                     f"{estimate_text(c['ece']):<22}{estimate_text(c['brier'])}")
    return lines
