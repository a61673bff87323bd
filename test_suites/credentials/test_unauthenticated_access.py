"""Every interface must refuse device functions and settings to a client that has not
authenticated (JC-STAR S1.1-01, NIST IR 8259A LA-2, ETSI EN 303 645 5.5-4/5.5-5): anonymous MQTT
subscribe/publish, a telnet shell without login, SSH's 'none' method, anonymous FTP, and TFTP,
which has no authentication at all (RFC 1350): a server that answers a read request of a name
nobody serves, even with "file not found", serves anyone. Web services
are judged on their whole surface, every method, by test_web_access. Undeclared open ports that
speak one of these protocols get the same question: an attacker does not read the declaration.
A login without credentials is judged here, once, as access without a password; the default
password checks never count it as a default pair."""

import pytest

from harness.declaration.profile import Protocol, Transport
from harness.judgement.inventory import as_service, undeclared_ports
from harness.observation.discovered import undeclared_name
from harness.observation.logins import probe_for
from harness.observation.probes.login import Access, Unreachable
from harness.observation.probes.portscan import ScanUnavailable
from harness.observation.protocols import LOGIN_PROTOCOLS
from harness.record.verdict import CaseEnded, Verdict, fail, inconclusive, not_applicable

ANONYMOUS_PROTOCOLS = tuple(p for p in LOGIN_PROTOCOLS if p not in ("http", "https"))
FIX = "Require authentication on every interface that exposes device functions or settings."
FIX_TFTP = ("Remove the TFTP server from production firmware; move files over HTTPS or SFTP, which authenticate "
            "the client.")
TFTP_PORT = 69


def _tftp(observations, unit, port: int, label: str) -> tuple[bool | None, dict]:
    """(refused?, record): TFTP cannot refuse, so an answer is access; silence is no verdict."""
    answer = observations.tftp(unit, port)
    record = {"endpoint": label, "protocol": "tftp", "requested": answer.requested, "outcome": answer.outcome,
              "detail": answer.detail, "refused": False if answer.outcome == "answered" else None}
    return record["refused"], record


@pytest.mark.requirements("S1.1-01", "LA-2", "5.5-4", "5.5-5", "8425-IAC")
@pytest.mark.protocols(*ANONYMOUS_PROTOCOLS, "tftp")
def test_no_unauthenticated_access(endpoint, profile, guard, observations, evidence):
    if endpoint.service.protocol is Protocol.TFTP:
        refused, record = _tftp(observations, endpoint.unit, endpoint.service.port, endpoint.label)
        evidence.write_json("access.json", record)
        if refused is False:
            fail(f"{endpoint.label}: TFTP {record['detail']}: it has no authentication, so anyone on the network "
                 f"fetches (and often replaces) its files. {FIX_TFTP}")
        inconclusive(f"{endpoint.label}: {record['detail']}")
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


@pytest.mark.requirements("S1.1-01", "S1.1-13", "LA-2", "5.5-4", "5.5-5", "5.6-1", "8425-IAC")
@pytest.mark.observes("udp_scan")
def test_no_unauthenticated_access_on_undeclared_services(unit, profile, guard, observations, evidence, findings,
                                                          device_state):
    try:
        undeclared = undeclared_ports(observations, unit, device_state, None, "")
    except CaseEnded as e:  # no undeclared TCP port: an undeclared UDP one may still serve anyone
        if e.verdict is not Verdict.NOT_APPLICABLE:
            raise
        undeclared = {}
    results = _undeclared_tftp(unit, profile, observations, findings, device_state)
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
                       f"(identified: {undeclared or 'none'}), and no undeclared TFTP server answered on UDP 69")


def _undeclared_tftp(unit, profile, observations, findings, device_state) -> list[dict]:
    try:
        answered = observations.udp_scan(unit).open_ports
    except ScanUnavailable as e:
        findings.inconclusive(f"the UDP scan of {unit.address} did not complete, so an undeclared TFTP server cannot "
                              f"be ruled out: {e}", target=f"{unit.name}:udp/69")
        return []
    declared = {s.port for s in profile.services_for(unit, device_state) if s.transport is Transport.UDP}
    if TFTP_PORT not in answered or TFTP_PORT in declared:
        return []
    label = f"{unit.name}:undeclared-{TFTP_PORT}/udp/{TFTP_PORT}"
    findings.covers(undeclared_name("udp", TFTP_PORT))
    refused, record = _tftp(observations, unit, TFTP_PORT, label)
    if refused is False:
        findings.fail(f"{label} (tftp, not declared): {record['detail']}: TFTP has no authentication, so anyone on "
                      f"the network fetches (and often replaces) its files. {FIX_TFTP}", target=label,
                      rule="unauthenticated-access.tftp", fix=FIX_TFTP)
    else:
        findings.inconclusive(f"{label}: {record['detail']}", target=label)
    return [record]
