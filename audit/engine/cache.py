"""Every validated model result, kept on disk (diskcache) the moment it arrives.

The key hashes everything that changes an answer -- model id, api_base, call parameters,
rendered messages, output schema, structured-output mode, presentation order and sample index --
and nothing that does not (timeouts, retries, concurrency). Failures are never cached.

diskcache stores entries in SQLite (WAL journal), so several processes -- the engine's worker
processes, or two runs sharing one cache directory -- can read and write it at once; a write is
one short transaction, so a process killed at any point leaves every earlier entry intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from typing import Any, Iterable

KEY_VERSION = 1
DERIVED_DIR = "derived"  # <cache dir>/derived/<name>: stores of results computed here, not paid for
SQLITE_TIMEOUT_S = 60  # how long a writer waits for another process's transaction


def default_cache_dir() -> Path:
    if os.environ.get("JUDGE_AUDIT_CACHE_DIR"):
        return Path(os.environ["JUDGE_AUDIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "judge-audit"


def canonical_json(value: Any) -> str:
    """The JSON a cache key hashes: sorted keys, no whitespace, ASCII, ``str()`` of anything else.
    Strings, None and integers -- most key parts -- take json's own encoder functions directly."""
    if isinstance(value, str):
        return _quote(value)  # what json.dumps does for a str with ensure_ascii
    if value is None:
        return "null"
    if type(value) is int:
        return int.__repr__(value)  # what json.dumps does for an int (bool is not int here)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def cache_key(**parts: Any) -> str:
    """SHA-256 of the canonical JSON of ``parts`` (:func:`canonical_json`) plus the key version."""
    return cache_key_of_json({k: canonical_json(v) for k, v in parts.items()})


def cache_key_of_json(parts_json: dict[str, str]) -> str:
    """:func:`cache_key` from each part already serialised with :func:`canonical_json`, so a part
    shared by many keys (the rendered messages of one item, shared by every judge; the output
    schema) is serialised once. Byte for byte the blob ``canonical_json({"v": KEY_VERSION,
    **parts})`` -- the same key, so results cached before this existed are found
    (tests/test_engine.py pins a key)."""
    parts_json = {"v": canonical_json(KEY_VERSION), **parts_json}
    blob = "{" + ",".join(f"{_quote(k)}:{parts_json[k]}" for k in sorted(parts_json)) + "}"
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class ModelStats:
    """What the cache holds for one model: entries, tokens and what they cost when paid."""

    entries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0  # None once any entry of the model has no known price
    unpriced: int = 0
    first: float | None = None
    last: float | None = None

    def add(self, rec: dict) -> None:
        self.entries += 1
        self.tokens_in += int(rec.get("tokens_in") or 0)
        self.tokens_out += int(rec.get("tokens_out") or 0)
        cost = rec.get("cost_usd")
        if cost is None:
            self.unpriced += 1
            self.cost_usd = None
        elif self.cost_usd is not None:
            self.cost_usd += float(cost)
        at = rec.get("at")
        if isinstance(at, (int, float)):
            self.first = at if self.first is None else min(self.first, at)
            self.last = at if self.last is None else max(self.last, at)


@dataclass
class CacheStats:
    directory: str
    entries: int
    size_bytes: int
    models: dict[str, ModelStats] = field(default_factory=dict)
    derived: dict[str, int] = field(default_factory=dict)  # store name -> entries (recomputable, not paid)

    def to_dict(self) -> dict:
        return {"directory": self.directory, "entries": self.entries, "size_bytes": self.size_bytes,
                "models": {m: vars(s) for m, s in self.models.items()}, "derived": dict(self.derived)}


class ResultCache:
    """A thin wrapper over :class:`diskcache.Cache` (SQLite; safe across processes).

    Records are dicts ``{"value", "latency_s", "tokens_in", "tokens_out", "cost_usd", "model", "at"}``.
    """

    def __init__(self, directory: str | Path | None = None, enabled: bool = True):
        self.directory = Path(directory) if directory else default_cache_dir()
        self.enabled = enabled
        self._cache = None
        self._derived: dict[str, Any] = {}

    def _open(self):
        if self._cache is None:
            import diskcache

            self.directory.mkdir(parents=True, exist_ok=True)
            # No size limit and no eviction: paid results are never dropped behind the user's back.
            self._cache = diskcache.Cache(str(self.directory), size_limit=2**62, eviction_policy="none",
                                          timeout=SQLITE_TIMEOUT_S)
        return self._cache

    def get(self, key: str) -> dict | None:
        if not self.enabled:
            return None
        return self._open().get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        """The records found for ``keys``, read in one transaction (one consistent snapshot)."""
        if not self.enabled:
            return {}
        cache = self._open()
        out = {}
        with cache.transact():
            for key in keys:
                rec = cache.get(key)
                if rec is not None:
                    out[key] = rec
        return out

    def set(self, key: str, value: dict) -> None:
        """Store one record now (its own committed transaction)."""
        if self.enabled:
            self._open().set(key, value)

    def __len__(self) -> int:
        return len(self._open())

    def volume(self) -> int:
        return self._open().volume()

    def stats(self) -> CacheStats:
        """Entries, size on disk and, per model, entries, tokens and recorded cost."""
        cache = self._open()
        models: dict[str, ModelStats] = {}
        n = 0
        for key in cache.iterkeys():
            rec = cache.get(key)
            if not isinstance(rec, dict):
                continue
            n += 1
            models.setdefault(str(rec.get("model") or "unknown"), ModelStats()).add(rec)
        derived = {p.name: len(self.derived(p.name)) for p in sorted((self.directory / DERIVED_DIR).glob("*")) if p.is_dir()}
        return CacheStats(str(self.directory), n, cache.volume(), dict(sorted(models.items())), derived)

    def select(self, *, model: str | None = None, older_than_s: float | None = None) -> list[str]:
        """Keys of the records of ``model`` (all models when None) stored more than ``older_than_s`` ago."""
        cache = self._open()
        cutoff = None if older_than_s is None else time.time() - older_than_s
        keys = []
        for key in cache.iterkeys():
            rec = cache.get(key)
            if not isinstance(rec, dict):
                continue
            if model is not None and rec.get("model") != model:
                continue
            if cutoff is not None and not (isinstance(rec.get("at"), (int, float)) and rec["at"] < cutoff):
                continue
            keys.append(key)
        return keys

    def delete(self, keys: Iterable[str]) -> int:
        cache = self._open()
        n = 0
        with cache.transact():
            for key in keys:
                n += bool(cache.delete(key))
        return n

    def clear(self) -> int:
        """Delete every paid result (the count) and every derived store."""
        n = self._open().clear()
        for path in sorted((self.directory / DERIVED_DIR).glob("*")):
            if path.is_dir():
                self.derived(path.name).clear()
        return n

    def derived(self, name: str):
        """A :class:`diskcache.Cache` for results computed here rather than paid for (e.g. the
        offline flagger's flags), in ``<directory>/derived/<name>``: outside the paid results,
        so ``cache stats`` and ``cache clear --model`` see only those; ``cache clear`` empties it."""
        if name not in self._derived:
            import diskcache

            path = self.directory / DERIVED_DIR / name
            path.mkdir(parents=True, exist_ok=True)
            self._derived[name] = diskcache.Cache(str(path), size_limit=2**62, eviction_policy="none",
                                                  timeout=SQLITE_TIMEOUT_S)
        return self._derived[name]

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None
        for store in self._derived.values():
            store.close()
        self._derived.clear()
