"""The build-to-build diff as text, JSON or JUnit (`iot-harness diff OLD NEW --format ...`).

Not a bundle report (no `FORMAT`): it is fed a comparison of two verified bundles. The JUnit form
has one testcase per aspect (requirements, cases, ports, ...) with stable names, so a CI
dashboard tracks "ports" from build to build and a failure lists exactly what regressed there.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.record.compare import ASPECTS, BundleDiff, Change

FORMATS = ("text", "json", "junit")

_TITLES = {"run": "run", "requirement": "requirements", "case": "cases", "port": "open ports",
           "service": "services", "tls": "TLS offers", "ssh": "SSH offers",
           "finding": "policy violations (FAIL findings)"}


def _line(c: Change) -> str:
    mark = "REGRESSION" if c.regression else "change    "
    if c.change == "changed":
        what = f"{c.before} -> {c.after}"
    elif c.change == "added":
        what = f"+ {c.after}"
    else:
        what = f"- {c.before}"
    return f"  {mark}  {c.subject}: {what}" + (f"  ({c.detail})" if c.detail else "")


def text(diff: BundleDiff) -> str:
    o, n = diff.old, diff.new
    lines = [f"old: {o['bundle']}  {o['device']} firmware {o['firmware']}  digest {o['digest'][:16]}",
             f"new: {n['bundle']}  {n['device']} firmware {n['firmware']}  digest {n['digest'][:16]}"]
    lines += [f"note: {x}" for x in diff.notes]
    for aspect in ASPECTS:
        changes = [c for c in diff.changes if c.aspect == aspect]
        if changes:
            lines.append(f"{_TITLES[aspect]}:")
            lines += [_line(c) for c in sorted(changes, key=lambda c: not c.regression)]
    if not diff.changes:
        lines.append("no change")
    n_reg = len(diff.regressions)
    lines.append(f"{n_reg} regression{'s' if n_reg != 1 else ''}, {len(diff.changes) - n_reg} other changes"
                 + (" (exit 1)" if n_reg else ""))
    return "\n".join(lines) + "\n"


def json_doc(diff: BundleDiff) -> str:
    return diff.model_dump_json(indent=2) + "\n"


def junit(diff: BundleDiff) -> str:
    root = ET.Element("testsuites", name="iot-label-harness diff")
    suite = ET.SubElement(root, "testsuite", name=f"{diff.new['device']} {diff.old['firmware']} -> "
                          f"{diff.new['firmware']}", tests=str(len(ASPECTS)),
                          failures=str(len({c.aspect for c in diff.regressions})), errors="0", skipped="0")
    props = ET.SubElement(suite, "properties")
    for key in ("digest", "firmware", "bundle"):
        ET.SubElement(props, "property", name=f"old-{key}", value=diff.old[key])
        ET.SubElement(props, "property", name=f"new-{key}", value=diff.new[key])
    for aspect in ASPECTS:
        changes = [c for c in diff.changes if c.aspect == aspect]
        tc = ET.SubElement(suite, "testcase", classname="diff", name=_TITLES[aspect], time="0")
        regressed = [c for c in changes if c.regression]
        if regressed:
            ET.SubElement(tc, "failure", message=f"{len(regressed)} regressed", type="REGRESSION").text = \
                "\n".join(_line(c).strip() for c in regressed)
        if changes:
            ET.SubElement(tc, "system-out").text = "\n".join(_line(c).strip() for c in changes)
    if diff.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(diff.notes)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


RENDER = {"text": text, "json": json_doc, "junit": junit}
