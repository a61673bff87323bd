"""From case records to per-requirement verdicts: the content of results.json.

Declarations never override observation: a requirement declared not applicable still FAILs
if a case found it violated, and a waiver leaves the FAIL visible (it only changes whether the
FAIL blocks the run's exit code) until its expiry date.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from harness.catalog import Catalogs
from harness.profile import DeviceProfile
from harness.verdict import Verdict, aggregate


@dataclass
class CaseRecord:
    id: str
    verdict: Verdict
    requirements: list[str]
    reason: str = ""
    evidence: list[str] = field(default_factory=list)
    probe_class: str = "safe"
    unit: str | None = None
    service: str | None = None
    duration_s: float = 0.0
    started: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = str(self.verdict)
        return d


def requirement_results(
    cases: list[CaseRecord],
    catalogs: Catalogs,
    profile: DeviceProfile,
    schemes: list[str],
    today: date,
) -> list[dict[str, Any]]:
    by_req: dict[str, list[CaseRecord]] = {}
    for c in cases:
        for r in c.requirements:
            by_req.setdefault(r, []).append(c)
    na = {d.requirement: d.justification for d in profile.not_applicable}
    waivers = {w.requirement: w for w in profile.waivers}
    out = []
    for scheme in schemes:
        for req in catalogs.by_scheme[scheme].requirements:
            rc = by_req.get(req.id, [])
            verdict = aggregate(c.verdict for c in rc)
            notes: list[str] = []
            entry: dict[str, Any] = {
                "scheme": scheme,
                "id": req.id,
                "title": req.title,
                "method": str(req.method),
                "automated": req.automated,
                "provisional": req.provisional,
                "cases": [c.id for c in rc],
            }
            if req.id in na:
                if verdict is Verdict.FAIL:
                    notes.append(f"declared not applicable ({na[req.id]}), but a case found it violated")
                else:
                    verdict = Verdict.NOT_APPLICABLE
                    notes.append(f"declared not applicable: {na[req.id]}")
            elif not rc:
                notes.append(
                    f"no automated case evaluates this yet; attach {req.method} evidence: {req.evidence}"
                )
            elif verdict is Verdict.NOT_EVALUATED:
                not_run = [c.id for c in rc if c.verdict is Verdict.NOT_EVALUATED]
                notes.append(f"cases not run: {', '.join(not_run)}")
            w = waivers.get(req.id)
            if w is not None:
                active = w.expires >= today
                entry["waiver"] = {
                    "reason": w.reason,
                    "expires": w.expires.isoformat(),
                    "approved_by": w.approved_by,
                    "active": active,
                }
                if not active:
                    notes.append(f"waiver expired on {w.expires.isoformat()} and no longer counts")
            entry["verdict"] = str(verdict)
            entry["notes"] = notes
            entry["explanation"] = req.explanation
            out.append(entry)
    return out


def blocking_failures(requirements: list[dict[str, Any]]) -> list[str]:
    """IDs that FAIL without an active waiver: these make the run exit 1."""
    return [
        r["id"]
        for r in requirements
        if r["verdict"] == Verdict.FAIL and not r.get("waiver", {}).get("active", False)
    ]


def summary(requirements: list[dict[str, Any]], cases: list[CaseRecord]) -> dict[str, Any]:
    def count(items: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in items:
            out[i] = out.get(i, 0) + 1
        return dict(sorted(out.items()))

    return {
        "requirements": count([r["verdict"] for r in requirements]),
        "cases": count([str(c.verdict) for c in cases]),
        "blocking_failures": blocking_failures(requirements),
    }
