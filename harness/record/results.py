"""The typed record of a run: findings, cases, requirement results, results and manifest.

These models are the contract between the run, the bundle and every report; their JSON Schema
is exported to `harness/record/schemas/` (a test fails when it is stale), so an assessor's own
tooling can validate a bundle without this code.

Declarations never override observation: a requirement declared not applicable still FAILs if a
case found it violated, and a waiver leaves the FAIL visible (it only changes whether the FAIL
blocks the run's exit code) until its expiry date.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.declaration.catalog import Catalogs
from harness.declaration.profile import DeviceProfile
from harness.record.exchanges import ExchangeSummary
from harness.record.verdict import ACCEPTABLE, Verdict, aggregate

RESULTS_FORMAT = "iot-label-harness/results/v2"
MANIFEST_FORMAT = "iot-label-harness/bundle/v2"

METHODS = ("device-test", "document", "attestation")

# Exit codes, the same in the CLI and the signed predicate (DESIGN.md, "Exit codes").
EXIT_OK, EXIT_FAIL, EXIT_HARNESS, EXIT_INCOMPLETE = 0, 1, 2, 3


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Finding(_Model):
    """One judgement on one target: what was judged, by which rule, and what it rests on."""

    target: str = Field(description="what was judged: a unit, unit:service/port, an image, a pair of units")
    rule: str = Field(description="rule id, e.g. tls.protocol.TLSv1.0 or exposure.tcp_ports_declared")
    policy: str | None = Field(default=None, description="policy and version the rule comes from, if any")
    verdict: Verdict
    reason: str = ""
    fix: str | None = Field(default=None, description="what the manufacturer should change")
    evidence: list[str] = Field(default_factory=list, description="bundle paths of the files it rests on")


class CaseResult(_Model):
    id: str
    check: str = Field(description="the check (test function) the case is an instance of")
    verdict: Verdict
    requirements: list[str]
    reason: str = Field(default="", description="the reasons of the findings that decided the verdict")
    findings: list[Finding] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)
    probe_class: str = "safe"
    method: Literal["device-test", "document", "attestation"] = Field(
        default="device-test", description="how the case evaluates: a test of the device, a published document "
        "judged, or an operator's attestation (an answer to a question, never a device test)")
    fallback_for: list[str] = Field(default_factory=list, description="the checks an operator question stands in "
                                    "for: unanswered, it does not hold back a requirement those checks decided")
    gated_by: str | None = Field(default=None, description="the probe class the run did not enable, when the "
                                 "case was left out for it (a narrower assessment chosen by the operator), or "
                                 "operator-answer for a question nobody answered")
    unit: str | None = None
    service: str | None = None
    covers: list[str] = Field(default_factory=list, description="other declared services of the unit this "
                              "case judged (a unit-wide check), for the coverage matrix")
    duration_s: float = 0.0
    started: str = ""
    judged: Literal["live", "rejudged", "carried"] = Field(
        default="live", description="live: judged while observing; rejudged: judged anew from recorded "
        "observations; carried: needs live interaction, the recorded findings are carried over")


class CoverageRow(_Model):
    """One interface against one requirement that bears on it: which cases judged it, or why none did."""

    requirement: str
    unit: str
    service: str = Field(description="the declared service's name, or undeclared-<transport>-<port> for an "
                         "interface the run found answering that the profile does not declare")
    declared: bool = True
    interface: str = Field(description="unit:service/transport/port")
    protocol: str
    cases: list[str] = Field(default_factory=list)
    verdict: Verdict = Field(description="the aggregate of those cases; NOT_EVALUATED when none judged it")
    reason: str = ""


class WaiverState(_Model):
    reason: str
    expires: str
    approved_by: str
    active: bool


class RequirementResult(_Model):
    scheme: str
    id: str
    title: str
    title_ja: str | None = Field(default=None, description="the scheme's own (Japanese) title, where it has one")
    method: str
    automated: bool
    provisional: bool = False
    crosswalk: dict[str, list[str]] = Field(default_factory=dict, description="the same requirement in other "
                                            "schemes (etsi_en_303_645, nistir_8425, nist_ir_8259a)")
    cases: list[str] = Field(default_factory=list)
    evaluated_by: list[Literal["device-test", "document", "attestation"]] = Field(
        default_factory=list, description="the methods of the cases that reached a verdict on it; "
        "['attestation'] alone means only an operator's answer stands behind the verdict")
    verdict: Verdict
    unjudged: list[str] = Field(default_factory=list, description="interfaces it bears on that no case judged "
                                "(see the coverage matrix): with any, it cannot PASS")
    notes: list[str] = Field(default_factory=list)
    explanation: str = ""
    waiver: WaiverState | None = None


class Summary(_Model):
    requirements: dict[str, int]
    cases: dict[str, int]
    blocking_failures: list[str]
    incomplete_requirements: list[str] = Field(
        description="automated requirements that ended INCONCLUSIVE, ERROR or NOT_EVALUATED for want of input")
    exit_code: int = Field(description="0 pass, 1 fail, 2 harness error, 3 incomplete assessment")


class UnitRef(_Model):
    name: str
    address: str


class Device(_Model):
    vendor: str
    model: str
    firmware_version: str
    units: list[UnitRef]


class Results(_Model):
    format: Literal["iot-label-harness/results/v2"] = RESULTS_FORMAT
    device: Device
    schemes: list[str]
    complete: bool
    requirements: list[RequirementResult]
    cases: list[CaseResult]
    coverage: list[CoverageRow] = Field(
        default_factory=list, description="every declared interface against every requirement that bears on it "
        "(catalog `bears_on`): the cases that judged it, or NOT_EVALUATED with the reason")
    summary: Summary

    def case(self, case_id: str) -> CaseResult:
        return next(c for c in self.cases if c.id == case_id)


class RejudgedFrom(_Model):
    bundle: str = Field(description="path of the original bundle when it was re-judged")
    digest: str = Field(description="sha256 of the original bundle's signed statement")
    results_sha256: str


class Manifest(_Model):
    format: Literal["iot-label-harness/bundle/v2"] = MANIFEST_FORMAT
    tool: dict[str, str]
    profile: dict[str, str]
    device: Device
    scope: dict[str, list[str]]
    schemes: list[str]
    catalogs: dict[str, dict[str, str]]
    policies: dict[str, str] = Field(description="the TLS and SSH policies the run judged by (id@version)")
    probe_classes_enabled: list[str]
    device_state: str
    operator: str
    started: str
    finished: str | None = None
    complete: bool = False
    status: Literal["running", "complete", "incomplete"] = "running"
    incomplete_reason: str | None = None
    platform: dict[str, str | None]
    signer: dict[str, str]
    redaction: dict[str, int | list[str] | str] = Field(default_factory=dict)
    connections: dict[str, int] = Field(default_factory=dict)
    refused_by_scope: list[str] = Field(default_factory=list)
    exchanges: ExchangeSummary = Field(default_factory=ExchangeSummary,
                                       description="every exchange with the units, timed against its deadline")
    rejudged_from: RejudgedFrom | None = None
    vulnerability_data: dict[str, str | int] | None = Field(
        default=None, description="the OSV records (--osv-data) the SBOM's components were matched against; "
        "null when no matching was asked for")
    labgrid: dict[str, Any] | None = Field(
        default=None, description="the labgrid coordinator, places (tags, holder, reservation) and resources the "
        "units were reached through; null when the profile's addresses were used directly")
    attestations: dict[str, str | int] = Field(
        default_factory=dict, description="the operator questions this run asked and where the answers came "
        "from: asked, answered, answers_file and its sha256, terminal (answers typed at --ask)")


# ---------------------------------------------------------------- judgement of a whole run
def case_verdict(findings: list[Finding]) -> tuple[Verdict, str]:
    """A case's verdict is the aggregate of its findings; its reason, those that decided it."""
    verdict = aggregate(f.verdict for f in findings)
    deciding = [f.reason for f in findings if f.verdict is verdict and f.reason]
    return verdict, " | ".join(dict.fromkeys(deciding))


