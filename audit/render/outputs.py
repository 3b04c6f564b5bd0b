"""Draw the HTML page of a finished audit beside the data files it wrote. Render is the only layer
that draws; the audits write results.json and the CSV/JSONL files, then the CLI publishes."""

from __future__ import annotations

from pathlib import Path

from audit.audits.counterfactual import CounterfactualOutcome
from audit.audits.drift import DriftOutcome
from audit.audits.extraction import ExtractionOutcome
from audit.audits.preference import RunOutcome
from audit.audits.relevance import RelevanceOutcome
from audit.audits.study import StudyOutcome
from audit.data.files import atomic_write

PAGES = {RunOutcome: "report.html", RelevanceOutcome: "relevance.html", CounterfactualOutcome: "counterfactual.html",
         StudyOutcome: "report.html", DriftOutcome: "drift.html", ExtractionOutcome: "extraction.html"}


def page_html(outcome) -> str:
    """The HTML page of an audit outcome (run, relevance, counterfactual or study)."""
    if isinstance(outcome, RunOutcome):
        from audit.render.report import render_html

        return render_html(outcome.results, outcome.judgments, outcome.dataset, outcome.flags)
    if isinstance(outcome, RelevanceOutcome):
        from audit.render.relevance import render_relevance_html

        return render_relevance_html(outcome.results["relevance"], outcome.judgments, outcome.dataset)
    if isinstance(outcome, CounterfactualOutcome):
        from audit.render.counterfactual import render_counterfactual_html

        return render_counterfactual_html(outcome.results["counterfactual"])
    if isinstance(outcome, ExtractionOutcome):
        from audit.render.extraction import render_extraction_html

        return render_extraction_html(outcome.results, outcome.judgments, outcome.dataset)
    if isinstance(outcome, DriftOutcome):
        from audit.render.drift import render_drift_html

        return render_drift_html(outcome.results)
    if isinstance(outcome, StudyOutcome):
        from audit.render.study import render_study_html

        return render_study_html(outcome.results)
    raise TypeError(f"no page for {type(outcome).__name__}")


def publish(outcome) -> dict[str, Path]:
    """Write the outcome's page into its output folder (atomically) and add it to ``outcome.paths``
    as ``report`` (the last file written). Returns ``outcome.paths``."""
    path = Path(outcome.paths.get("results") or outcome.paths["drift"]).with_name(PAGES[type(outcome)])
    atomic_write(path, page_html(outcome))
    outcome.paths["report"] = path
    return outcome.paths
