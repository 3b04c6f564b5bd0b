"""The preamble every audit shares: the bundled example data, the judge configuration, which judges
are called and which imported, credentials checked before anything is spent, and the result cache.
An audit reads its own data, then goes through these steps in this order."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from audit.data.assets import asset_dir
from audit.engine.cache import ResultCache
from audit.engine.config import JudgeSpec, resolve_judge, with_temperature
from audit.engine.provider import check_credentials
from audit.errors import ConfigError


@dataclass
class AuditOptions:
    """What every audit that calls judges is given: its data, the judges to call, the judge config, the
    output folder, the seed and the cache. Each audit's options add their own fields."""

    data: Path | None = None
    judges: list[str] = field(default_factory=list)
    config: Path | None = None
    out: Path = Path("judge-audit-out")
    seed: int = 0
    cache_dir: Path | None = None
    use_cache: bool = True


@dataclass
class CallOptions(AuditOptions):
    """Options of the audits that make preference calls (``run``, ``counterfactual``)."""

    samples: int = 1
    both_orders: bool = False
    temperature: float | None = None  # overrides the called judges' temperature (part of the cache key)
    workers: int | None = None  # worker processes for provider calls (None: automatic, 0: in-process)
    prompt: str | None = None  # --prompt: the judge prompt of every called judge (they become NAME@PROMPT)
    batch: bool = False  # --batch: uncached calls through the providers' batch APIs (audit.engine.batch)
    wait: bool = True  # --no-wait: submit the batches and stop (exit 0); a re-run collects them


def bundled(name: str) -> Path:
    """A bundled fixture (``example.jsonl``, ``relevance_example.jsonl``), from an install or a checkout."""
    return Path(str(asset_dir("fixtures").joinpath(name)))


def choose_judges(dataset, requested: list[str], specs: dict[str, JudgeSpec]) -> tuple[list[JudgeSpec], list[str]]:
    """(judges to call, judges imported from the data) for a dataset with ``imported_judges``.

    No --judges: the judges whose ratings are already in the data; if there are none, ``local``.
    With --judges: those are called, and imported judges in the data are audited too.
    """
    imported = dataset.imported_judges
    if not requested:
        return ([], imported) if imported else ([resolve_judge("local", specs)], [])
    clash = [n for n in requested if n in imported]
    if clash:
        raise ConfigError(
            f"judge {clash[0]!r} already has imported ratings in {dataset.path}; "
            f"omit it from --judges to audit those ratings, or call it under another name via --config"
        )
    return [resolve_judge(n, specs) for n in requested], imported


def with_temperatures(specs: list[JudgeSpec], temperature: float | None) -> list[JudgeSpec]:
    """The called judges with ``--temperature`` applied (part of every cache key)."""
    return [with_temperature(s, temperature) for s in specs]


def with_prompts(specs: list[JudgeSpec], prompt: str | None) -> list[JudgeSpec]:
    """The called judges with ``--prompt`` (a shipped variant or a folder; checked before any call)."""
    from audit.engine.config import with_prompt

    return list(specs) if not prompt else [with_prompt(s, prompt) for s in specs]


def require_credentials(*specs: JudgeSpec | None, out: str | Path | None = None) -> None:
    """What must hold before anything is spent: every model the audit will call has its credentials
    (exit 3), and the output folder ``out`` can be created (exit 2), so an audit never pays for calls
    it then cannot save."""
    for spec in specs:
        if spec is not None:
            check_credentials(spec)
    if out is not None:
        from audit.data.files import output_dir

        output_dir(out)


def raters_beside_annotators(dataset, requested: list[str], config: Path | None, *,
                             role: str = "judge") -> tuple[list[JudgeSpec], list[str]]:
    """(judges to call, judges imported) of an audit whose judges are compared rater by rater with the
    dataset's annotators (relevance, extraction): :func:`choose_judges` on the judge config, refusing a
    called judge named like an annotator (their labels would be mixed up)."""
    from audit.engine.config import load_judge_config

    called, imported = choose_judges(dataset, requested, load_judge_config(config))
    clash = [s.name for s in called if s.name in dataset.annotators]
    if clash:
        raise ConfigError(f"{role} {clash[0]!r} has the name of an annotator in {dataset.path}; call it under another "
                          "name via --config")
    return called, imported


def provenance(called: list[JudgeSpec], imported: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(judge -> model, judge -> "called" | "imported") for the results."""
    models = {s.name: s.model for s in called} | {n: n for n in imported}
    sources = {s.name: "called" for s in called} | {n: "imported" for n in imported}
    return models, sources


@contextmanager
def opened_cache(cache_dir: Path | None, enabled: bool = True) -> Iterator[ResultCache]:
    """The result cache for the judging stage, closed when it ends (every paid result is already stored)."""
    cache = ResultCache(cache_dir, enabled=enabled)
    try:
        yield cache
    finally:
        cache.close()


