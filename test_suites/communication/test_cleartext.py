"""Nothing worth protecting may cross the network in clear text (JC-STAR S1.1-12; ETSI EN 303 645
5.5-1): logins over telnet or FTP, HTTP that asks for a password without TLS, MQTT on 1883, and
on UDP: CoAP without DTLS, TFTP, SNMP v1/v2c.

Every open TCP port and every UDP port that answered the UDP scan is judged, declared or not,
by what it is (the declared protocol, what the port says when asked, or the well-known port's
service): an attacker on the network sees the traffic, not the declaration. A declared UDP
service that did not answer is not judged on its declaration; it stays unjudged, and says so.
"""

import pytest

from harness.declaration.profile import Authentication, Protocol, Transport
from harness.judgement.exposure import load_exposure_data
from harness.observation.discovered import undeclared_name
from harness.observation.probes.coap import CoapUnavailable
from harness.observation.probes.portscan import ScanUnavailable, public_sysdescr
from harness.observation.protocols import PROTOCOLS
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


FIX_UDP = ("Carry device data and commands over UDP only with DTLS (CoAP over DTLS on 5684, or OSCORE); switch "
           "TFTP off; use SNMPv3 with privacy (authPriv), never v1/v2c communities.")


def _judge_udp(unit, port: int, proto: str | None, svc, scan, observations) -> tuple[str, str, dict]:
    """(outcome, why, record) for one UDP port. outcome: "fail"; "clear" (judged: not clear text);
    "unknown" (it answered, but what it carries could not be told); "silent" (no answer: not
    judged, and a declared service stays unjudged in the coverage matrix, as the rule wants); or
    "not-judged" (nothing the rule bears on)."""
    answered = scan is not None and port in scan.open_ports
    record: dict = {"port": port, "transport": "udp", "protocol": proto, "declared": svc is not None,
                    "answered_scan": answered}
    if proto == "coap":
        try:
            seen = observations.coap(unit, port)
        except CoapUnavailable as e:
            return ("unknown" if answered else "silent"), f"no CoAP answer: {e}", record
        record["listing"] = seen.listing["code"]
        if seen.listing["code"] == "4.01" and not any(str(r.get("code", "")).startswith("2.") for r in seen.reads):
            # an OSCORE-protected server (RFC 8613) refuses every unprotected request with 4.01:
            # its traffic is encrypted end to end inside plain CoAP, which no probe without its
            # security context can tell from a server that merely wants a token
            return "unknown", ("CoAP answers every unprotected request with 4.01 Unauthorized: it may be protected "
                               "by OSCORE, which no probe without its security context can confirm; attest it"), record
        return "fail", (f"CoAP without DTLS (it answered /.well-known/core with {seen.listing['code']}): "
                        "requests, readings and commands cross the network in clear text, and anyone on it can "
                        "forge them"), record
    if proto == "coaps":
        outcome = observations.dtls(unit, port)
        record["dtls"] = outcome.outcome
        if outcome.answered:
            return "clear", f"CoAP over DTLS ({outcome.detail})", record
        return ("unknown" if answered else "silent"), outcome.detail, record
    if not answered:
        return "silent", "did not answer the UDP scan", record
    if proto == "tftp":
        said = observations.tftp(unit, port)
        record["tftp"] = said.outcome
        if said.outcome != "answered":
            return "unknown", f"answered the UDP scan, but not as TFTP: {said.detail}", record
        return "fail", "TFTP: every file travels in clear text, with no authentication at all", record
    if proto == "snmp":
        said = public_sysdescr(scan, port)
        record["snmp_v1_public_answer"] = said
        if said:
            return "fail", (f"SNMPv1 with the community 'public' answered ({str(said)[:80]!r}): the community and "
                            "the management data travel in clear text"), record
        return "unknown", ("no SNMPv1 answer to the community 'public'; whether the agent speaks v1/v2c with another "
                           "community, or SNMPv3 without privacy (noAuthNoPriv, authNoPriv), cannot be seen without "
                           "its credentials: attest its security level, or switch v1/v2c off"), record
    if proto and proto in PROTOCOLS and PROTOCOLS[proto].discovery_only:
        return "not-judged", "discovery answers, judged by the discovery checks", record
    return "not-judged", "no logins or device data the harness knows of travel on it", record


