"""JUnit XML for ``judge-audit check --junit FILE``: one ``<testcase>`` per gate check, a failed
check as ``<failure message=... type=...>``, read by GitHub Actions test reporters, GitLab and
Jenkins. The layout follows the widely used Ant/Jenkins schema (junit-10.xsd of the Jenkins
xUnit plugin): ``<testsuites>`` > ``<testsuite name tests failures errors skipped time>`` >
``<properties>``, ``<testcase name classname time>`` > ``<failure>`` / ``<system-out>``.

Pure except :func:`write_junit`; the XML is built with :mod:`xml.etree.ElementTree` (escaping),
and characters XML 1.0 forbids are dropped from text taken from the user's data.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from audit.text.fmt import num

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: object) -> str:
    return _XML_INVALID.sub("", "" if text is None else str(text))


def _fmt(x) -> str:
    return num(x, 4, signed=True)


def _case_text(c: dict) -> str:
    if c.get("name") == "min_items":
        lines = [f"metric: {c.get('metric')}", f"count: {c.get('n')}  limit: >= {int(c.get('limit') or 0)}"]
    else:
        ci = "none" if not c.get("ci") else f"[{_fmt(c['ci'][0])}, {_fmt(c['ci'][1])}]"
        lines = [
            f"metric: {c.get('metric')}",
            f"estimate: {_fmt(c.get('estimate'))}  95% CI: {ci}  n: {c.get('n')}",
            f"limit: {c.get('tested')} {c.get('comparison')} {c.get('limit')}  tested value: {_fmt(c.get('bound'))}",
        ]
    if c.get("p_value") is not None:
        lines.append(f"p-value: {c['p_value']:.4g}")
    lines += [f"result: {c.get('status')}: {c.get('detail')}", f"method: {c.get('method')}"]
    if c.get("source"):
        lines.append(f"limit from: {c['source']}")
    return "\n".join(lines)


def junit_xml(report: dict, *, time_s: float = 0.0) -> str:
    """The JUnit XML text of a check report dict (:meth:`audit.gate.policy.GateReport.to_dict`)."""
    checks = report.get("checks", [])
    failures = sum(1 for c in checks if not c.get("passed"))
    judge = _clean(report.get("judge"))
    t = f"{max(0.0, time_s):.3f}"
    root = ET.Element("testsuites", {"name": "judge-audit check", "tests": str(len(checks)),
                                     "failures": str(failures), "errors": "0", "time": t})
    suite = ET.SubElement(root, "testsuite", {
        "name": f"judge-audit check: {judge}", "tests": str(len(checks)), "failures": str(failures),
        "errors": "0", "skipped": "0", "time": t})
    props = ET.SubElement(suite, "properties")
    for key in ("judge", "baseline", "data", "status", "summary"):
        if report.get(key) is not None:
            ET.SubElement(props, "property", {"name": key, "value": _clean(report[key])})
    for key, value in (report.get("policy") or {}).get("thresholds", {}).items():
        ET.SubElement(props, "property", {"name": f"policy.{key}", "value": str(value)})
    for c in checks:
        case = ET.SubElement(suite, "testcase", {"name": _clean(c.get("name")), "classname": f"judge-audit.{judge}",
                                                 "time": "0"})
        text = _clean(_case_text(c))
        if not c.get("passed"):
            fail = ET.SubElement(case, "failure", {"message": _clean(f"{c.get('name')}: {c.get('detail')}"),
                                                   "type": "GateFailed"})
            fail.text = text
        else:
            ET.SubElement(case, "system-out").text = text
    if report.get("notes"):
        ET.SubElement(suite, "system-out").text = _clean("\n".join(report["notes"]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: str | Path, report: dict, *, time_s: float = 0.0) -> Path:
    """Write :func:`junit_xml` to ``path`` atomically (creating its folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(junit_xml(report, time_s=time_s), encoding="utf-8")
    os.replace(tmp, path)
    return path
