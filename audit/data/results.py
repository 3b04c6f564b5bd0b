"""The typed results of every audit: what results.json holds, as pydantic models.

The audits build their results (``audit.audits.results.build_results`` and the relevance,
counterfactual and study sections), validate them into these models before writing, and the gate and
the renderers read them back through :func:`read_results_model`. results.json carries
``schema_version``; its JSON Schema is ``judge-audit schema`` (shipped as docs/results.schema.json and
checked against every results.json the tests write).

The models name every key a consumer reads and type every estimate; sections whose inner layout is
documented elsewhere (the agreement matrix, the engine checks' details, the audit card) keep their
extra keys (``extra="allow"``): adding a key is not a breaking change, renaming one is.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class _Open(BaseModel):
    """A section that may hold more keys than it names (documented in docs/METHODS.md)."""

    model_config = ConfigDict(extra="allow", strict=True)


class Estimate(_Open):
    """One number with its 95% CI, p-value, sample size and method (audit.stats.estimate.Estimate)."""

    estimate: float | None
    ci: list[float | None] | None = Field(default=None, min_length=2, max_length=2)
    p_value: float | None = None
    n: int = 0
    method: str = ""
    reason: str | None = None


class Metrics(_Open):
    """Agreement on the five metrics of docs/METHODS.md (each None when not measured)."""

    spearman: Estimate | None = None
    kendall: Estimate | None = None
    kappa_quadratic: Estimate | None = None
    exact_agreement: Estimate | None = None
    sign_accuracy: Estimate | None = None


class Ceiling(Metrics):
    """The human ceiling: each annotator against the others, averaged (None metrics: not measurable)."""

    per_annotator: dict[str, dict[str, Estimate]] | None = None
    reason: str | None = None


class Spread(Estimate):
    min: float | None = None
    max: float | None = None
    min_annotator: str | None = None
    max_annotator: str | None = None


class JudgeAgreement(Metrics):
    """A judge against people: the metrics, scored like the ceiling (``matched``), its gap to the
    ceiling, and the individual lens (each annotator, their spread, the best-fitting annotator)."""

    matched: dict[str, Estimate] | None = None
    ceiling_gap: dict[str, Estimate] | None = None
    per_annotator: dict[str, dict[str, Estimate]] | None = None
    spread: dict[str, Spread] | None = None
    best_fit_annotator: str | None = None


class Cost(_Open):
    calls: int
    cached: int = 0
    failures: int = 0
    tokens_in: float | None = None
    tokens_out: float | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None
    cost_usd: float | None = None
    cost_usd_this_run: float | None = None


class SelfConsistency(_Open):
    samples: int
    n_prompts: int
    exact_agreement: Estimate
    icc: Estimate


class RawAnswers(_Open):
    modal_raw_rating: int
    share: float
    n: int


class Humans(_Open):
    n_annotators: int
    mean_rating: float | None
    no_better_rate: Estimate
    mention_delta: Estimate
    ceiling: Ceiling = Field(default_factory=Ceiling)
    krippendorff_alpha: Estimate | None = None
    icc: dict[str, Any] | None = None
    rating_shares: dict[str, float] | None = None
    style_control: dict[str, Estimate] | None = None  # mention, length, markdown coefficients (audit.stats.style)


class GeneratorMeans(_Open):
    humans: Estimate | None
    judges: dict[str, Estimate]


class Generator(_Open):
    n_items: int
    mention_rate: Estimate
    mean_human_rating: float | None
    no_better_rate: Estimate
    mean_rating: GeneratorMeans | None = None


class Position(_Open):
    flip_rate: Estimate
    slot_a_preference: Estimate
    n_pairs: int
    n_flips: int | None = None


class StyleControl(_Open):
    mention: Estimate
    length: Estimate
    markdown: Estimate
    excess: dict[str, Estimate] = Field(default_factory=dict)  # the judge's coefficient minus people's


class Judge(_Open):
    model: str
    source: str  # called | imported | jury
    prompt: dict[str, Any] | None = None  # called judges: {name, sha256, source} of the judge prompt
    jury: dict[str, Any] | None = None  # juries: members, aggregate, n_items_partial, members_agreement
    style_control: StyleControl | None = None  # style-controlled mention effect (audit.stats.style)
    verbosity: dict[str, Any] | None = None  # shares preferring the longer answer, judge vs people
    family: str | None = None  # the judge's model family (self-preference)
    self_preference: Estimate | None = None  # inflation on its own family's answers minus on the others'
    calibration: dict[str, Any] | None = None  # judges with a confidence: audit.stats.calibration.run_calibration
    fingerprint: dict[str, Any] | None = None  # what was asked and what answered (audit.audits.card.judge_fingerprints)
    n_items_rated: int
    n_calls: int
    n_failed: int
    n_cached: int
    mean_rating: float | None
    inflation: Estimate
    mention_delta: Estimate
    excess_mention_uplift: Estimate | None = None
    mention_slope: Estimate | None = None
    spearman: Estimate
    rating_distribution: dict[str, Any] | None = None
    rating_shares: dict[str, float] | None = None
    habit: dict[str, Any] | None = None
    warnings: list[str] = Field(default_factory=list)
    agreement: JudgeAgreement | None = None
    position: Position | None = None
    self_consistency: SelfConsistency | None = None
    cost: Cost | None = None
    raw_answers: RawAnswers | None = None


class HabitBias(_Open):
    spearman_r: float | None = None
    p_value: float | None = None
    n_models: int = 0
    reason: str | None = None


class RelevanceJudge(_Open):
    source: str
    n_pairs_labelled: int
    selection_rate: Estimate
    over_selection_ratio: Estimate
    precision: Estimate
    recall: Estimate
    f1: Estimate
    warnings: list[str]


class RelevanceSection(_Open):
    """The ``relevance`` section (``judge-audit relevance``); a run carries it over as it finds it."""

    judges: dict[str, RelevanceJudge]
    audit_card: dict[str, Any]
    n_pairs: int | None = None
    n_users: int | None = None
    humans: dict[str, Any] | None = None
    baselines: dict[str, Any] | None = None
    agreement: dict[str, Any] | None = None


class CounterfactualJudge(_Open):
    ablation_effect: Estimate
    injection_effect: Estimate
    observational_mention_delta: Estimate
    n_pairs: dict[str, int]
    warnings: list[str]


class CounterfactualSection(_Open):
    """The ``counterfactual`` section (``judge-audit counterfactual``); a run carries it over when it
    was made from the same dataset."""

    judges: dict[str, CounterfactualJudge]
    audit_card: dict[str, Any]
    n_items: int | None = None
    n_mention: int | None = None
    ablation: dict[str, Any] | None = None
    injection: dict[str, Any] | None = None
    humans: dict[str, Any] | None = None


class Results(_Open):
    """results.json of ``judge-audit run`` (with the sections other commands merged in). Keys with a
    default may be missing from a file written by an older version; the report says "not measured"."""

    schema_version: int = SCHEMA_VERSION
    scale: str
    n_items: int
    n_items_with_human_ratings: int
    n_mention: int
    humans: Humans
    generators: dict[str, Generator] = Field(default_factory=dict)
    judges: dict[str, Judge]
    agreement: dict[str, Any] = Field(default_factory=dict)
    habit_bias: HabitBias = Field(default_factory=HabitBias)
    prompt_effects: list[dict[str, Any]] = Field(default_factory=list)
    self_preference_matrix: dict[str, dict[str, Estimate]] = Field(default_factory=dict)
    bootstrap: dict[str, Any] = Field(default_factory=dict)
    audit_card: dict[str, Any] = Field(default_factory=dict)
    relevance: RelevanceSection | None = None
    counterfactual: CounterfactualSection | None = None


class SectionsOnly(BaseModel):
    """results.json written by ``relevance`` or ``counterfactual`` into a folder without a run: those
    sections and nothing else."""

    model_config = ConfigDict(extra="forbid", strict=True)

    schema_version: int = SCHEMA_VERSION
    relevance: RelevanceSection | None = None
    counterfactual: CounterfactualSection | None = None


class StudyResults(_Open):
    """results.json of ``judge-audit study`` (absolute or pairwise form; docs/FORMATS.md)."""

    schema_version: int = SCHEMA_VERSION
    form: str
    n_items: int
    judges: dict[str, dict[str, Any]]
    bootstrap: dict[str, Any]
    audit_card: dict[str, Any]


class ExtractionResults(_Open):
    """results.json of ``judge-audit extraction`` (stage 1; docs/METHODS.md)."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["extraction"]
    n_items: int
    humans: dict[str, Any]
    judges: dict[str, dict[str, Any]]
    kappa: dict[str, Any]
    bootstrap: dict[str, Any]
    audit_card: dict[str, Any]


def results_schema() -> dict:
    """The JSON Schema of every results.json judge-audit writes (one of the four kinds)."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(Results | SectionsOnly | StudyResults | ExtractionResults).json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "judge-audit results.json", "description": __doc__.split("\n\n")[0], **schema}


def typed(doc: dict) -> Results | SectionsOnly | StudyResults | ExtractionResults:
    """A results.json dict as its model (ValueError naming the first field that does not fit)."""
    if doc.get("kind") == "extraction":
        return ExtractionResults.model_validate(doc)
    if "form" in doc:
        return StudyResults.model_validate(doc)
    if "humans" in doc:
        return Results.model_validate(doc)
    return SectionsOnly.model_validate(doc)


def versioned(doc: dict) -> dict:
    """``doc`` with ``schema_version`` first, validated against its model (a bug if it does not fit)."""
    out = {"schema_version": SCHEMA_VERSION, **{k: v for k, v in doc.items() if k != "schema_version"}}
    typed(out)
    return out
