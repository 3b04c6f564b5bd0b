"""report.html in a real browser: Debian's headless Chromium driven by Playwright.

The report of the hostile dataset (tests/browser/hostile.py: the bundled illustrative items plus
one item and one imported judge whose strings try to break out of the page, and a planted judge
called over loopback HTTP in both orders with a hostile rationale) must load with no console
error and no network request, show every figure, keep every payload as text, filter and sort by
real clicks, and fold long answers. Screenshots go to test-artifacts/ (git-ignored).

Needs `pip install playwright` (never `playwright install`: the system chromium is used) and
`apt-get install -y chromium`; skipped with the reason otherwise -- except in CI (CI=true), where a
missing browser fails every test here. Marked slow (a browser starts per test).
"""

import json
import os

import pytest

from browser.chromium import ARTIFACTS, browser_page, external_requests, missing
from browser.hostile import ATTRIBUTE, GENERIC, HOSTILE_ID, HOSTILE_JUDGE, PROMPT, run_with_called_judge, write_hostile

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _browser():
    """Skip without a browser -- but in CI (CI=true) a missing browser is a failure."""
    why = missing()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests, but: {why}", pytrace=False)
        pytest.skip(f"browser tests: {why}")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    data = write_hostile(tmp / "hostile.jsonl")
    out = tmp / "out"
    result = run_with_called_judge(data, out, tmp / "cache")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def expected(report):
    """Per item, in dataset order: id, mention, mean human rating, each judge's item rating."""
    results = json.loads((report / "results.json").read_text())
    judges = list(results["judges"])
    lines = (report / "items.jsonl").read_text(encoding="utf-8").split("\n")[1:]
    rows = [json.loads(line) for line in lines if line.strip()]
    ratings: dict[tuple[str, str], list[float]] = {}
    import csv

    with (report / "judgments.csv").open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["status"] in ("ok", "imported") and r["rating"]:
                ratings.setdefault((r["item_id"], r["judge"]), []).append(float(r["rating"]))
    items = []
    for row in rows:
        it = row["item"]
        h = [x["rating"] for x in it["human_ratings"]]
        items.append({"id": it["id"], "mention": row["mention_flag"]["flagged"], "h": sum(h) / len(h) if h else None,
                      "j": {j: sum(v) / len(v) for j in judges if (v := ratings.get((it["id"], j)))}})
    return judges, items


@pytest.fixture
def page(report):
    with browser_page() as (page, log):
        url = (report / "report.html").resolve().as_uri()
        page.goto(url, wait_until="load")
        page.wait_for_function("document.getElementById('controls') && !document.getElementById('controls').hidden")
        yield page, log, url


def visible_ids(page) -> list[str]:
    return page.eval_on_selector_all("#items-list > details.item:not([hidden]) .iid", "els => els.map(e => e.title)")


def test_loads_clean_offline_with_every_figure(page, report):
    page, log, url = page
    assert log.errors == [] and log.console == [], (log.errors, log.console)
    assert external_requests(log, url) == []
    images = page.eval_on_selector_all("figure img", "els => els.map(i => [i.complete, i.naturalWidth, i.alt])")
    assert len(images) == 7
    assert all(done and width > 0 for done, width, _ in images), images
    assert page.locator(".nofig").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"))
    page.screenshot(path=str(ARTIFACTS / "report-full.png"), full_page=True)
    page.locator("#figures").screenshot(path=str(ARTIFACTS / "report-figures.png"))


def test_hostile_item_shows_as_text_and_nothing_runs(page, expected):
    page, log, url = page
    _, items = expected
    n = next(i for i, it in enumerate(items) if it["id"] == HOSTILE_ID)
    item = page.locator(f"#item-{n}")
    item.locator("summary").click()
    body = item.locator(".body")
    assert body.is_visible()
    text = body.inner_text()
    for payload in (PROMPT, GENERIC, ATTRIBUTE, HOSTILE_JUDGE, HOSTILE_ID):
        assert payload in text, payload
    assert "</td></tr></table><script>window.__pwned=9</script>{{ 7*7 }}" in text  # the called judge's rationale
    assert page.evaluate("typeof window.__pwned") == "undefined"
    # nothing from the data became an element; only the page's own two scripts exist
    assert page.evaluate("document.querySelectorAll('[onerror],[onload],[onmouseover],textarea,u,svg').length") == 0
    assert page.evaluate("document.scripts.length") == 2
    assert page.evaluate("getComputedStyle(document.body).display") != "none"  # the injected <style> is text
    assert log.errors == [] and log.console == [] and external_requests(log, url) == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 1400})
    item.scroll_into_view_if_needed()
    item.screenshot(path=str(ARTIFACTS / "report-hostile-item.png"))


