"""Every UDP responder must be a declared service (JC-STAR S1.1-13, NIST IR 8259A LA-1).

A full UDP sweep is slow and ambiguous (silence may mean closed or filtered), so the scan is
bounded to the ports IoT devices commonly answer on (harness/data/exposure.yaml) plus the
declared ones. Only a port that answered counts as a responder; silence is recorded, never
judged. A TFTP server answers from a new port (its transfer ID), which nmap never reads as an
answer, so the harness asks such a port itself (`PortScan.confirmed`).
"""

import pytest

from harness.declaration.profile import Transport
from harness.judgement.exposure import load_exposure_data
from harness.observation.probes.portscan import ScanUnavailable
from harness.record.verdict import inconclusive


@pytest.mark.requirements("S1.1-13", "LA-1", "5.6-1", "5.6-5", "8425-IAC")
@pytest.mark.observes("udp_scan")
def test_udp_ports_declared(unit, profile, observations, evidence, findings, device_state):
    try:
        scan = observations.udp_scan(unit)
    except ScanUnavailable as e:
        inconclusive(f"the UDP scan of {unit.address} did not complete: {e}")
    evidence.write_text("nmap-udp.xml", scan.xml)
    names = {p.port: p.name for p in load_exposure_data().udp_ports}
    declared = {s.port: s for s in profile.services_for(unit, device_state) if s.transport is Transport.UDP}
    undeclared = [p for p in scan.open_ports if p not in declared]
    evidence.write_json("udp-ports.json", {
        "unit": unit.name,
        "address": unit.address,
        "device_state": device_state,
        "command": scan.command,
        "scan_seconds": scan.elapsed_s,
        "probed": sorted(scan.states),
        "answered": scan.open_ports,
        "no_answer": sorted(p for p, st in scan.states.items() if st == "open|filtered"),
        "confirmed_by_the_harness": scan.confirmed,
        "closed": sorted(p for p, st in scan.states.items() if st == "closed"),
        "declared": sorted(declared),
        "undeclared_answering": undeclared,
        "declared_not_answering": sorted(p for p in declared if p not in scan.open_ports),
    })
    for port in undeclared:  # one finding per port: a build that opens one more shows as a new finding
        findings.fail(f"{unit.name} ({unit.address}, state {device_state}) answers on UDP port {port} "
                      f"({names.get(port, 'unknown')}), and the profile does not declare it",
                      target=f"{unit.name}:udp/{port}", rule="exposure.udp_ports_declared",
                      fix="Switch off the service if the product does not need it; if it does, declare it with "
                      "its purpose.")
    if not undeclared:
        findings.passed(f"every UDP port that answered is declared: {scan.open_ports}", target=unit.name)
