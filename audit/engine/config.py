"""Resolve judge names to litellm calls, from the shipped judges.toml plus a user config."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from audit.errors import ConfigError

MODES = ("json_schema", "json", "tools")
_KEYS = {"model", "api_base", "api_key_env", "mode", "concurrency", "max_retries", "timeout", "params", "rpm"}


@dataclass(frozen=True)
class JudgeSpec:
    """Everything needed to call one judge. ``params`` change answers; the rest does not."""

    name: str
    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    mode: str = "json_schema"
    concurrency: int = 8
    max_retries: int = 4
    timeout: float = 120.0
    rpm: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    configured: bool = True  # False when the name was taken as a raw litellm model id

    @property
    def is_local(self) -> bool:
        return self.model.startswith("local-gguf/")

    def describe(self) -> str:
        out = self.model
        if self.api_base:
            out += f" @ {self.api_base}"
        return out


def _read_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None


def _specs_from(doc: dict, source: str) -> dict[str, JudgeSpec]:
    judges = doc.get("judges", {})
    if not isinstance(judges, dict):
        raise ConfigError(f"{source}: [judges] must be a table of judge tables")
    out = {}
    for name, entry in judges.items():
        where = f"{source}: judges.{name}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a table")
        unknown = set(entry) - _KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} (allowed: {', '.join(sorted(_KEYS))})")
        if not isinstance(entry.get("model"), str) or not entry["model"]:
            raise ConfigError(f"{where}.model: required, a litellm model id such as 'openai/gpt-4o'")
        mode = entry.get("mode", "json_schema")
        if mode not in MODES:
            raise ConfigError(f"{where}.mode: must be one of {', '.join(MODES)} (got {mode!r})")
        params = entry.get("params", {})
        if not isinstance(params, dict):
            raise ConfigError(f"{where}.params: must be a table")
        for key in ("concurrency", "max_retries"):
            if key in entry and (not isinstance(entry[key], int) or entry[key] < (1 if key == "concurrency" else 0)):
                raise ConfigError(f"{where}.{key}: must be a whole number (got {entry[key]!r})")
        out[name] = JudgeSpec(
            name=name,
            model=entry["model"],
            api_base=entry.get("api_base"),
            api_key_env=entry.get("api_key_env"),
            mode=mode,
            concurrency=entry.get("concurrency", 8),
            max_retries=entry.get("max_retries", 4),
            timeout=float(entry.get("timeout", 120)),
            rpm=entry.get("rpm"),
            params=dict(params),
        )
    return out


def load_judge_config(user_config: str | Path | None = None) -> dict[str, JudgeSpec]:
    """The shipped judges, overridden and extended by ``user_config`` when given."""
    shipped = resources.files("audit").joinpath("judges.toml").read_text(encoding="utf-8")
    specs = _specs_from(_read_toml(shipped, "judges.toml (shipped)"), "judges.toml (shipped)")
    if user_config is not None:
        path = Path(user_config)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read judge config: {exc.strerror}") from None
        specs.update(_specs_from(_read_toml(text, str(path)), str(path)))
    return specs


def resolve_judge(name: str, specs: dict[str, JudgeSpec]) -> JudgeSpec:
    """A configured name, else any litellm model id ("provider/model")."""
    if name in specs:
        return specs[name]
    if "/" in name or name.startswith(("gpt-", "claude-", "o1", "o3", "o4")):
        return JudgeSpec(name=name, model=name, configured=False)
    known = ", ".join(sorted(specs))
    raise ConfigError(f"unknown judge {name!r}: not in the judge config ({known}) and not a litellm model id like 'openai/gpt-4o'")


def parse_judge_list(text: str | None) -> list[str]:
    if not text:
        return []
    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(set(names)) != len(names):
        raise ConfigError(f"--judges lists a judge twice: {text!r}")
    return names


def with_temperature(spec: JudgeSpec, temperature: float | None) -> JudgeSpec:
    """``spec`` with its temperature set (a call parameter: it changes the cache key)."""
    if temperature is None:
        return spec
    return dataclasses.replace(spec, params={**spec.params, "temperature": float(temperature)})
