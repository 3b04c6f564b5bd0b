"""Render the prompt templates in prompts/ (installed as the data package ``audit._prompts``), and
the judge prompts a user chooses: a shipped variant (``debiased``) or a folder of their own.

A judge is a model *and* a prompt. :class:`Prompt` is one judge prompt: its system and user templates,
where they came from, and a SHA-256 of both (part of the judge's identity in results.json, the
report and judgments.csv; the rendered text is part of every cache key).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import jinja2
import jinja2.meta

from audit.data.assets import asset_dir, read_asset
from audit.errors import ConfigError

_CONFIDENCE_MARK = re.compile(r"\{#-?\s*output:[^#]*\bconfidence\b[^#]*-?#\}")
_TAG = re.compile(r"<(/?)\s*(response_a|response_b|user_request|user_profile|answer|conversation|extracted_attribute)\s*>",
                  re.IGNORECASE)


def fence(text: str) -> str:
    """Neutralise delimiter tags inside untrusted text (``</response_a>`` -> ``< /response_a >``)."""
    return _TAG.sub(lambda m: f"< {m.group(1)}{m.group(2)} >", str(text))


@lru_cache(maxsize=None)
def _env() -> jinja2.Environment:
    root = asset_dir("prompts")
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: root.joinpath(name).read_text(encoding="utf-8")),
        autoescape=False,  # plain-text prompts; untrusted text goes through `fence`
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )
    env.filters["fence"] = fence
    return env


def template_source(name: str) -> str:
    return read_asset("prompts", name)


def _template_name(task: str, part: str) -> str:
    """``task.part.j2``; a variant task (``judge_pairwise@confidence``) without its own user template
    uses the base task's."""
    name = f"{task}.{part}.j2"
    if "@" in task and not asset_dir("prompts").joinpath(name).is_file():
        return f"{task.split('@', 1)[0]}.{part}.j2"
    return name


def template_hash(task: str) -> str:
    """SHA-256 over a task's system and user templates (recorded in the audit card)."""
    h = hashlib.sha256()
    for part in ("system", "user"):
        h.update(template_source(_template_name(task, part)).encode())
    return h.hexdigest()


def render_messages(task: str, **variables) -> list[dict[str, str]]:
    """The chat messages for ``task`` (``judge_preference``, ``flagger_mention``, a variant such as
    ``judge_pairwise@confidence``, ...)."""
    env = _env()
    return [
        {"role": "system", "content": env.get_template(_template_name(task, "system")).render(**variables).strip()},
        {"role": "user", "content": env.get_template(_template_name(task, "user")).render(**variables).strip()},
    ]


# --- judge prompts: the shipped default, shipped variants, a user's folder ------------------------

JUDGE_TASK = "judge_preference"
#: The variables a judge prompt is rendered with; a judge prompt must use every one of them.
JUDGE_VARIABLES = {
    "attributes": "the user's attributes (a list of strings)",
    "prompt": "the user's request",
    "response_a": "the answer shown first",
    "response_b": "the answer shown second",
}
DEFAULT = "default"


@dataclass(frozen=True)
class Prompt:
    """One judge prompt: ``name`` (``default``, a shipped variant, or the folder as given), the system
    and user template sources, and ``source`` (``shipped`` or the folder's absolute path)."""

    name: str
    system: str
    user: str
    source: str = "shipped"

    @cached_property  # read for every judgment row (its label): hashed once per prompt
    def sha256(self) -> str:
        h = hashlib.sha256()
        for part in (self.system, self.user):
            h.update(part.encode())
        return h.hexdigest()

    @property
    def label(self) -> str:
        """``name@sha[:8]``: how judgments.csv and the audit card name it."""
        return f"{self.name}@{self.sha256[:8]}"

    def to_dict(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "source": self.source}

    @property
    def description(self) -> str:
        """The leading ``{# ... #}`` comment of the system template, if any."""
        m = re.match(r"\s*\{#\s*(.*?)\s*#\}", self.system, re.S)
        return " ".join(m.group(1).split()) if m else ""

    @property
    def asks_confidence(self) -> bool:
        """The prompt asks the judge for its confidence: a template declares ``{# output: confidence #}``.
        Its answers are then validated against :class:`~audit.engine.schemas.ConfidentVerdict`."""
        return any(_CONFIDENCE_MARK.search(t) for t in (self.system, self.user))

    @property
    def response_model(self):
        """The structured output this prompt asks for (part of every cache key)."""
        from audit.engine.schemas import ConfidentVerdict, Verdict

        return ConfidentVerdict if self.asks_confidence else Verdict

    def render(self, **variables) -> list[dict[str, str]]:
        """The chat messages. Every value is fenced as untrusted text first (user templates need not
        remember ``| fence``; fencing is idempotent, so the shipped templates' filter is harmless)."""
        safe = {k: ([fence(x) for x in v] if isinstance(v, (list, tuple)) else fence(v)) for k, v in variables.items()}
        return [{"role": "system", "content": _compiled(self.system).render(**safe).strip()},
                {"role": "user", "content": _compiled(self.user).render(**safe).strip()}]


