"""JUnit XML for firmware CI: one testcase per case, one per requirement, and one per coverage
row (requirement x interface), so a CI dashboard shows what was not looked at as well.

JUnit knows pass, failure, error and skipped; INCONCLUSIVE, NOT_APPLICABLE, NOT_EVALUATED and
ADVISORY become skipped with the verdict named in the message, so nothing reads as a pass.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.record.reader import VerifiedBundle

FORMAT = "junit"


def _case(parent: ET.Element, classname: str, name: str, verdict: str, message: str, seconds: float) -> None:
    tc = ET.SubElement(parent, "testcase", classname=classname, name=name, time=f"{seconds:.3f}")
    if verdict == "FAIL":
        ET.SubElement(tc, "failure", message=message or "FAIL", type="FAIL").text = message
    elif verdict == "ERROR":
        ET.SubElement(tc, "error", message=message or "ERROR", type="ERROR").text = message
    elif verdict != "PASS":
        ET.SubElement(tc, "skipped", message=f"{verdict}: {message}".strip(": "))


def render(bundle: VerifiedBundle) -> str:
    results = bundle.results
    root = ET.Element("testsuites", name="iot-label-harness")
    cases = ET.SubElement(root, "testsuite", name=f"{results.device.model} cases", tests=str(len(results.cases)))
    for c in results.cases:
        _case(cases, c.check, c.id, c.verdict, c.reason, c.duration_s)
    for scheme in results.schemes:
        reqs = [r for r in results.requirements if r.scheme == scheme]
        suite = ET.SubElement(root, "testsuite", name=scheme, tests=str(len(reqs)))
        for r in reqs:
            _case(suite, scheme, f"{r.id} {r.title}", r.verdict, "; ".join(r.notes), 0)
    if results.coverage:
        suite = ET.SubElement(root, "testsuite", name="coverage", tests=str(len(results.coverage)))
        for row in results.coverage:
            why = row.reason or f"judged by {', '.join(row.cases)}"
            _case(suite, f"coverage.{row.requirement}", f"{row.requirement} {row.interface}"
                  + ("" if row.declared else " (undeclared)"), row.verdict, why, 0)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
