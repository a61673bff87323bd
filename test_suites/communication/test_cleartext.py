"""Nothing worth protecting may cross the network in clear text (JC-STAR S1.1-12; ETSI EN 303 645
5.5-1): logins over telnet or FTP, HTTP that asks for a password without TLS, MQTT on 1883.

Every open TCP port is judged, declared or not, by what it is (the declared protocol, or what
the port says when asked): an attacker on the network sees the traffic, not the declaration.
"""

import pytest
import requests

from harness.profile import Authentication, Protocol
from harness.verdict import fail
from test_suites.exposure.observe import tcp_protocols

REDIRECTS = (301, 302, 303, 307, 308)


def _http_in_clear(guard, address: str, port: int, paths: list[str], timeout: float) -> tuple[bool, list[dict]]:
    """Does plain HTTP serve anything but a redirect to HTTPS? (per path: status, challenge, Location)"""
    seen, clear = [], False
    for path in paths or ["/"]:
        with guard.slot(address, port, timeout):
            r = requests.get(f"http://{address}:{port}{path}", timeout=timeout, allow_redirects=False)
        location = r.headers.get("Location", "")
        seen.append({"path": path, "status": r.status_code, "www_authenticate": r.headers.get("WWW-Authenticate"),
                     "location": location})
        if not (r.status_code in REDIRECTS and location.lower().startswith("https://")):
            clear = True
    return clear, seen


def _judge(port: int, proto: str | None, svc, guard, address: str, timeout: float) -> tuple[str | None, dict]:
    auth = svc.authentication if svc else None
    record: dict = {"port": port, "protocol": proto, "declared": svc is not None,
                    "authentication": str(auth) if auth else None}
    if proto == "telnet":
        return "telnet: the login and the whole session travel in clear text", record
    if proto == "ftp":
        return "FTP: the password and every file travel in clear text", record
    if proto == "http":
        try:
            clear, seen = _http_in_clear(guard, address, port, svc.protected_paths if svc else ["/"], timeout)
        except requests.RequestException as e:
            record["error"] = str(e)
            return None, record
        record["responses"] = seen
        asks = any(s["status"] == 401 for s in seen) or auth in (Authentication.PASSWORD, Authentication.TOKEN)
        if clear and asks:
            return "HTTP without TLS asks for a password: it crosses the network in clear text", record
        if clear and svc is not None and svc.protected_paths:
            return "HTTP without TLS serves the device's protected pages in clear text", record
        return None, record
    if proto == "mqtt":
        if auth in (Authentication.PASSWORD, Authentication.TOKEN):
            return "MQTT on a plain port with passwords: they cross the network in clear text", record
        return ("MQTT on a plain port: device data and commands cross the network in clear text, "
                "and anyone on it can read and inject them"), record
    return None, record


@pytest.mark.requirements("S1.1-12")
def test_no_cleartext_interfaces(unit, profile, guard, evidence, run_cache, device_state):
    protocols = tcp_protocols(run_cache, guard, profile, unit, device_state)
    declared = {s.port: s for s in profile.services_for(unit, device_state) if s.protocol is not Protocol.OTHER}
    findings, judged = [], []
    for port, (proto, _) in sorted(protocols.items()):
        why, record = _judge(port, proto, declared.get(port), guard, unit.address, profile.limits.connect_timeout_s)
        judged.append({**record, "finding": why})
        if why:
            findings.append(f"tcp/{port} {why}")
    evidence.write_json("cleartext.json", {"unit": unit.name, "device_state": device_state, "ports": judged})
    if findings:
        fail(f"{unit.name} exposes clear-text interfaces: " + "; ".join(findings)
             + ". Carry logins and device data only over TLS (HTTPS, MQTT over TLS on 8883) or SSH; "
               "turn the plain-text services off or make them redirect to the protected ones.")
