"""Resolve judge names to litellm calls, from the shipped judges.toml plus a user config."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from audit.data.judgments import JURY_AGGREGATES
from audit.errors import ConfigError

MODES = ("json_schema", "json", "tools")
_KEYS = {"model", "api_base", "api_key_env", "mode", "concurrency", "max_retries", "timeout", "params", "rpm", "prompt",
         "family", "batch"}
_TOP = ("judges", "juries", "families")  # the tables a judge config may hold


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
    prompt: str | None = None  # judge prompt: None (the shipped default), a shipped variant, or a folder's absolute path
    family: str | None = None  # model family for self-preference (else matched by the [families] patterns)
    batch: bool = False  # judge through the provider's batch API (audit.engine.batch) unless cached

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
        msg = str(exc)
        m = re.search(r"\s*\(at line (\d+), column \d+\)$", msg)
        if m:  # "file line N: ..." like every other input error
            raise ConfigError(f"{source} line {m.group(1)}: invalid TOML: {msg[:m.start()]}") from None
        raise ConfigError(f"{source}: invalid TOML: {msg}") from None


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")


def _dotted(header: str) -> tuple[str, ...]:
    return tuple(part.strip().strip('"\'') for part in header.split("."))


def _line_of(text: str, table: tuple[str, ...], key: str | None = None) -> int | None:
    """The line (1-based) where ``key`` of TOML table ``table`` is set, or the table's header line when
    ``key`` is None or not set there; None when neither is found (the message then names no line)."""
    header_line, current = None, ()
    key_re = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=") if key else None
    for number, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            current = _dotted(m.group(1))
            if current == table:
                header_line = number
            elif key and current[:len(table) + 1] == (*table, key):
                return number  # [judge.a] sets the top-level key "judge"
            continue
        if key_re and current == table and key_re.match(line):
            return number
        if table and current == table[:-1] and re.match(rf"^\s*[\"']?{re.escape(table[-1])}[\"']?\s*=", line):
            header_line = header_line or number  # an inline table: name = {{ ... }}
    return header_line


def _where(source: str, text: str, table: tuple[str, ...], key: str | None = None) -> str:
    line = _line_of(text, table, key)
    dotted = ".".join(table + ((key,) if key else ()))
    return f"{source}{f' line {line}' if line else ''}, {dotted}"


def _error_at(source: str, text: str, table: tuple[str, ...]):
    """``bad(key, message)``: a ConfigError naming the file, the line and ``table.key``."""
    def bad(key: str | None, message: str) -> ConfigError:
        return ConfigError(f"{_where(source, text, table, key)}: {message}")
    return bad


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _specs_from(doc: dict, source: str, text: str = "", base: Path | None = None) -> dict[str, JudgeSpec]:
    unknown_tables = sorted(set(doc) - set(_TOP))
    if unknown_tables:
        key = unknown_tables[0]
        raise ConfigError(f"{_where(source, text, (), key)}: unknown table {key!r} (a judge config has "
                          f"{', '.join(f'[{t}.NAME]' for t in _TOP)})")
    judges = doc.get("judges", {})
    if not isinstance(judges, dict):
        raise ConfigError(f"{_where(source, text, (), 'judges')}: [judges] must be a table of judge tables")
    out = {}
    for name, entry in judges.items():
        bad = _error_at(source, text, ("judges", name))

        if not isinstance(entry, dict):
            raise bad(None, "must be a table ([judges.NAME] with model = ...)")
        unknown = set(entry) - _KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise bad(key, f"unknown key {key!r} (allowed: {', '.join(sorted(_KEYS))})")
        if not isinstance(entry.get("model"), str) or not entry["model"]:
            raise bad("model", "required, a litellm model id such as 'openai/gpt-4o'")
        mode = entry.get("mode", "json_schema")
        if mode not in MODES:
            raise bad("mode", f"must be one of {', '.join(MODES)} (got {mode!r})")
        params = entry.get("params", {})
        if not isinstance(params, dict):
            raise bad("params", f"must be a table of litellm parameters (got {params!r})")
        for key in ("concurrency", "max_retries"):
            value = entry.get(key)
            if key in entry and (not isinstance(value, int) or isinstance(value, bool) or value < (1 if key == "concurrency" else 0)):
                raise bad(key, f"must be a whole number {'>= 1' if key == 'concurrency' else '>= 0'} (got {value!r})")
        if "timeout" in entry and (not _number(entry["timeout"]) or entry["timeout"] <= 0):
            raise bad("timeout", f"must be a number of seconds > 0 (got {entry['timeout']!r})")
        if "rpm" in entry and (not _number(entry["rpm"]) or entry["rpm"] <= 0):
            raise bad("rpm", f"must be a number of requests per minute > 0 (got {entry['rpm']!r})")
        if "api_base" in entry and (not isinstance(entry["api_base"], str) or not entry["api_base"]):
            raise bad("api_base", f"must be a URL such as 'http://127.0.0.1:8000/v1' (got {entry['api_base']!r})")
        if "api_key_env" in entry and (not isinstance(entry["api_key_env"], str) or not entry["api_key_env"]):
            raise bad("api_key_env", f"must be the name of an environment variable (got {entry['api_key_env']!r})")
        if "family" in entry and (not isinstance(entry["family"], str) or not entry["family"]):
            raise bad("family", f"must be a family name (got {entry['family']!r})")
        if "batch" in entry and not isinstance(entry["batch"], bool):
            raise bad("batch", f"must be true or false (got {entry['batch']!r})")
        prompt = None
        if "prompt" in entry:
            if not isinstance(entry["prompt"], str) or not entry["prompt"]:
                raise bad("prompt", f"must be a shipped prompt name or a folder (got {entry['prompt']!r})")
            try:
                prompt = _prompt_ref(entry["prompt"], base)
            except ConfigError as exc:
                raise bad("prompt", str(exc)) from None
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
            prompt=prompt,
            family=entry.get("family"),
            batch=entry.get("batch", False),
        )
    return out


def _families_from(doc: dict, source: str, text: str) -> dict[str, tuple[str, ...]]:
    families = doc.get("families", {})
    if not isinstance(families, dict):
        raise ConfigError(f"{_where(source, text, (), 'families')}: [families] must be a table of name = [patterns]")
    out = {}
    for name, patterns in families.items():
        if not isinstance(patterns, list) or not patterns or not all(isinstance(x, str) and x for x in patterns):
            raise ConfigError(f"{_where(source, text, ('families',), name)}: must be a list of glob patterns over "
                              f"judge names, model ids and generator names (got {patterns!r})")
        out[name] = tuple(patterns)
    return out


@dataclass(frozen=True)
class _Source:
    """One judge config file, read and parsed: its TOML, its name in messages, its text (for line
    numbers) and the folder relative paths in it are relative to (None for the shipped file)."""

    doc: dict
    name: str
    text: str
    base: Path | None


def _sources(user_config: str | Path | None, *, shipped: bool = True) -> list[_Source]:
    """The shipped judges.toml (unless ``shipped=False``), then the user's config when given."""
    out = []
    if shipped:
        text = resources.files("audit").joinpath("judges.toml").read_text(encoding="utf-8")
        out.append(_Source(_read_toml(text, "judges.toml (shipped)"), "judges.toml (shipped)", text, None))
    if user_config is not None:
        path = Path(user_config)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read judge config: {exc.strerror}") from None
        out.append(_Source(_read_toml(text, str(path)), str(path), text, path.resolve().parent))
    return out


