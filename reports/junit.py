"""JUnit XML for firmware CI: one testcase per case, one per requirement, and one per coverage
row (requirement x interface), so a CI dashboard shows what was not looked at as well. Every
testcase carries its verdict and requirement IDs as properties (and a case its evidence files with
their signed hashes), so a CI job can filter and trace without reading the bundle.

JUnit knows pass, failure, error and skipped; INCONCLUSIVE, NOT_APPLICABLE, NOT_EVALUATED and
ADVISORY become skipped with the verdict named in the message, so nothing reads as a pass.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.record.reader import VerifiedBundle

FORMAT = "junit"


def _case(parent: ET.Element, classname: str, name: str, verdict: str, message: str, seconds: float,
          properties: list[tuple[str, str]], output: str = "") -> None:
    tc = ET.SubElement(parent, "testcase", classname=classname, name=name, time=f"{seconds:.3f}")
    props = ET.SubElement(tc, "properties")
    for key, value in [("verdict", verdict), *(p for p in properties if p[1])]:
        ET.SubElement(props, "property", name=key, value=value)
    if verdict == "FAIL":
        ET.SubElement(tc, "failure", message=message or "FAIL", type="FAIL").text = message
    elif verdict == "ERROR":
        ET.SubElement(tc, "error", message=message or "ERROR", type="ERROR").text = message
    elif verdict != "PASS":
        ET.SubElement(tc, "skipped", message=f"{verdict}: {message}".strip(": "))
    if output:
        ET.SubElement(tc, "system-out").text = output


def _suite(root: ET.Element, name: str, verdicts: list[str]) -> ET.Element:
    return ET.SubElement(root, "testsuite", name=name, tests=str(len(verdicts)),
                         failures=str(verdicts.count("FAIL")), errors=str(verdicts.count("ERROR")),
                         skipped=str(sum(v not in ("PASS", "FAIL", "ERROR") for v in verdicts)))


def render(bundle: VerifiedBundle) -> str:
    results, hashes = bundle.results, bundle.hashes()
    root = ET.Element("testsuites", name="iot-label-harness")
    cases = _suite(root, f"{results.device.model} cases", [c.verdict for c in results.cases])
    cases.set("timestamp", bundle.manifest.started)
    props = ET.SubElement(cases, "properties")
    for key, value in (("bundle-digest", bundle.digest), ("firmware", results.device.firmware_version)):
        ET.SubElement(props, "property", name=key, value=value)
    for c in results.cases:
        found = "\n".join(f"{f.verdict} {f.target} [{f.rule}] {f.reason}" for f in c.findings)
        _case(cases, c.check, c.id, c.verdict, c.reason, c.duration_s,
              [*(("requirement", r) for r in c.requirements), ("unit", c.unit or ""), ("service", c.service or ""),
               ("probe_class", c.probe_class),
               *(("evidence", f"{p} sha256:{hashes.get(p, 'not signed')}") for p in c.evidence)], found)
    for scheme in results.schemes:
        reqs = [r for r in results.requirements if r.scheme == scheme]
        suite = _suite(root, scheme, [r.verdict for r in reqs])
        for r in reqs:
            _case(suite, scheme, f"{r.id} {r.title}", r.verdict, "; ".join(r.notes), 0,
                  [("requirement", r.id), ("scheme", scheme), ("method", r.method),
                   *(("evaluated_by", m) for m in r.evaluated_by), *(("case", c) for c in r.cases)])
    if results.coverage:
        suite = _suite(root, "coverage", [row.verdict for row in results.coverage])
        for row in results.coverage:
            why = row.reason or f"judged by {', '.join(row.cases)}"
            _case(suite, f"coverage.{row.requirement}", f"{row.requirement} {row.interface}"
                  + ("" if row.declared else " (undeclared)"), row.verdict, why, 0,
                  [("requirement", row.requirement), ("interface", row.interface), *(("case", c) for c in row.cases)])
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
