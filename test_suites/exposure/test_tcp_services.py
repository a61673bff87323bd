"""Every open TCP port must be a declared service (JC-STAR S1.1-13, NIST IR 8259A LA-1).

Observation beats declaration: a port the manufacturer did not declare is a finding even when
every declared service is fine, because an undeclared service is one nobody reviewed.
"""

import pytest

from harness.declaration.profile import Transport
from harness.observation.probes.portscan import ScanUnavailable
from harness.record.verdict import inconclusive


@pytest.mark.requirements("S1.1-13", "LA-1", "5.6-1", "5.6-5", "8425-IAC")
def test_tcp_ports_declared(unit, profile, observations, evidence, findings, device_state):
    declared = {s.port: s for s in profile.services_for(unit, device_state) if s.transport is Transport.TCP}
    try:
        scan = observations.tcp_scan(unit)
    except ScanUnavailable as e:
        inconclusive(f"the TCP port scan of {unit.address} did not complete: {e}")
    evidence.write_text("nmap.xml", scan.xml)
    undeclared = sorted(set(scan.open_ports) - declared.keys())
    not_listening = sorted(declared.keys() - set(scan.open_ports))
    evidence.write_json(
        "ports.json",
        {
            "unit": unit.name,
            "address": unit.address,
            "device_state": device_state,
            "command": scan.command,
            "scan_seconds": scan.elapsed_s,
            "open": scan.open_ports,
            "declared": sorted(declared),
            "undeclared_open": undeclared,
            "declared_not_listening": not_listening,
        },
    )
    for port in undeclared:  # one finding per port: a build that opens one more shows as a new finding
        findings.fail(f"{unit.name} ({unit.address}, state {device_state}) has TCP port {port} open, and the profile "
                      "does not declare it", target=f"{unit.name}:tcp/{port}", rule="exposure.tcp_ports_declared",
                      fix="Switch off the service if the product does not need it; if it does, declare it with "
                      "its purpose.")
    if not undeclared:
        findings.passed(f"every TCP port that answered is declared: {scan.open_ports}", target=unit.name)
