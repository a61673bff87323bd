"""Nothing worth protecting may cross the network in clear text (JC-STAR S1.1-12; ETSI EN 303 645
5.5-1): logins over telnet or FTP, HTTP that asks for a password without TLS, MQTT on 1883.

Every open TCP port is judged, declared or not, by what it is (the declared protocol, or what
the port says when asked): an attacker on the network sees the traffic, not the declaration.
"""

import pytest

from harness.declaration.profile import Authentication, Protocol
from harness.observation.probes.portscan import ScanUnavailable
from harness.record.verdict import inconclusive

REDIRECTS = (301, 302, 303, 307, 308)
FIX = ("Carry logins and device data only over TLS (HTTPS, MQTT over TLS on 8883) or SSH; turn the plain-text "
       "services off or make them redirect to the protected ones.")


def _http(observations, unit, port: int, svc, record: dict) -> str | None:
    """Plain HTTP is a finding when it asks for a password, or serves protected pages, instead of
    redirecting to HTTPS (judged on the recorded answers)."""
    auth = svc.authentication if svc else None
    answers = observations.plain_http(unit, port, (svc.protected_paths if svc else None) or ["/"])
    record["responses"] = answers.responses
    if answers.error:
        record["error"] = answers.error
    clear = any(not (r["status"] in REDIRECTS and r["location"].lower().startswith("https://"))
                for r in answers.responses)
    asks = any(r["status"] == 401 for r in answers.responses) or auth in (Authentication.PASSWORD,
                                                                          Authentication.TOKEN)
    if clear and asks:
        return "HTTP without TLS asks for a password: it crosses the network in clear text"
    if clear and svc is not None and svc.protected_paths:
        return "HTTP without TLS serves the device's protected pages in clear text"
    return None


def _judge(port: int, proto: str | None, svc, observations, unit) -> tuple[str | None, dict]:
    auth = svc.authentication if svc else None
    record: dict = {"port": port, "protocol": proto, "declared": svc is not None,
                    "authentication": str(auth) if auth else None}
    if proto == "telnet":
        return "telnet: the login and the whole session travel in clear text", record
    if proto == "ftp":
        return "FTP: the password and every file travel in clear text", record
    if proto == "http":
        return _http(observations, unit, port, svc, record), record
    if proto == "mqtt":
        if auth in (Authentication.PASSWORD, Authentication.TOKEN):
            return "MQTT on a plain port with passwords: they cross the network in clear text", record
        return ("MQTT on a plain port: device data and commands cross the network in clear text, "
                "and anyone on it can read and inject them"), record
    return None, record


@pytest.mark.requirements("S1.1-12")
def test_no_cleartext_interfaces(unit, profile, observations, evidence, findings, device_state):
    try:
        protocols = observations.protocols(unit, device_state)
    except ScanUnavailable as e:
        inconclusive(f"the TCP port scan of {unit.address} did not complete: {e}")
    declared = {s.port: s for s in profile.services_for(unit, device_state) if s.protocol is not Protocol.OTHER}
    # the scan saw every TCP port: each declared TCP service was judged here, open or not (a UDP one
    # was not, and stays unjudged in the coverage matrix)
    findings.covers(*(s.name for s in profile.services_for(unit, device_state) if str(s.transport) == "tcp"))
    judged = []
    for port, (proto, _) in sorted(protocols.items()):
        why, record = _judge(port, proto, declared.get(port), observations, unit)
        judged.append({**record, "finding": why})
        target = f"{unit.name}:tcp/{port}"
        if why:
            findings.fail(f"{unit.name} exposes a clear-text interface: tcp/{port} {why}", target=target,
                          rule=f"cleartext.{proto}", fix=FIX)
        elif record.get("error"):
            findings.inconclusive(f"tcp/{port}: {record['error']}", target=target, rule="cleartext.http")
    evidence.write_json("cleartext.json", {"unit": unit.name, "device_state": device_state, "ports": judged})
