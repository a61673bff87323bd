"""Insecure or debug services are findings even when declared (JC-STAR S1.1-13; ETSI EN 303 645
5.6-1 and 5.6-4): telnet, FTP, TFTP, SNMP with the factory community, ADB, a UPnP IGD on a LAN
device... An undeclared one is also caught by the port checks; this check says *why* the
service is dangerous, and tells declared-but-insecure apart from undeclared."""

import pytest

from harness.declaration.profile import Transport
from harness.judgement.exposure import load_exposure_data, match_insecure
from harness.observation.probes.portscan import ScanUnavailable, public_sysdescr
from harness.record.verdict import fail, inconclusive


def _confirmations(scan, disc) -> set[str]:
    seen = set()
    if any(public_sysdescr(scan, port) for port in {*scan.sysdescr, *scan.scripts}):
        seen.add("snmp-community-accepted")
    if any("InternetGatewayDevice" in (h.get("ST", "") + h.get("USN", "")) for h in disc.ssdp_responses):
        seen.add("upnp-internet-gateway")
    return seen


@pytest.mark.requirements("S1.1-13", "5.6-1", "5.6-5", "8425-IAC")
@pytest.mark.observes("udp_scan", "discovery")
def test_no_insecure_services(unit, profile, observations, evidence, device_state):
    data = load_exposure_data()
    try:
        tcp = observations.protocols(unit, device_state)
        udp = observations.udp_scan(unit)
    except ScanUnavailable as e:
        inconclusive(f"the port inventory of {unit.address} is incomplete: {e}")
    disc = observations.discovery(unit)
    confirmed = _confirmations(udp, disc)
    udp_declared = {s.port: s for s in profile.services_for(unit, device_state) if s.transport is Transport.UDP}
    udp_names = {p.port: p.name for p in data.udp_ports}
    seen: list[dict] = []
    for port, (proto, declared) in sorted(tcp.items()):
        seen.append({"transport": "tcp", "port": port, "protocol": proto, "declared": declared})
    for port in udp.open_ports:
        svc = udp_declared.get(port)
        proto = str(svc.protocol) if svc else udp_names.get(port)
        seen.append({"transport": "udp", "port": port, "protocol": proto, "declared": svc is not None})
    # a declared IGD on a TCP port (its description server) is judged by the SSDP confirmation
    findings = []
    for s in seen:
        entry = match_insecure(data, s["transport"], s["port"], s["protocol"], confirmed)
        if entry:
            findings.append({**s, "finding": entry.id, "kind": "declared-but-insecure" if s["declared"] else
                             "undeclared-and-insecure", "reason": entry.reason, "fix": entry.fix,
                             "source": entry.source})
    evidence.write_json("insecure-services.json", {
        "unit": unit.name, "device_state": device_state, "services_seen": seen,
        "confirmed_by_observation": sorted(confirmed), "findings": findings,
        "rules": "harness/data/exposure.yaml",
    })
    if findings:
        fail(f"{unit.name} runs insecure service(s): " + " ".join(
            f"[{f['kind']}] {f['transport']}/{f['port']} {f['finding']}: {f['reason']} Fix: {f['fix']} "
            f"({f['source']})" for f in findings))
