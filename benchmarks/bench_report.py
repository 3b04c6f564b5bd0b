"""How long report.html takes to render, and how big it is, for 1,000 items x 5 judges.

    python benchmarks/bench_report.py                      # 1,000 items x 5 judges, one order
    python benchmarks/bench_report.py --orders 2           # --both-orders: 10,000 judgments
    python benchmarks/bench_report.py --items 2000 --judges 8 --answer-chars 1500

Data: SYNTHETIC (audit.stats.simulate ratings; filler text of realistic length: answers of
--answer-chars characters, rationales of --rationale-chars). Not real answers, people or models.

Prints, for ``audit.render.report.render_html`` (figures + template; results.json is built once first,
not timed): the first render in the process, the
median of --repeat warm renders (wall and CPU time: on a busy machine wall time measures the
neighbours too) with the CPU split into figures and template, and the page size.
Target (issue 5): under 2 s and 10 MB.
"""

from __future__ import annotations

import argparse
import statistics
import time

FILLER = ("This synthetic sentence stands in for an answer of realistic length and carries no meaning at all. ")
RATIONALE = ("Synthetic rationale: Response A covers the request more directly, while Response B adds context that "
             "does not change the advice. ")


def _text(n: int, head: str) -> str:
    body = head + " " + FILLER * (n // len(FILLER) + 1)
    return body[:n]


def build(items: int, judges: int, orders: int, answer_chars: int, rationale_chars: int, seed: int = 0):
    from audit.audits.flagging import flag_items
    from audit.data.judgments import Judgment
    from audit.data.items import Dataset, Item
    from audit.audits.results import build_results
    from audit.stats.simulate import ORDERS, SimParams, draw, to_rows

    names = tuple(f"sim-judge-{k + 1}" for k in range(judges))
    params = SimParams(n_items=items, n_annotators=5, judges=names, inflation=(0.5,), mention_bias=(0.3,),
                       position_bias=(0.2,), seed=seed)
    data = draw(params)
    rows = to_rows(data)
    its = []
    for r in rows:
        r = {k: v for k, v in r.items() if k not in ("judge_ratings", "mention")}
        r["generic"] = _text(answer_chars, r["generic"])
        r["personalized"] = _text(answer_chars, r["personalized"])
        r["prompt"] = _text(160, r["prompt"])
        its.append(Item.model_validate(r))
    dataset = Dataset("synthetic-benchmark", "0" * 64, tuple(its))
    flags = flag_items(dataset.items)  # offline rules: real mention spans to highlight
    rationale = (RATIONALE * (rationale_chars // len(RATIONALE) + 1))[:rationale_chars]
    judgments = []
    for i, it in enumerate(its):
        for k, name in enumerate(names):
            for o in range(orders):
                order = o if orders == 2 else int(data.shown[i, k])
                rating = float(data.verdicts[i, k, order])
                raw = int(rating) if order == 0 else 6 - int(rating)
                judgments.append(Judgment(it.id, name, f"openai/{name}", ORDERS[order], 0, rating, raw, rationale, "ok",
                                          latency_s=0.5, tokens_in=600, tokens_out=60))
    results = build_results(dataset, flags, judgments, judge_models={n: f"openai/{n}" for n in names},
                            judge_sources={n: "called" for n in names}, seed=seed)
    return results, judgments, dataset, flags


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--judges", type=int, default=5)
    ap.add_argument("--orders", type=int, choices=(1, 2), default=1)
    ap.add_argument("--answer-chars", type=int, default=900)
    ap.add_argument("--rationale-chars", type=int, default=240)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    results, judgments, dataset, flags = build(args.items, args.judges, args.orders, args.answer_chars,
                                               args.rationale_chars)
    from audit.render import report

    t0, c0 = time.perf_counter(), time.process_time()
    html = report.render_html(results, judgments, dataset, flags)
    cold, cold_cpu = time.perf_counter() - t0, time.process_time() - c0

    wall, cpu, figs, tmpl = [], [], [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        html = report.render_html(results, judgments, dataset, flags)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        c1 = time.process_time()
        report.figures(results, dataset, judgments, _colors(results))
        figs.append(time.process_time() - c1)
        ctx = report.report_context(results, judgments, dataset, flags, with_figures=False)
        c2 = time.process_time()
        report._env().get_template("report.html.j2").render(**ctx)
        tmpl.append(time.process_time() - c2)
    size = len(html.encode("utf-8"))
    med = statistics.median
    print(f"{args.items} items x {args.judges} judges x {args.orders} order(s) = {len(judgments)} judgments "
          f"(answers {args.answer_chars} chars, rationales {args.rationale_chars} chars)")
    print(f"render_html, first call: {cold:.2f} s wall, {cold_cpu:.2f} s CPU (matplotlib and seaborn are already "
          "imported by pingouin during build_results, as in a real run)")
    print(f"render_html, warm ({args.repeat} runs): median {med(wall):.2f} s wall (min {min(wall):.2f}, max {max(wall):.2f}), "
          f"median {med(cpu):.2f} s CPU (min {min(cpu):.2f})")
    print(f"  CPU split (medians): figures {med(figs):.2f} s, template {med(tmpl):.2f} s")
    print(f"report.html: {size / 1e6:.2f} MB ({size:,} bytes)")


def _colors(results: dict) -> dict[str, str]:
    from audit.render.svg import judge_colors

    return judge_colors(list(results["judges"]))


if __name__ == "__main__":
    main()