@lru_cache(maxsize=64)
def _compiled(source: str) -> jinja2.Template:
    return _env().from_string(source)


def task_variant(task: str, ref: str | None) -> str:
    """The prompt task to render for a judge of ``task`` whose prompt reference is ``ref``: the task itself
    for None / ``default``, ``task@ref`` for a shipped variant of it; ConfigError (exit 2) otherwise."""
    if ref in (None, "", DEFAULT):
        return task
    if ref in shipped_variants(task):
        return f"{task}@{ref}"
    raise ConfigError(f"prompt {ref!r} is not a variant of the {task} prompt (shipped: "
                      f"{', '.join(shipped_variants(task)) or 'none'})")


def any_task_variants() -> list[str]:
    """Names of the shipped variants of every judge task (``prompts/<task>@<variant>.system.j2``)."""
    root = asset_dir("prompts")
    return sorted({f.name.split("@", 1)[1][:-len(".system.j2")] for f in root.iterdir()
                   if "@" in f.name and f.name.endswith(".system.j2")})


def shipped_variants(task: str = JUDGE_TASK) -> list[str]:
    """Names of the shipped variants of ``task`` (``prompts/<task>@<variant>.system.j2``)."""
    root = asset_dir("prompts")
    names = sorted(f.name for f in root.iterdir() if f.name.startswith(f"{task}@") and f.name.endswith(".system.j2"))
    return [n[len(task) + 1:-len(".system.j2")] for n in names]


def _checked(name: str, sources: dict[str, str], where: dict[str, str]) -> None:
    """Unknown or missing variables: one line naming the file and the variable (exit 2)."""
    used: set[str] = set()
    for part, text in sources.items():
        try:
            found = jinja2.meta.find_undeclared_variables(_env().parse(text))
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"{where[part]} line {exc.lineno}: invalid template: {exc.message}") from None
        unknown = sorted(found - set(JUDGE_VARIABLES))
        if unknown:
            raise ConfigError(f"{where[part]}: unknown variable {unknown[0]!r} (a judge prompt has: "
                              f"{', '.join(JUDGE_VARIABLES)})")
        used |= found
    missing = [v for v in JUDGE_VARIABLES if v not in used]
    if missing:
        raise ConfigError(f"{where['user']}: prompt {name!r} never uses the variable {missing[0]!r} "
                          f"({JUDGE_VARIABLES[missing[0]]}); a judge prompt must show {', '.join(JUDGE_VARIABLES)}")


@lru_cache(maxsize=None)
def judge_prompt(ref: str | None = None) -> Prompt:
    """The judge prompt named by ``ref``: None or ``default`` (the shipped neutral prompt), a shipped
    variant (:func:`shipped_variants`, e.g. ``debiased``: the variant's system template, the default
    user template unless it ships its own), or a folder with ``system.j2`` and ``user.j2`` (an absolute
    path; :func:`resolve_prompt_ref` makes one). ConfigError (exit 2) for anything else or a template
    that uses an unknown variable or misses a required one."""
    if ref in (None, "", DEFAULT):
        return Prompt(DEFAULT, template_source(f"{JUDGE_TASK}.system.j2"), template_source(f"{JUDGE_TASK}.user.j2"))
    if ref in shipped_variants():
        root = asset_dir("prompts")
        user_name = f"{JUDGE_TASK}@{ref}.user.j2"
        user = template_source(user_name) if root.joinpath(user_name).is_file() else template_source(f"{JUDGE_TASK}.user.j2")
        return Prompt(ref, template_source(f"{JUDGE_TASK}@{ref}.system.j2"), user)
    folder = Path(ref)
    if not folder.is_dir():
        raise ConfigError(f"unknown prompt {ref!r}: not a shipped variant ({', '.join(shipped_variants()) or 'none'}) "
                          "and not a folder with system.j2 and user.j2")
    sources, where = {}, {}
    for part in ("system", "user"):
        path = folder / f"{part}.j2"
        where[part] = str(path)
        try:
            sources[part] = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: missing (a prompt folder holds system.j2 and user.j2)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
    _checked(ref, sources, where)
    return Prompt(ref, sources["system"], sources["user"], str(folder.resolve()))


def resolve_prompt_ref(ref: str, base: Path | None = None) -> str:
    """A prompt reference as given on the command line or in a config file: a shipped name stays a
    name; anything else is a folder, made absolute (relative to ``base``, the config file's folder, or
    the current folder) and checked now, before any call."""
    if ref in (DEFAULT, *any_task_variants()):
        return ref  # a shipped variant of some judge task; the audit checks that it applies to its task
    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    resolved = str(path.resolve())
    if not Path(resolved).is_dir():
        raise ConfigError(f"unknown prompt {ref!r}: not a shipped variant ({', '.join(any_task_variants()) or 'none'}) "
                          f"and not a folder ({resolved}) with system.j2 and user.j2")
    judge_prompt(resolved)  # validates (exit 2 with file and variable)
    return resolved
