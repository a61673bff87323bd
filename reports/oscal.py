"""OSCAL assessment results (JSON) for NIST's ecosystem, built with compliance-trestle's models so the
document is valid by construction: the units as inventory items (the subject), one observation per
case with its evidence files and their signed hashes as relevant evidence, one finding per
requirement with its objective status.

OSCAL's objective status has only satisfied / not-satisfied. Anything the harness could not
settle (INCONCLUSIVE, ERROR, NOT_EVALUATED) is written not-satisfied with reason "other" and the
true verdict as a property, so a reader that looks only at the state never sees a pass that was
not observed. NOT_APPLICABLE and ADVISORY are satisfied with reason "other" and say so.

Identifiers are UUIDv5 derived from the bundle's statement digest: the same bundle always gives
the same document, and two bundles never share one.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from trestle.oscal import OSCAL_VERSION
from trestle.oscal import assessment_results as ar
from trestle.oscal import common as oc

from harness.record.reader import VerifiedBundle
from harness.record.results import CaseResult, RequirementResult
from harness.record.verdict import ACCEPTABLE, Verdict

FORMAT = "oscal"

NS = "urn:iot-label-harness"  # our properties' namespace, so they never collide with NIST's own names
_TOKEN = re.compile(r"^[_A-Za-z][_A-Za-z0-9.\-]*$")


def _token(text: str) -> str:
    """OSCAL ids and property names are tokens (a letter first); a catalog id such as EN 303 645's
    '5.1-1' is prefixed, never altered otherwise, so it still reads as itself."""
    t = re.sub(r"[^_A-Za-z0-9.\-]", "_", text)
    return t if _TOKEN.match(t) else f"id-{t}"


def _prop(name: str, value: str, remarks: str | None = None) -> oc.Property:
    return oc.Property(name=_token(name), value=value or "-", ns=NS, remarks=remarks)


def _time(text: str | None, fallback: str) -> datetime:
    return datetime.fromisoformat(text or fallback)


def _status(verdict: Verdict) -> oc.ObjectiveStatus:
    if verdict is Verdict.PASS:
        return oc.ObjectiveStatus(state="satisfied", reason="pass")
    if verdict is Verdict.FAIL:
        return oc.ObjectiveStatus(state="not-satisfied", reason="fail")
    state = "satisfied" if verdict in ACCEPTABLE else "not-satisfied"
    return oc.ObjectiveStatus(state=state, reason="other", remarks=f"harness verdict {verdict.value}")


class _Ids:
    def __init__(self, digest: str) -> None:
        self.space = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:iot-label-harness:bundle:{digest}")

    def __call__(self, *parts: str) -> str:
        return str(uuid.uuid5(self.space, "/".join(parts)))


def _observation(c: CaseResult, ids: _Ids, units: dict[str, str], hashes: dict[str, str], tool: str,
                 started: str) -> oc.Observation:
    evidence = [oc.RelevantEvidence(href=p, description=f"evidence file {p}",
                                    props=[_prop("sha256", hashes.get(p, "not signed"))])
                for p in c.evidence]
    subjects = [oc.SubjectReference(subject_uuid=units[c.unit], type="inventory-item", title=c.unit)] \
        if c.unit in units else [oc.SubjectReference(subject_uuid=u, type="inventory-item") for u in units.values()]
    findings = "\n".join(f"- {f.verdict.value} {f.target} ({f.rule}): {f.reason}" for f in c.findings)
    return oc.Observation(
        uuid=ids("case", c.id), title=c.id,
        description=c.reason or f"{c.verdict.value}: no finding recorded a reason",
        props=[_prop("verdict", c.verdict.value), _prop("check", c.check), _prop("probe-class", c.probe_class),
               *[_prop("requirement", r) for r in c.requirements]],
        methods=["TEST"], types=["finding" if c.verdict is Verdict.FAIL else "discovery"],
        origins=[oc.Origin(actors=[oc.OriginActor(type="tool", actor_uuid=tool)])],
        subjects=subjects, relevant_evidence=evidence or None,
        collected=_time(c.started, started), remarks=findings or None,
    )


def _finding(r: RequirementResult, ids: _Ids, observed: set[str]) -> oc.Finding:
    related = [oc.RelatedObservation(observation_uuid=ids("case", c)) for c in r.cases if c in observed]
    remarks = "\n".join(r.notes) or None
    props = [_prop("verdict", r.verdict.value), _prop("scheme", r.scheme), _prop("method", r.method),
             *(_prop("evaluated-by", m) for m in r.evaluated_by)]
    if r.waiver:
        props.append(_prop("waiver", "active" if r.waiver.active else "expired",
                           f"{r.waiver.reason} (approved by {r.waiver.approved_by}, expires {r.waiver.expires})"))
    return oc.Finding(
        uuid=ids("requirement", r.scheme, r.id), title=f"{r.id} {r.title}",
        description=r.explanation or r.title, props=props,
        target=oc.FindingTarget(type="objective-id", target_id=_token(r.id), title=r.title, status=_status(r.verdict)),
        related_observations=related or None, remarks=remarks,
    )


def document(bundle: VerifiedBundle) -> ar.AssessmentResults:
    """The assessment results as trestle's model, for callers that want the object, not the text."""
    res, man = bundle.results, bundle.manifest
    ids, hashes = _Ids(bundle.digest), bundle.hashes()
    tool = ids("tool")
    units = {u.name: ids("unit", u.name) for u in res.device.units}
    d = res.device
    inventory = [oc.InventoryItem(
        uuid=units[u.name], description=f"{d.vendor} {d.model} firmware {d.firmware_version}, unit {u.name}",
        props=[_prop("vendor", d.vendor), _prop("model", d.model), _prop("firmware-version", d.firmware_version),
               _prop("unit", u.name), _prop("address", u.address)]) for u in d.units]
    component = oc.SystemComponent(
        uuid=tool, type="software", title=f"{man.tool.get('name', 'iot-label-harness')} {man.tool.get('version', '')}",
        description="the assessment tool that observed and judged", status=oc.Status(state="operational"))
    observed = {c.id for c in res.cases}
    selections = [oc.ControlSelections(
        description=f"{scheme} requirements", props=[_prop("scheme", scheme)],
        include_controls=[oc.SelectControlById(control_id=_token(r.id))
                          for r in res.requirements if r.scheme == scheme])
        for scheme in res.schemes if any(r.scheme == scheme for r in res.requirements)]
    result = ar.Result(
        uuid=ids("result"), title=f"Assessment of {d.vendor} {d.model} {d.firmware_version}",
        description=f"Schemes {', '.join(res.schemes)}; "
                    + ("complete" if res.complete else f"INCOMPLETE ({man.incomplete_reason or 'see the manifest'})"),
        start=_time(man.started, man.started), end=_time(man.finished, man.started),
        props=[_prop("exit-code", str(res.summary.exit_code)), _prop("complete", str(res.complete).lower()),
               _prop("probe-classes", ",".join(man.probe_classes_enabled))],
        local_definitions=ar.LocalDefinitions1(components=[component], inventory_items=inventory),
        reviewed_controls=oc.ReviewedControls(control_selections=selections or [oc.ControlSelectionsAll(
            include_all=oc.IncludeAll())]),
        observations=[_observation(c, ids, units, hashes, tool, man.started) for c in res.cases] or None,
        findings=[_finding(r, ids, observed) for r in res.requirements] or None,
    )
    return ar.AssessmentResults(
        uuid=ids("document"),
        metadata=oc.Metadata(
            title=f"{d.vendor} {d.model} {d.firmware_version}: IoT label assessment results",
            last_modified=_time(man.finished, man.started), version=man.tool.get("version", "0"),
            oscal_version=OSCAL_VERSION,
            props=[_prop("bundle-digest", bundle.digest), _prop("signer", man.signer.get("fingerprint", ""))]),
        import_ap=ar.ImportAp(href="profile.json", remarks="no OSCAL assessment plan exists for a device label; "
                              "the device profile in force (profile.json in the signed bundle) stands in for it"),
        results=[result],
    )


def render(bundle: VerifiedBundle) -> str:
    return document(bundle).oscal_serialize_json(pretty=True) + "\n"