def load_families(user_config: str | Path | None = None) -> dict[str, tuple[str, ...]]:
    """Model families (name -> glob patterns, case-insensitive, over judge names, model ids and generator
    names): the shipped ``[families]`` of judges.toml, extended and overridden by the user's."""
    out: dict[str, tuple[str, ...]] = {}
    for src in _sources(user_config):
        out.update(_families_from(src.doc, src.name, src.text))
    return out


def family_of(names: tuple[str, ...] | list[str], families: dict[str, tuple[str, ...]]) -> str | None:
    """The first family (in config order) one of whose patterns matches one of ``names``."""
    import fnmatch

    for family, patterns in families.items():
        if any(fnmatch.fnmatch(n.lower(), p.lower()) for n in names if n for p in patterns):
            return family
    return None


def _prompt_ref(ref: str, base: Path | None) -> str | None:
    from audit.engine.prompts import DEFAULT, resolve_prompt_ref

    resolved = resolve_prompt_ref(ref, base)
    return None if resolved == DEFAULT else resolved


def with_prompt(spec: JudgeSpec, ref: str, *, name: str | None = None, base: Path | None = None) -> JudgeSpec:
    """``spec`` judging with the prompt ``ref`` (a shipped variant or a folder; checked now), under the
    name ``name`` (default ``<spec name>@<ref>``): two prompts of one model are two judges."""
    resolved = _prompt_ref(ref, base)
    base_name = spec.name.split("@", 1)[0]
    return dataclasses.replace(spec, name=name or f"{base_name}@{ref}", prompt=resolved)


