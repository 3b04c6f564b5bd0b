"""Open a page in headless Debian Chromium with Playwright, recording console errors and requests.

Needs ``pip install playwright`` (the PyPI wheel carries its driver; never ``playwright install``)
and ``apt-get install chromium``. :func:`missing` says which is absent, for ``pytest.skip``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium_path() -> str | None:
    env = os.environ.get("JUDGE_AUDIT_CHROMIUM")
    for cand in ([env] if env else []) + list(CHROMIUM_CANDIDATES):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    found = shutil.which("chromium")
    return found


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install '.[test]', or pip install playwright; never 'playwright install')"
    if chromium_path() is None:
        return "chromium is not installed (apt-get install -y chromium)"
    return None


@dataclass
class PageLog:
    console: list[str] = field(default_factory=list)  # console messages of type error / warning
    errors: list[str] = field(default_factory=list)  # uncaught page errors
    requests: list[str] = field(default_factory=list)  # every request URL the page made


@contextmanager
def browser_page(width: int = 1366, height: int = 900, *, offline: bool = True):
    """(page, log): a fresh Chromium profile; the log records console errors, page errors, requests.
    ``offline=False`` for pages served on 127.0.0.1 (the annotation app)."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="judge-audit-chromium-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=chromium_path(), headless=True, args=ARGS,
                viewport={"width": width, "height": height}, offline=offline)
            try:
                page = ctx.new_page()
                log = PageLog()
                page.on("console", lambda m: log.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
                page.on("pageerror", lambda e: log.errors.append(str(e)))
                page.on("request", lambda r: log.requests.append(r.url))
                yield page, log
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def external_requests(log: PageLog, page_url: str) -> list[str]:
    """Requests other than the page itself and data: URLs (which never leave the page)."""
    return [u for u in log.requests if u != page_url and not u.startswith("data:")]
