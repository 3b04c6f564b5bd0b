"""Every validated model result, kept on disk (diskcache) the moment it arrives.

The key hashes everything that changes an answer -- model id, api_base, call parameters,
rendered messages, output schema, structured-output mode, presentation order and sample index --
and nothing that does not (timeouts, retries, concurrency). Failures are never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

KEY_VERSION = 1


def default_cache_dir() -> Path:
    if os.environ.get("JUDGE_AUDIT_CACHE_DIR"):
        return Path(os.environ["JUDGE_AUDIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "judge-audit"


def cache_key(**parts: Any) -> str:
    """SHA-256 of the canonical JSON of ``parts`` (sorted keys, no whitespace)."""
    blob = json.dumps({"v": KEY_VERSION, **parts}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResultCache:
    """A thin wrapper over :class:`diskcache.Cache` (SQLite; safe across processes)."""

    def __init__(self, directory: str | Path | None = None, enabled: bool = True):
        self.directory = Path(directory) if directory else default_cache_dir()
        self.enabled = enabled
        self._cache = None

    def _open(self):
        if self._cache is None:
            import diskcache

            self.directory.mkdir(parents=True, exist_ok=True)
            # No size limit: paid results are never evicted behind the user's back.
            self._cache = diskcache.Cache(str(self.directory), size_limit=2**62, eviction_policy="none")
        return self._cache

    def get(self, key: str) -> dict | None:
        if not self.enabled:
            return None
        return self._open().get(key)

    def set(self, key: str, value: dict) -> None:
        if self.enabled:
            self._open().set(key, value)

    def __len__(self) -> int:
        return len(self._open())

    def volume(self) -> int:
        return self._open().volume()

    def clear(self) -> int:
        return self._open().clear()

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None
