"""The coverage matrix: every declared interface against every requirement that bears on it.

A requirement judged on the interfaces the harness happens to speak, and silent on the others,
reads as a PASS built on not looking (a declared CoAP service nobody contacted, a UDP service the
clear-text check never saw). So every (requirement, interface) pair the catalog says matters is
listed with the cases that judged it, and a pair no case judged is NOT_EVALUATED with the reason;
`requirement_results` then keeps that requirement from PASS. The catalog's `bears_on` says which
interfaces a requirement bears on, so a new scheme or requirement is a data edit.
"""

from __future__ import annotations

from harness.declaration.catalog import Catalogs
from harness.declaration.profile import Authentication, DeviceProfile, Service
from harness.observation.discovered import DiscoveredInterface
from harness.observation.protocols import PROTOCOLS
from harness.record.results import CaseResult, CoverageRow
from harness.record.verdict import Verdict, aggregate


def bears_on(kind: str, service: Service) -> bool:
    if kind == "password-services":
        return service.authentication is Authentication.PASSWORD
    return not PROTOCOLS[str(service.protocol)].discovery_only  # function-services


def _why_not(service: Service, requirement: str, cases: list[CaseResult], declared: bool = True) -> str:
    if str(service.protocol) == "other":
        if not declared:
            return "answers, but nothing recognised what it speaks: no probe knows what to ask it"
        return "declared as protocol 'other': no probe knows what to ask it"
    if not PROTOCOLS[str(service.protocol)].has_probe:
        return f"no probe of this harness speaks {service.protocol}"
    if not any(requirement in c.requirements for c in cases):
        return "no case of this run's suite evaluates the requirement"
    return f"no check of this requirement judged {service.protocol} on {service.transport}/{service.port}"


def coverage_matrix(cases: list[CaseResult], catalogs: Catalogs, profile: DeviceProfile, schemes: list[str],
                    state: str | None = None, discovered: list[DiscoveredInterface] = ()) -> list[CoverageRow]:
    """One row per (requirement with `bears_on`, unit, declared service or discovered interface it
    bears on). A discovered interface is judged by the unit-wide checks of undeclared ports, which
    name it in `covers`; an attacker reaches it as easily as a declared one."""
    rows: list[CoverageRow] = []
    seen: set[str] = set()
    for scheme in schemes:
        for req in catalogs.by_scheme[scheme].requirements:
            if req.bears_on is None or req.id in seen:
                continue
            seen.add(req.id)
            for unit in profile.units:
                targets = [(s, s.name, s.name, True) for s in profile.services_for(unit, state)]
                targets += [(d.as_service(), d.name, f"undeclared-{d.port}", False)
                            for d in discovered if d.unit == unit.name]
                for service, key, label, declared in targets:
                    if not bears_on(req.bears_on, service):
                        continue
                    judged = [c for c in cases if req.id in c.requirements and c.unit == unit.name
                              and ((declared and c.service == key) or key in c.covers)]
                    rows.append(CoverageRow(
                        requirement=req.id, unit=unit.name, service=key, declared=declared,
                        interface=f"{unit.name}:{label}/{service.transport}/{service.port}",
                        protocol=str(service.protocol), cases=[c.id for c in judged],
                        verdict=aggregate(c.verdict for c in judged) if judged else Verdict.NOT_EVALUATED,
                        reason="" if judged else _why_not(service, req.id, cases, declared),
                    ))
    return rows


def unprobed_services(profile: DeviceProfile, catalogs: Catalogs) -> list[str]:
    """Warnings for `profile validate`: declared services no probe of this harness speaks, with the
    requirements that will then stay NOT_EVALUATED (never PASS) for want of a look at them."""
    out = []
    for service in profile.services:
        if PROTOCOLS[str(service.protocol)].has_probe:
            continue
        reqs = sorted({r.id for s in profile.schemes if s in catalogs.by_scheme
                       for r in catalogs.by_scheme[s].requirements if r.bears_on and bears_on(r.bears_on, service)})
        if reqs:
            out.append(f"service {service.name!r} ({service.transport}/{service.port}, {service.protocol}): no probe "
                       f"of this harness speaks {service.protocol}; of {', '.join(reqs)}, which bear on it, those "
                       "no unit-wide check covers for it (the clear-text check covers every TCP service) stay "
                       "NOT_EVALUATED, never PASS, and the run's coverage matrix names them")
    return out

