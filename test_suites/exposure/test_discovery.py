"""What the unit tells anyone who asks, without a password: mDNS/DNS-SD, SSDP/UPnP, SNMP, the
resources its CoAP services serve, and every page its web services serve without credentials
(declared ports and found ones).

Disclosure (ETSI EN 303 645 5.6-2, minimise unauthenticated disclosure of security-relevant
information): JC-STAR ★1 has no item of its own for it, so it is judged under S1.1-13 (no
exploitable weakness on the interfaces). Advertising the model name is fine, and is evidence
that the model can be identified (S1.1-10).
"""

import pytest

from harness.declaration.profile import Protocol, TlsExpectation, Transport
from harness.judgement.disclosure import SOURCE, coap_advertised, find, model_mentions, snmp_advertised, summarise
from harness.judgement.web_access import fields_of
from harness.observation.probes.coap import CoapUnavailable
from harness.observation.probes.login import Unreachable
from harness.observation.probes.portscan import ScanUnavailable
from harness.record.verdict import fail, inconclusive, not_applicable


def _advertised(observations, unit, evidence, profile, state=None):
    disc = observations.discovery(unit)
    try:
        scan = observations.udp_scan(unit)
    except ScanUnavailable as e:
        inconclusive(f"the UDP scan of {unit.address} (SNMP, CoAP) did not complete: {e}")
    advertised = disc.advertised + snmp_advertised(scan)
    declared = {s.port for s in profile.services_for(unit, state) if s.transport is Transport.UDP
                and str(s.protocol) == "coap"}
    for port in sorted(declared | ({5683} & set(scan.open_ports))):
        try:
            advertised += coap_advertised(observations.coap(unit, port))
        except CoapUnavailable as e:
            disc.notes.append(f"CoAP udp/{port}: {e}")
    for i, (url, xml) in enumerate(sorted(disc.descriptions.items())):
        evidence.write_text(f"upnp-description-{i + 1}.xml", f"<!-- {url} -->\n{xml}")
    return disc, advertised


@pytest.mark.requirements("S1.1-13", "5.6-1", "8425-IAC")
@pytest.mark.observes("udp_scan", "discovery")
def test_discovery_disclosure(unit, profile, observations, evidence, device_state):
    disc, advertised = _advertised(observations, unit, evidence, profile, device_state)
    found = find(advertised, profile, unit)
    evidence.write_json("discovery.json", {
        "unit": unit.name,
        "method": "unicast mDNS (RFC 6762 §6.7) and unicast M-SEARCH (UPnP DA 1.1) to the unit only",
        "mdns_services": disc.mdns_services,
        "ssdp_responses": disc.ssdp_responses,
        "advertised": [a.as_dict() for a in advertised],
        "disclosures": [d.as_dict() for d in found],
        "may_reveal": list(profile.discovery.may_reveal),
        "notes": disc.notes,
    })
    bad = [d for d in found if not d.justified]
    if bad:
        fail(f"{unit.name} reveals security-relevant detail to anyone on the network, without a password: "
             + summarise(bad)
             + f". Remove it from the advertisements, or justify it under discovery.may_reveal. [{SOURCE}]")
    if not advertised and disc.notes:
        inconclusive(f"discovery did not complete on {unit.name}: {'; '.join(disc.notes)}")
    if not advertised:  # silence proves nothing unless the unit is known to answer at all
        try:
            observations.tcp_scan(unit)
        except ScanUnavailable as e:
            inconclusive(f"{unit.name} advertised nothing, and it answers on no TCP port either ({e}); silence "
                         "from an unreachable unit says nothing about what it discloses")


@pytest.mark.requirements("S1.1-10", "8425-AI")
@pytest.mark.observes("udp_scan", "discovery")
def test_model_identifiable(unit, profile, observations, evidence, device_state):
    _, advertised = _advertised(observations, unit, evidence, profile, device_state)
    mentions = model_mentions(advertised, profile.identity.model)
    evidence.write_json("model-identification.json", {
        "unit": unit.name, "declared_model": profile.identity.model,
        "advertised_by_the_unit": [a.as_dict() for a in mentions],
    })
    if not mentions:
        inconclusive(f"{unit.name} does not name its model ({profile.identity.model}) in mDNS, SSDP/UPnP, "
                     "SNMP or CoAP; S1.1-10 is then shown by the label or the user interface (attach a photo or "
                     "screenshot)")




def _web_ports(observations, profile, unit, state) -> dict[int, tuple[bool, object]]:
    """port -> (TLS?, declared service or None) for every web port, declared or identified."""
    ports = {s.port: (s.protocol is Protocol.HTTPS or s.tls is TlsExpectation.REQUIRED, s)
             for s in profile.services_for(unit, state) if s.protocol in (Protocol.HTTP, Protocol.HTTPS)}
    try:
        found = observations.protocols(unit, state)
    except ScanUnavailable as e:
        inconclusive(f"the TCP port scan of {unit.address} did not complete: {e}")
    for port, (proto, declared) in found.items():
        if not declared and proto in ("http", "https"):
            ports[port] = (proto == "https", None)
    return ports


@pytest.mark.requirements("S1.1-13", "5.6-1", "8425-IAC")
def test_web_disclosure(unit, profile, observations, evidence, findings, device_state):
    """Serial numbers, MACs, UUIDs, firmware versions and internal paths in pages served without
    credentials (a status endpoint, a footer, a JSON API), by meaning and shape, declared or not."""
    ports = _web_ports(observations, profile, unit, device_state)
    if not ports:
        not_applicable(f"{unit.name} serves no web port (declared or found)")
    record = []
    for port, (tls, service) in sorted(ports.items()):
        label = f"{unit.name}:{service.name if service else f'undeclared-{port}'}/{port}"
        try:
            surface = observations.web_surface(unit, port, tls, service)
        except Unreachable as e:
            findings.inconclusive(f"{label}: {e}", target=label)
            continue
        advertised = [a for page in surface.served() for a in fields_of(page, f"{surface.base}{page.path}")]
        found = find(advertised, profile, unit)
        bad = [d for d in found if not d.justified]
        record.append({"endpoint": label, "served": [p.path for p in surface.served()],
                       "disclosures": [d.as_dict() for d in found]})
        if bad:
            findings.fail(f"{label} serves security-relevant detail without a password: {summarise(bad)}. Serve it "
                          f"only after login, or justify it under discovery.may_reveal. [{SOURCE}]", target=label,
                          rule="disclosure.web")
        else:
            findings.passed(f"{label}: {len(surface.served())} page(s) served without credentials reveal no "
                            "serial, MAC, UUID, firmware version or internal path", target=label)
    evidence.write_json("web-disclosure.json", {"unit": unit.name, "ports": record})