def requirement_results(
    cases: list[CaseResult], catalogs: Catalogs, profile: DeviceProfile, schemes: list[str], today: date,
    coverage: list[CoverageRow] | None = None,
) -> list[RequirementResult]:
    """Each requirement's verdict from its cases. A requirement that bears on interfaces no case
    judged (`coverage` rows NOT_EVALUATED) cannot PASS: what was not looked at is not known to be fine."""
    gaps: dict[str, list[CoverageRow]] = {}
    for row in coverage or []:
        if not row.cases:
            gaps.setdefault(row.requirement, []).append(row)
    by_req: dict[str, list[CaseResult]] = {}
    for c in cases:
        for r in c.requirements:
            by_req.setdefault(r, []).append(c)
    na = {d.requirement: d.justification for d in profile.not_applicable}
    waivers = {w.requirement: w for w in profile.waivers}
    out = []
    for scheme in schemes:
        for req in catalogs.by_scheme[scheme].requirements:
            rc = by_req.get(req.id, [])
            counted = [c for c in rc if not _stood_in_for(c, rc)]
            verdict = aggregate(c.verdict for c in counted)
            notes: list[str] = []
            if req.id in na:
                if verdict is Verdict.FAIL:
                    notes.append(f"declared not applicable ({na[req.id]}), but a case found it violated")
                else:
                    verdict = Verdict.NOT_APPLICABLE
                    notes.append(f"declared not applicable: {na[req.id]}")
            elif not rc:
                notes.append(f"no automated case evaluates this yet; attach {req.method} evidence: {req.evidence}")
            elif verdict is Verdict.NOT_EVALUATED:
                unanswered = [c.id for c in counted if c.gated_by == "operator-answer"]
                not_run = [c.id for c in counted if c.verdict is Verdict.NOT_EVALUATED and c.id not in unanswered]
                if unanswered:
                    notes.append("needs operator answer: " + ", ".join(unanswered)
                                 + " (an answers file with --answers FILE, or --ask at a terminal)")
                if not_run:
                    notes.append(f"cases not run: {', '.join(not_run)}")
            unjudged = gaps.get(req.id, [])
            if unjudged and req.id not in na:
                notes.append("not judged: " + "; ".join(f"{g.interface} ({g.reason})" for g in unjudged))
                if verdict in (Verdict.PASS, Verdict.ADVISORY, Verdict.NOT_APPLICABLE):
                    verdict = Verdict.NOT_EVALUATED
            if verdict is Verdict.ADVISORY:
                notes.append("advisory: see the cases; it does not block the label")
            waiver = None
            w = waivers.get(req.id)
            if w is not None:
                waiver = WaiverState(reason=w.reason, expires=w.expires.isoformat(), approved_by=w.approved_by,
                                     active=w.expires >= today)
                if not waiver.active:
                    notes.append(f"waiver expired on {w.expires.isoformat()} and no longer counts")
            out.append(RequirementResult(
                scheme=scheme, id=req.id, title=req.title, title_ja=req.title_ja, method=str(req.method),
                automated=req.automated, provisional=req.provisional,
                crosswalk={k: v for k, v in req.crosswalk.model_dump().items() if v},
                cases=[c.id for c in rc], verdict=verdict, notes=notes,
                evaluated_by=[m for m in METHODS if any(c.method == m and c.verdict is not Verdict.NOT_EVALUATED
                                                        for c in rc)],
                unjudged=[g.interface for g in unjudged] if req.id not in na else [],
                explanation=req.explanation, waiver=waiver,
            ))
    return out


