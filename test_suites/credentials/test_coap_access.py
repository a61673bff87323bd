"""A CoAP service must refuse settings and state changes to a client that has not authenticated
(JC-STAR S1.1-01, NIST IR 8259A LA-2, ETSI EN 303 645 5.5-4).

Plain CoAP (RFC 7252) is asked what it lists (`/.well-known/core`) and each listed resource is
read; secrets or configuration served to anyone are a finding. Under `--allow intrusive` it is
then written to without credentials, the way an attacker on the network would: each stable
setting with the value it already holds (then a marker, read back, and the original put back and
read back), and a resource of the harness's own created and deleted. Without `intrusive` the
writes are NOT_EVALUATED, naming them, never assumed refused. CoAP over DTLS is asked for a
handshake without a credential (see `judgement.coap`). CoAP answering on the UDP scan's CoAP
ports (5683, 5684) without a declaration gets the same questions (that it is undeclared is
judged by exposure.udp_ports_declared)."""

from __future__ import annotations

import pytest

from harness.declaration.profile import Transport
from harness.judgement.coap import judge_dtls, judge_reads, judge_writes
from harness.observation.discovered import undeclared_name
from harness.observation.probes.coap import CoapUnavailable
from harness.observation.probes.portscan import ScanUnavailable
from harness.record.verdict import Verdict, inconclusive, not_applicable

COAP_PORTS = {5683: "coap", 5684: "coaps"}


def judge_endpoint(unit, port: int, protocol: str, label: str, guard, observations, findings) -> dict:
    """Every finding for one CoAP endpoint; returns its evidence record."""
    if protocol == "coaps":
        outcome = observations.dtls(unit, port)
        f = judge_dtls(outcome, label)
        findings.add(f.verdict, f.reason, target=label, rule=f.rule)
        return {"endpoint": label, "protocol": protocol, "dtls": outcome.outcome, "detail": outcome.detail}
    try:
        seen = observations.coap(unit, port)
    except CoapUnavailable as e:
        findings.inconclusive(f"{label}: {e}", target=label)
        return {"endpoint": label, "protocol": protocol, "error": str(e)}
    record: dict = {"endpoint": label, "protocol": protocol, "listing": seen.listing,
                    "resources": seen.resources, "reads": [{k: v for k, v in r.items() if k != "body"}
                                                           for r in seen.reads], "notes": seen.notes}
    results = judge_reads(seen)
    if "intrusive" in guard.allowed_classes:
        with guard.probe_class("intrusive"):
            try:
                attempts = observations.coap_writes(unit, port)
            except CoapUnavailable as e:
                attempts = []
                findings.inconclusive(f"{label}: the writes could not be sent: {e}", target=label,
                                      rule="coap.write_without_credentials")
        record["writes"] = attempts
        results += judge_writes(attempts)
        tried = [a for a in attempts if not a.get("skipped")]
        skipped = [a["path"] for a in attempts if a.get("skipped")]
        if tried and not any(r.verdict is not Verdict.PASS for r in results):
            findings.passed(f"{label}: {len(seen.reads)} resource(s) requested and {len(tried)} write(s) sent without "
                            "credentials; nothing secret was served and every write was refused "
                            f"({', '.join(sorted({_code(a) for a in tried}))})"
                            + (f"; not written: {', '.join(skipped[:6])} (see coap-access.json)" if skipped else ""),
                            target=label)
    else:
        findings.not_evaluated(f"{label}: {len(seen.reads)} resource(s) requested without credentials; whether it "
                               "takes writes without them is tried only under --allow intrusive (each setting put "
                               "back)",
                               target=label, rule="coap.write_without_credentials")
    for r in results:
        findings.add(r.verdict, r.reason, target=f"{label} {r.path}", rule=r.rule, fix=r.fix)
    return record


def _code(attempt: dict) -> str:
    return (attempt.get("put_same_value") or attempt.get("put") or {}).get("code", "no answer")


@pytest.mark.requirements("S1.1-01", "LA-2", "5.5-4", "5.5-5", "8425-IAC")
@pytest.mark.protocols("coap", "coaps")
def test_coap_access_without_credentials(endpoint, guard, observations, evidence, findings):
    svc = endpoint.service
    evidence.write_json("coap-access.json", judge_endpoint(endpoint.unit, svc.port, str(svc.protocol),
                                                           endpoint.label, guard, observations, findings))


@pytest.mark.requirements("S1.1-01", "LA-2", "5.5-4", "5.5-5", "8425-IAC")
@pytest.mark.observes("udp_scan")
def test_coap_access_on_undeclared_ports(unit, profile, guard, observations, evidence, findings, device_state):
    try:
        scan = observations.udp_scan(unit)
    except ScanUnavailable as e:
        inconclusive(f"the UDP scan of {unit.address} did not complete, so undeclared CoAP cannot be ruled out: {e}")
    declared = {s.port for s in profile.services_for(unit, device_state) if s.transport is Transport.UDP}
    found = {p: proto for p, proto in COAP_PORTS.items() if p in scan.open_ports and p not in declared}
    if not found:
        not_applicable(f"{unit.name} answers no undeclared CoAP port ({', '.join(map(str, COAP_PORTS))} probed)")
    records = []
    for port, proto in sorted(found.items()):
        label = f"{unit.name}:undeclared-{port}/udp/{port}"  # undeclared itself: exposure.udp_ports_declared
        findings.covers(undeclared_name("udp", port))
        records.append(judge_endpoint(unit, port, proto, label, guard, observations, findings))
    evidence.write_json("coap-access-undeclared.json", {"unit": unit.name, "ports": found, "results": records})
