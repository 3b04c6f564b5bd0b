"""report.html without a browser: escaping of hostile data, the CSP, the view model, the figures,
graceful degradation when results.json lacks what other stages add, and determinism.

The browser checks (no script runs, filter/sort by clicks, figures decode) are in
test_report_browser.py.
"""

import base64
import copy
import hashlib
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from audit.render import figures as F
from audit.render import svg as S
from audit.stats.bootstrap import ClusterBootstrap
from audit.cli import cli
from audit.data.items import MentionFlag
from audit.data.judgments import Judgment
from audit.audits.saved import read_run
from audit.render.report import fmt_estimate, render_html, report_context, verdict_rows
from audit.render.items import highlight, item_views, json_for_script
from browser.hostile import (ANNOTATOR, ATTRIBUTE, GENERIC, GENERATOR, HOSTILE_ID, HOSTILE_JUDGE,
                             PROMPT, write_hostile)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """An audit of the hostile dataset (imported judges only: no model, no server)."""
    tmp = tmp_path_factory.mktemp("report")
    data = write_hostile(tmp / "hostile.jsonl")
    out = tmp / "out"
    result = CliRunner().invoke(cli, ["run", "--data", str(data), "--out", str(out), "--cache-dir", str(tmp / "c")])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def run(run_dir):
    return read_run(run_dir)


@pytest.fixture(scope="module")
def html(run_dir):
    return (run_dir / "report.html").read_text(encoding="utf-8")


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each <script> / <style> element."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.raw, self._in = [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in = tag
            self.raw.append([tag, dict(attrs), ""])

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in:
            self.raw[-1][2] += data


def parse(html: str) -> Tags:
    p = Tags()
    p.feed(html)
    return p


# --- safety -------------------------------------------------------------------------------------

def test_hostile_strings_appear_only_escaped(html):
    tags = parse(html)
    # exactly the page's own two script elements: the JSON data block and the page script
    scripts = [(attrs.get("type"), attrs.get("id")) for tag, attrs in tags.tags if tag == "script"]
    assert scripts == [("application/json", "ja-data"), (None, None)]
    # no element from the data: no event handler attributes, no img other than data: figures, no svg/textarea/u/b-onmouseover
    for tag, attrs in tags.tags:
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)
        if tag == "img":
            assert attrs["src"].startswith("data:image/svg+xml;base64,")
    assert not any(tag in ("svg", "textarea", "u", "iframe") for tag, _ in tags.tags)
    # every payload is in the page as escaped text
    for payload in (PROMPT, ATTRIBUTE, GENERIC, GENERATOR, ANNOTATOR, HOSTILE_JUDGE, HOSTILE_ID):
        escaped = (payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                   .replace('"', "&#34;").replace("'", "&#39;"))
        assert escaped in html, payload
    assert "{% if true %}jinja{% endif %}" in html  # template syntax in the data stays literal text


def test_template_syntax_in_data_is_not_evaluated(html):
    # a prompt of "{{ 7*7 }}" must not turn into "49"
    i = html.index("{{ 7*7 }}")
    assert html[i - 80:i].endswith("&lt;/script&gt;")


def test_json_block_cannot_be_closed_by_data():
    nasty = {"s": "</script><script>alert(1)</script><!-- & \u2028 \u2029 >"}
    text = json_for_script(nasty)
    assert not set(text) & set("<>&\u2028\u2029")
    assert json.loads(text) == nasty


def test_json_block_holds_the_payload_safely(html, run):
    tags = parse(html)
    data = next(raw for tag, attrs, raw in tags.raw if attrs.get("id") == "ja-data")
    assert "<" not in data and ">" not in data and "&" not in data
    parsed = json.loads(data)
    assert parsed["judges"] == list(run.results["judges"])  # includes the hostile judge name, intact
    assert len(parsed["items"]) == len(run.dataset.items)


