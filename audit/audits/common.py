"""The preamble every audit shares: the bundled example data, the judge configuration, which judges
are called and which imported, credentials checked before anything is spent, and the result cache.
An audit reads its own data, then goes through these steps in this order."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from audit.data.assets import asset_dir
from audit.engine.cache import ResultCache
from audit.engine.config import JudgeSpec, load_judge_config, resolve_judge, with_temperature
from audit.engine.provider import check_credentials
from audit.errors import ConfigError


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


def require_credentials(*specs: JudgeSpec | None) -> None:
    """Every model the audit will call has its credentials: checked before anything is spent (exit 3)."""
    for spec in specs:
        if spec is not None:
            check_credentials(spec)


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


__all__ = ["bundled", "choose_judges", "load_judge_config", "opened_cache", "provenance", "require_credentials",
           "resolve_judge", "with_temperatures"]
