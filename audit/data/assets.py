"""Where the non-code parts live: prompts/, reports/ and fixtures/.

Installed, they are the data packages ``audit._prompts``, ``audit._reports`` and ``audit._fixtures``
(see setup.cfg); run from a plain checkout without installing, the top-level folders are used.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def asset_dir(name: str):
    """A Traversable for ``prompts``, ``reports`` or ``fixtures``."""
    try:
        return resources.files(f"audit._{name}")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / name


def read_asset(name: str, filename: str) -> str:
    return asset_dir(name).joinpath(filename).read_text(encoding="utf-8")