def test_filter_and_sort_by_clicks(page, expected):
    page, log, url = page
    judges, items = expected
    count = page.locator("#count")
    assert count.inner_text() == f"{len(items)} of {len(items)} items"

    page.click("#controls button[data-mention='1']")
    mention_ids = [it["id"] for it in items if it["mention"]]
    assert visible_ids(page) == mention_ids
    assert count.inner_text() == f"{len(mention_ids)} of {len(items)} items"

    judge = "lengthy"
    k = judges.index(judge)
    page.click(f"#controls button[data-judge='{k}']")
    assert page.get_attribute(f"#controls button[data-judge='{k}']", "aria-pressed") == "true"
    page.click("#controls button[data-sort='abs']")

    def gap(it):
        return abs(it["j"][judge] - it["h"]) if judge in it["j"] and it["h"] is not None else None

    shown = [it for it in items if it["mention"] and judge in it["j"]]
    # largest |judge - people| first; items without a gap last; ties in dataset order
    want = sorted(range(len(shown)), key=lambda i: (gap(shown[i]) is None, -(gap(shown[i]) or 0), i))
    assert visible_ids(page) == [shown[i]["id"] for i in want]
    first = page.locator("#items-list > details.item:not([hidden])").first
    assert first.locator(".dis").inner_text().startswith("Δ ")

    page.click("#controls button[data-sort='under']")  # most below people first
    signed = [(it["j"][judge] - it["h"]) if it["h"] is not None else None for it in shown]
    want = sorted(range(len(shown)), key=lambda i: (signed[i] is None, signed[i] if signed[i] is not None else 0, i))
    assert visible_ids(page) == [shown[i]["id"] for i in want]

    page.click("#controls button[data-mention='']")
    page.click("#controls button[data-judge='']")
    page.click("#controls button[data-sort='data']")
    assert visible_ids(page) == [it["id"] for it in items]
    assert log.errors == [] and log.console == []


def test_long_answers_fold_and_unfold(page, expected):
    page, _, _ = page
    _, items = expected
    n = next(i for i, it in enumerate(items) if it["id"] == HOSTILE_ID)
    item = page.locator(f"#item-{n}")
    item.locator("summary").click()
    answer = item.locator(".answer.clamp")
    assert answer.count() == 1
    folded = answer.evaluate("e => [e.clientHeight, e.scrollHeight]")
    assert folded[0] < folded[1]
    item.locator("label.fold-btn").first.click()
    unfolded = answer.evaluate("e => [e.clientHeight, e.scrollHeight]")
    assert unfolded[0] >= unfolded[1] > folded[0]


def test_csp_blocks_an_injected_inline_script(page):
    page, log, _ = page
    ran = page.evaluate("""() => { const s = document.createElement('script');
                                   s.textContent = 'window.__csp = 1'; document.body.appendChild(s);
                                   return typeof window.__csp; }""")
    assert ran == "undefined"
    assert any("Content Security Policy" in m for m in log.console), log.console


@pytest.fixture(scope="module")
def counterfactual_report(tmp_path_factory):
    """A run, then `judge-audit counterfactual` into the same folder, then `report --from` it."""
    from click.testing import CliRunner

    from audit.cli import cli
    from browser.hostile import fixture_rows

    tmp = tmp_path_factory.mktemp("cf")
    data = tmp / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in fixture_rows()[:12]), encoding="utf-8")
    out = tmp / "out"
    for command in ("run", "counterfactual"):
        result = run_with_called_judge(data, out, tmp / "cache", command=command)
        assert result.exit_code == 0, result.output
    assert "counterfactual" in json.loads((out / "results.json").read_text())
    result = CliRunner().invoke(cli, ["report", "--from", str(out)])
    assert result.exit_code == 0, result.output
    return out / "report.html"


def test_counterfactual_section_is_included_and_allowed_by_the_csp(counterfactual_report):
    with browser_page() as (page, log):
        url = counterfactual_report.resolve().as_uri()
        page.goto(url, wait_until="load")
        section = page.locator("section#counterfactual")
        assert section.is_visible()
        assert "Does the judge reward the mere naming" in section.inner_text()
        # its own <style> applied (allowed by hash): deleted text is struck through
        assert page.eval_on_selector(".cf-del", "e => getComputedStyle(e).textDecorationLine") == "line-through"
        assert log.errors == [] and log.console == [] and external_requests(log, url) == []
        ARTIFACTS.mkdir(exist_ok=True)
        section.screenshot(path=str(ARTIFACTS / "report-counterfactual.png"))
