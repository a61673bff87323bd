"""Every interface must refuse device functions and settings to a client that has not
authenticated (JC-STAR S1.1-01, NIST IR 8259A LA-2, ETSI EN 303 645 5.5-4/5.5-5): anonymous MQTT
subscribe/publish, a telnet shell without login, SSH's 'none' method, anonymous FTP. Web services
are judged on their whole surface, every method, by test_web_access. Undeclared open ports that
speak one of these protocols get the same question: an attacker does not read the declaration.
A login without credentials is judged here, once, as access without a password; the default
password checks never count it as a default pair."""

import pytest

from harness.judgement.coverage import undeclared_name
from harness.judgement.inventory import as_service, undeclared_ports
from harness.observation.logins import probe_for
from harness.observation.probes.login import Access, Unreachable
from harness.observation.protocols import LOGIN_PROTOCOLS
from harness.record.verdict import fail, inconclusive, not_applicable

ANONYMOUS_PROTOCOLS = tuple(p for p in LOGIN_PROTOCOLS if p not in ("http", "https"))
FIX = "Require authentication on every interface that exposes device functions or settings."


@pytest.mark.requirements("S1.1-01", "LA-2")
@pytest.mark.protocols(*ANONYMOUS_PROTOCOLS)
def test_no_unauthenticated_access(endpoint, profile, guard, evidence):
    probe = probe_for(guard, endpoint.address, endpoint.service, profile, endpoint.label)
    try:
        access = probe.anonymous_access()
    except Unreachable as e:
        inconclusive(f"{endpoint.label}: {e}")
    evidence.write_json("access.json", {
        "endpoint": endpoint.label, "protocol": str(endpoint.service.protocol),
        "declared_authentication": str(endpoint.service.authentication),
        "refused": access.refused, "detail": access.detail, "observations": access.observations,
    })
    if access.refused is False:
        fail(f"{endpoint.label} lets clients in without credentials: {access.detail}. {FIX}")
    if access.refused is None:
        inconclusive(f"{endpoint.label}: {access.detail}")


@pytest.mark.requirements("S1.1-01", "S1.1-13", "LA-2")
def test_no_unauthenticated_access_on_undeclared_services(unit, profile, guard, observations, evidence, findings,
                                                          device_state):
    undeclared = undeclared_ports(observations, unit, device_state, None, "")
    results = []
    for port, proto in sorted(undeclared.items()):
        if proto not in ANONYMOUS_PROTOCOLS:
            continue
        svc, label = as_service(unit, port, proto)
        findings.covers(undeclared_name("tcp", port))
        try:
            access = probe_for(guard, unit.address, svc, profile, label).anonymous_access()
        except Unreachable as e:
            access = Access(None, str(e))
        results.append({"endpoint": label, "protocol": proto, "refused": access.refused, "detail": access.detail,
                        "observations": access.observations})
        if access.refused is False:
            findings.fail(f"{label} ({proto}, not declared) lets clients in without credentials: {access.detail}. "
                          f"{FIX}", target=label, rule=f"unauthenticated-access.{proto}", fix=FIX)
        elif access.refused is None:
            findings.inconclusive(f"{label} ({proto}, not declared): {access.detail}", target=label)
        else:
            findings.passed(f"{label} ({proto}, not declared): {access.detail}", target=label)
    evidence.write_json("undeclared-access.json", {"unit": unit.name, "identified": undeclared, "results": results})
    if not results:
        not_applicable(f"{unit.name} has no undeclared open port that speaks {', '.join(ANONYMOUS_PROTOCOLS)} "
                       f"(identified: {undeclared or 'none'})")