def _udp(unit, profile, observations, findings, device_state) -> list[dict]:
    declared = {s.port: s for s in profile.services_for(unit, device_state) if s.transport is Transport.UDP}
    try:
        scan = observations.udp_scan(unit)
    except ScanUnavailable as e:
        scan = None
        findings.inconclusive(f"the UDP scan of {unit.address} did not complete, so undeclared UDP services were not "
                              f"judged for clear text: {e}", target=f"{unit.name}:udp", rule="cleartext.udp")
    names = {p.port: p.name for p in load_exposure_data().udp_ports}
    judged = []
    for port in sorted(set(declared) | set(scan.open_ports if scan else [])):
        svc = declared.get(port)
        proto = str(svc.protocol) if svc else names.get(port)
        outcome, why, record = _judge_udp(unit, port, proto, svc, scan, observations)
        judged.append({**record, "outcome": outcome, "finding": why})
        target = f"{unit.name}:udp/{port}"
        if outcome == "fail":
            findings.fail(f"{unit.name} exposes a clear-text interface: udp/{port} {why}", target=target,
                          rule=f"cleartext.{proto}", fix=FIX_UDP)
        elif outcome == "unknown":
            findings.inconclusive(f"udp/{port} ({proto}): {why}", target=target, rule=f"cleartext.{proto}")
        if outcome in ("fail", "clear", "unknown"):
            findings.covers(svc.name if svc is not None else undeclared_name("udp", port))
    return judged


@pytest.mark.requirements("S1.1-12", "5.1-3", "5.5-1", "5.5-6", "5.5-7", "5.8-1", "5.8-2", "8425-DP")
@pytest.mark.observes("udp_scan")
def test_no_cleartext_interfaces(unit, profile, observations, evidence, findings, device_state):
    try:
        protocols = observations.protocols(unit, device_state)
    except ScanUnavailable as e:
        inconclusive(f"the TCP port scan of {unit.address} did not complete: {e}")
    declared = {s.port: s for s in profile.services_for(unit, device_state) if s.protocol is not Protocol.OTHER}
    # the scan saw every TCP port: each declared TCP service was judged here, open or not; a UDP one
    # only when it answered (see _udp)
    findings.covers(*(s.name for s in profile.services_for(unit, device_state) if str(s.transport) == "tcp"))
    judged = []
    for port, (proto, is_declared) in sorted(protocols.items()):
        why, record = _judge(port, proto, declared.get(port), observations, unit)
        judged.append({**record, "finding": why})
        if not is_declared and proto is not None:  # an unrecognised port was seen, not judged
            findings.covers(undeclared_name("tcp", port))
        target = f"{unit.name}:tcp/{port}"
        if why:
            findings.fail(f"{unit.name} exposes a clear-text interface: tcp/{port} {why}", target=target,
                          rule=f"cleartext.{proto}", fix=FIX)
        elif record.get("error"):
            findings.inconclusive(f"tcp/{port}: {record['error']}", target=target, rule="cleartext.http")
    udp = _udp(unit, profile, observations, findings, device_state)
    evidence.write_json("cleartext.json", {"unit": unit.name, "device_state": device_state, "ports": judged,
                                           "udp_ports": udp})
    judged_udp = [u for u in udp if u["outcome"] in ("clear", "fail", "unknown")]
    silent = [f"udp/{u['port']}" for u in udp if u["outcome"] == "silent"]
    findings.passed(f"{len(judged)} open TCP port(s) and {len(judged_udp)} UDP service(s) judged by what they speak"
                    + (f"; not judged, for want of an answer: {', '.join(silent)}" if silent else ""))