def test_csp_allows_exactly_the_page_style_and_script(html):
    tags = parse(html)
    csp = next(attrs["content"] for tag, attrs in tags.tags
               if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["img-src"] == "data:"
    style = next(raw for tag, attrs, raw in tags.raw if tag == "style")
    script = next(raw for tag, attrs, raw in tags.raw if tag == "script" and not attrs)

    def sha(text):
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert directives["style-src"] == sha(style)
    assert directives["script-src"] == sha(script)
    assert "unsafe" not in csp
    assert " style=" not in html  # no style attributes (the CSP would block them)


def test_figures_are_svg_documents_without_scripts(run):
    ctx = report_context(run.results, run.judgments, run.dataset, run.flags)
    drawn = [f for f in ctx["figures"] if f["src"]]
    assert {f["key"] for f in drawn} == {"inflation", "mention", "agreement", "generators", "habit", "kappa",
                                         "distributions"}
    for f in drawn:
        svg = base64.b64decode(f["src"].split(",", 1)[1]).decode()
        root = ET.fromstring(svg)  # well-formed XML
        assert root.tag.endswith("svg")
        for el in root.iter():
            assert not el.tag.endswith(("script", "foreignObject")), el.tag
            assert not any(a.lower().startswith("on") for a in el.attrib), el.attrib


def test_mathtext_is_off_for_judge_names():
    # a judge named with $...$ is drawn as typed (mathtext would fail on some names or restyle them)
    colors = S.judge_colors(["$\\frac{$", "b"])
    res = {"judges": {n: {"inflation": {"estimate": 0.1, "ci": [0.0, 0.2]}} for n in colors}}
    assert F.inflation_figure(res, colors).svg


# --- the view model ---------------------------------------------------------------------------------

def test_highlight_clips_overlapping_and_out_of_range_spans():
    text = "As a vegetarian, as a runner."
    # spans sorted: [0,15) "As a vegetarian"; [5,20) overlaps, clipped to [15,20) ", as ";
    # [17,28) clipped to [20,28) "a runner"; [40,50) lies past the end (len 29): dropped
    flag = MentionFlag(True, ((0, 15), (5, 20), (40, 50), (17, 28)), "offline")
    pieces = highlight(text, flag)
    assert "".join(p for p, _ in pieces) == text
    assert [p for p, hit in pieces if hit] == ["As a vegetarian", ", as ", "a runner"]
    assert highlight(text, MentionFlag(False, (), "offline")) == [(text, False)]


def test_item_views_disagreement_by_hand():
    from audit.data.items import Dataset, Item

    item = Item.model_validate({"id": "i1", "prompt": "p", "attributes": ["a"], "generic": "g", "personalized": "p",
                                "generator": "g1", "human_ratings": [{"annotator": "A", "rating": 2},
                                                                     {"annotator": "B", "rating": 3}]})
    js = [Judgment("i1", "J", "m", "generic_first", 0, 5.0, 5, "r", "ok"),
          Judgment("i1", "J", "m", "personalized_first", 0, 4.0, 2, "r", "ok"),
          Judgment("i1", "K", "m", "generic_first", 0, None, None, None, "failed", error="boom")]
    items, data = item_views(Dataset("d", "0", (item,)), js, {"i1": MentionFlag(True, (), "user")}, ["J", "K"])
    # J's item rating = mean(5, 4) = 4.5; people = mean(2, 3) = 2.5; J - people = 2.0; K failed: no rating
    assert data == [{"m": 1, "h": 2.5, "d": [2.0, None], "r": [1, 0]}]
    assert items[0].max_diff == 2.0
    assert [j.error for j in items[0].judgments] == [False, False, True]


def test_fmt_estimate_prefers_holm_and_handles_missing_and_nan():
    e = fmt_estimate({"estimate": -0.25, "ci": [-0.5, 0.0], "p_value": 0.01, "p_value_holm": 0.03, "n": 10,
                      "method": "m", "holm_family": "x across 3 judges"})
    assert e["text"] == "\u22120.25" and e["ci"] == "[\u22120.50, +0.00]" and e["p"] == "p = 0.030 (Holm)"
    assert "Unadjusted p = 0.01" in e["title"]
    assert fmt_estimate({"estimate": 0.5, "ci": [float("nan"), float("nan")]}, signed=False)["ci"] == "no CI"
    assert fmt_estimate({"estimate": float("nan")})["text"] is None
    assert fmt_estimate({"estimate": None, "reason": "too few items"})["missing"] == "too few items"
    assert fmt_estimate(None, missing="not measured")["missing"] == "not measured"
    pct = fmt_estimate({"estimate": 0.125, "ci": [0.05, 0.2]}, pct=True)
    assert (pct["text"], pct["ci"]) == ("12.5%", "[5%, 20%]")


def test_findings_follow_the_cis(run):
    rows = {r["name"]: r for r in verdict_rows(run.results)}
    for name, j in run.results["judges"].items():
        lo, hi = j["inflation"]["ci"]
        texts = [f["text"] for f in rows[name]["findings"]]
        assert ("inflates" in texts) == (lo > 0)
        assert ("deflates" in texts) == (hi < 0)
        ex = j["excess_mention_uplift"]["ci"]
        assert ("rewards mentions" in texts) == (ex[0] > 0)


def test_generator_means_match_the_runs_cluster_bootstrap():
    # audit.stats.measure.group_means (results.json: generators.G.mean_rating) against an explicit loop
    # over the resamples of the same ClusterBootstrap
    from audit.stats import measure

    rng = np.random.default_rng(3)
    n = 60
    df = pd.DataFrame({"generator": rng.choice(["g1", "g2"], n), "rating": rng.integers(1, 6, n).astype(float),
                       "cluster": [f"u{i % 20}" for i in range(n)]})
    boot = ClusterBootstrap(df["cluster"], n_reps=500, seed=7)
    means = measure.group_means(df["rating"], df["generator"], clusters=df["cluster"], boot=boot)
    codes = boot.codes(df["cluster"])
    for g in ("g1", "g2"):
        sub = df[df["generator"] == g]
        reps = [df["rating"].to_numpy()[idx][(df["generator"].to_numpy()[idx] == g)].mean()
                for idx in boot.index_resamples(codes)]
        lo, hi = np.percentile(reps, [2.5, 97.5])
        assert means[g].estimate == pytest.approx(sub["rating"].mean())
        assert (means[g].ci_low, means[g].ci_high) == pytest.approx((lo, hi))
        assert means[g].n == len(sub)


def test_generator_means_constant_group_has_a_point_interval():
    from audit.stats import measure

    est = measure.group_means([3.0] * 4, ["g"] * 4, clusters=list("abcd"))["g"]
    assert (est.estimate, est.ci_low, est.ci_high) == (3.0, 3.0, 3.0)


def test_generator_figure_reads_results_and_says_when_they_are_missing(run):
    colors = S.judge_colors(list(run.results["judges"]))
    table = F.generator_means(run.results, colors)
    with_ci = [(g, e["mean_rating"]["humans"]) for g, e in run.results["generators"].items() if e["mean_rating"]["humans"]["ci"]]
    assert with_ci
    for g, humans in with_ci:
        row = table[(table["generator"] == g) & (table["rater"] == S.human_label(colors))].iloc[0]
        assert row["mean"] == humans["estimate"] and (row["lo"], row["hi"]) == tuple(humans["ci"])
    old = {**run.results, "generators": {k: {kk: vv for kk, vv in v.items() if kk != "mean_rating"}
                                         for k, v in run.results["generators"].items()}}
    assert "older version" in F.generator_figure(old, colors).reason


# --- graceful degradation -----------------------------------------------------------------------------

OPTIONAL_JUDGE_KEYS = ("agreement", "position", "self_consistency", "cost", "raw_answers", "excess_mention_uplift",
                       "mention_slope", "habit", "rating_distribution", "warnings")


def test_renders_without_any_optional_key(run):
    res = copy.deepcopy(run.results)
    for j in res["judges"].values():
        for k in OPTIONAL_JUDGE_KEYS:
            j.pop(k, None)
    for k in ("ceiling", "krippendorff_alpha", "icc"):
        res["humans"].pop(k)
    for k in ("agreement", "habit_bias", "bootstrap", "generators"):
        res.pop(k)
    html = render_html(res, run.judgments, run.dataset, run.flags)
    verdict = html[html.index('<section id="verdict">'):html.index('<section id="figures">')]
    assert "run with --both-orders" not in verdict  # imported judges: no calls to repeat
    assert "imported ratings: no calls" in verdict
    assert "Not drawn: agreement not measured" in html
    # inflation, mention, distributions; the generator figure draws results.json's generators.G.mean_rating,
    # removed here, and says so
    assert html.count("<img ") == 3 and "made by an older version" in html


def test_called_judge_without_position_says_how_to_measure_it(run):
    res = copy.deepcopy(run.results)
    name = next(iter(res["judges"]))
    res["judges"][name].update(source="called", position=None, self_consistency=None, cost=None)
    html = render_html(res, run.judgments, run.dataset, run.flags)
    verdict = html[html.index('<section id="verdict">'):html.index('<section id="figures">')]
    engine = html[html.index('<section id="engine">'):html.index('<section id="items">')]
    assert "run with --both-orders" in verdict
    assert "run with --samples K --temperature T" in engine


def test_render_is_deterministic(run, html):
    again = render_html(run.results, run.judgments, run.dataset, run.flags)
    assert again == render_html(run.results, run.judgments, run.dataset, run.flags)
    assert again == html  # the run's own report.html, re-rendered from its files


def test_many_judges_get_distinct_colours():
    names = [f"j{i}" for i in range(11)]
    colors = S.judge_colors(names)
    assert len(set(colors.values())) == 11 and S.HUMAN_COLOR not in colors.values()
    assert S.human_label(["people", "people (annotators)"]) == "people (annotators) (annotators)"