_JURY_KEYS = {"judges", "aggregate"}


@dataclass(frozen=True)
class Jury:
    """A panel of judges audited like one judge, from its members' judgments (no extra calls)."""

    name: str
    members: tuple[str, ...]
    aggregate: str = "mean"

    def describe(self) -> str:
        return f"jury:{self.aggregate}({','.join(self.members)})"


def _juries_from(doc: dict, source: str, text: str, specs: dict[str, JudgeSpec]) -> dict[str, Jury]:
    juries = doc.get("juries", {})
    if not isinstance(juries, dict):
        raise ConfigError(f"{_where(source, text, (), 'juries')}: [juries] must be a table of jury tables")
    out = {}
    for name, entry in juries.items():
        bad = _error_at(source, text, ("juries", name))

        if not isinstance(entry, dict):
            raise bad(None, "must be a table ([juries.NAME] with judges = [...])")
        unknown = set(entry) - _JURY_KEYS
        if unknown:
            raise bad(sorted(unknown)[0], f"unknown key {sorted(unknown)[0]!r} (allowed: aggregate, judges)")
        if name in specs:
            raise bad(None, f"a jury cannot have the name of a judge ({name!r})")
        members = entry.get("judges")
        if (not isinstance(members, list) or len(members) < 2
                or not all(isinstance(m, str) and m for m in members)):
            raise bad("judges", f"must list at least two judge names (got {members!r})")
        if len(set(members)) != len(members):
            raise bad("judges", f"lists a judge twice: {members!r}")
        for member in members:
            try:
                resolve_judge(member, specs)
            except ConfigError as exc:
                raise bad("judges", str(exc)) from None
        aggregate = entry.get("aggregate", "mean")
        if aggregate not in JURY_AGGREGATES:
            raise bad("aggregate", f"must be one of {', '.join(JURY_AGGREGATES)} (got {aggregate!r})")
        out[name] = Jury(name, tuple(members), aggregate)
    return out


def load_juries(user_config: str | Path | None, specs: dict[str, JudgeSpec] | None = None) -> dict[str, Jury]:
    """The ``[juries.NAME]`` tables of the user's judge config (none ship with judge-audit)."""
    out: dict[str, Jury] = {}
    for src in _sources(user_config, shipped=False):
        out.update(_juries_from(src.doc, src.name, src.text,
                                specs if specs is not None else load_judge_config(user_config)))
    return out


def load_judge_config(user_config: str | Path | None = None) -> dict[str, JudgeSpec]:
    """The shipped judges, overridden and extended by ``user_config`` when given."""
    specs: dict[str, JudgeSpec] = {}
    for src in _sources(user_config):
        specs.update(_specs_from(src.doc, src.name, src.text, src.base))
    return specs


def resolve_judge(name: str, specs: dict[str, JudgeSpec]) -> JudgeSpec:
    """A configured name, else any litellm model id ("provider/model"); ``NAME@PROMPT`` is that judge with
    another prompt (a shipped variant such as ``debiased``, or a folder with system.j2 and user.j2)."""
    if name in specs:
        return specs[name]
    if "@" in name:
        base, ref = name.split("@", 1)
        if not base or not ref:
            raise ConfigError(f"judge {name!r}: write NAME@PROMPT, e.g. claude@debiased or claude@./my_rubric/")
        return with_prompt(resolve_judge(base, specs), ref, name=name)
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