def _stood_in_for(case: CaseResult, cases: list[CaseResult]) -> bool:
    """An unanswered fallback question, where the checks it stands in for all reached a verdict on
    this requirement: the test decided, and the question was only for when it could not."""
    if case.gated_by != "operator-answer" or not case.fallback_for:
        return False
    stand_ins = [c for c in cases if c.check in case.fallback_for]
    return bool(stand_ins) and all(c.verdict is not Verdict.NOT_EVALUATED for c in stand_ins)


def blocking_failures(requirements: list[RequirementResult]) -> list[str]:
    """IDs that FAIL without an active waiver: these make the run exit 1."""
    return [r.id for r in requirements if r.verdict is Verdict.FAIL and not (r.waiver and r.waiver.active)]


def incomplete_requirements(requirements: list[RequirementResult], cases: list[CaseResult]) -> list[str]:
    """Automated requirements the assessment could not settle: INCONCLUSIVE or ERROR, or
    NOT_EVALUATED with a case that could not run for want of input. A requirement whose cases
    were all left out on purpose (a probe class the operator did not enable) is not counted: the
    operator chose a narrower assessment, and the results say so case by case."""
    by_id = {c.id: c for c in cases}
    out = []
    for r in requirements:
        if not r.automated or r.verdict in ACCEPTABLE or r.verdict is Verdict.FAIL:
            continue
        if r.unjudged and any(not by_id[c].gated_by for c in r.cases):
            out.append(r.id)  # it was assessed, but an interface it bears on went unjudged
            continue
        unrun = [by_id[c] for c in r.cases if by_id[c].verdict is Verdict.NOT_EVALUATED]
        if r.verdict is Verdict.NOT_EVALUATED and unrun and all(c.gated_by for c in unrun):
            continue
        if r.verdict is Verdict.NOT_EVALUATED and not r.cases:
            continue  # the catalog marks it automated but this suite has no case for it (a custom suite)
        out.append(r.id)
    return out


def exit_code(requirements: list[RequirementResult], cases: list[CaseResult], complete: bool) -> int:
    """2 the run itself did not finish (interrupted, suite broken): no verdict on the device;
    1 some FAIL (not waived); 3 no FAIL but the assessment is incomplete; 0 every evaluated
    requirement PASS, NOT_APPLICABLE or ADVISORY."""
    if not complete:
        return EXIT_HARNESS
    if blocking_failures(requirements):
        return EXIT_FAIL
    if incomplete_requirements(requirements, cases):
        return EXIT_INCOMPLETE
    return EXIT_OK


def summary(requirements: list[RequirementResult], cases: list[CaseResult], complete: bool) -> Summary:
    def count(items: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in items:
            out[i] = out.get(i, 0) + 1
        return dict(sorted(out.items()))

    return Summary(
        requirements=count([str(r.verdict) for r in requirements]),
        cases=count([str(c.verdict) for c in cases]),
        blocking_failures=blocking_failures(requirements),
        incomplete_requirements=incomplete_requirements(requirements, cases),
        exit_code=exit_code(requirements, cases, complete),
    )


def schema_documents() -> dict[str, dict]:
    """The JSON Schemas exported into the repository, by file name."""
    out = {}
    for name, model in (("results.schema.json", Results), ("manifest.schema.json", Manifest)):
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = f"IoT label harness {name.split('.')[0]}"
        out[name] = schema
    return out
