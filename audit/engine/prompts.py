"""Render the prompt templates in prompts/ (installed as the data package ``audit._prompts``)."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from audit.data.assets import asset_dir, read_asset

import jinja2

_TAG = re.compile(r"<(/?)\s*(response_a|response_b|user_request|user_profile|answer)\s*>", re.IGNORECASE)


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


def template_hash(task: str) -> str:
    """SHA-256 over a task's system and user templates (recorded in the audit card)."""
    h = hashlib.sha256()
    for part in ("system", "user"):
        h.update(template_source(f"{task}.{part}.j2").encode())
    return h.hexdigest()


def render_messages(task: str, **variables) -> list[dict[str, str]]:
    """The chat messages for ``task`` (``judge_preference``, ``flagger_mention``, ...)."""
    env = _env()
    return [
        {"role": "system", "content": env.get_template(f"{task}.system.j2").render(**variables).strip()},
        {"role": "user", "content": env.get_template(f"{task}.user.j2").render(**variables).strip()},
    ]
