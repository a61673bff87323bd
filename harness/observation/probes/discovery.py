"""What a unit tells anyone who asks, without a password: mDNS/DNS-SD and SSDP/UPnP.

Queries go *unicast* to the unit, never to a multicast group: a multicast query reaches every
host on the segment, which the scope guard cannot vouch for, while a unicast one reaches only
the unit under test. Both protocols define the unicast form and devices answer it: mDNS
"legacy unicast" queries (RFC 6762 §6.7, a query from a port other than 5353 is answered
directly) and unicast M-SEARCH (UPnP Device Architecture 1.1 §1.3.2). DNS packets are built and
parsed with python-zeroconf's own classes; the UPnP description is parsed with defusedxml, since
the XML comes from the device and may be hostile (entity expansion).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from defusedxml import DefusedXmlException, ElementTree
from zeroconf import DNSIncoming, DNSOutgoing, DNSPointer, DNSQuestion, DNSService, DNSText, const

from harness.observation.scope import ScopeGuard, ScopeViolation, exchange_deadline

MDNS_PORT = 5353
SSDP_PORT = 1900
SERVICES_META = "_services._dns-sd._udp.local."
MAX_TYPES = 32
MAX_INSTANCES = 64
MAX_DESCRIPTION_BYTES = 256 * 1024
# a device with embedded devices lists a handful of descriptions; a flood of LOCATIONs is not a
# reason to spend a deadline on each (each fetch is one bounded exchange)
MAX_DESCRIPTIONS = 8
# all description fetches together get this many exchange deadlines: eight descriptions that each
# answer just inside their own deadline must not hold the case for eight deadlines
DESCRIPTION_BUDGET_EXCHANGES = 3
UPNP_FIELDS = (
    "deviceType", "friendlyName", "manufacturer", "modelName", "modelNumber", "modelDescription",
    "serialNumber", "UDN", "presentationURL", "UPC",
)


@dataclass
class Advertised:
    """One thing the unit says about itself: where it said it, which field, what value."""

    protocol: str  # mdns, ssdp, upnp-description, snmp
    where: str  # service instance, SSDP ST or description URL
    field: str
    value: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class DiscoveryResult:
    mdns_services: list[dict] = field(default_factory=list)
    ssdp_responses: list[dict] = field(default_factory=list)
    descriptions: dict[str, str] = field(default_factory=dict)  # URL -> XML text
    advertised: list[Advertised] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- mDNS / DNS-SD
def _mdns_query(guard: ScopeGuard, address: str, questions: list[tuple[str, int]], timeout: float) -> list:
    out = DNSOutgoing(const._FLAGS_QR_QUERY, multicast=False)
    for name, rtype in questions:
        out.add_question(DNSQuestion(name, rtype, const._CLASS_IN))
    with guard.udp(address, MDNS_PORT, timeout) as sock:
        for packet in out.packets():
            sock.send(packet)
        try:
            data = sock.recv(9000)
        except (TimeoutError, ConnectionRefusedError):
            return []
    incoming = DNSIncoming(data)
    if not incoming.valid:  # garbage on the mDNS port: said, not read as "advertises nothing"
        raise OSError(f"the answer on udp/{MDNS_PORT} is not a DNS message ({len(data)} bytes: {data[:24]!r})")
    return list(incoming.answers())


def browse_mdns(guard: ScopeGuard, address: str, timeout: float = 1.0) -> tuple[list[dict], list[Advertised]]:
    """Every DNS-SD service the unit answers for, with its port, target and TXT record."""
    types = [
        a.alias for a in _mdns_query(guard, address, [(SERVICES_META, const._TYPE_PTR)], timeout)
        if isinstance(a, DNSPointer)
    ][:MAX_TYPES]
    services: list[dict] = []
    advertised: list[Advertised] = []
    instances: list[str] = []
    for t in types:
        for a in _mdns_query(guard, address, [(t, const._TYPE_PTR)], timeout):
            if isinstance(a, DNSPointer) and a.alias not in instances:
                instances.append(a.alias)
    for inst in instances[:MAX_INSTANCES]:
        answers = _mdns_query(guard, address, [(inst, const._TYPE_SRV), (inst, const._TYPE_TXT)], timeout)
        entry: dict = {"instance": inst, "port": None, "target": None, "txt": {}}
        for a in answers:
            if isinstance(a, DNSService) and a.name == inst:
                entry["port"], entry["target"] = a.port, a.server
            elif isinstance(a, DNSText) and a.name == inst:
                entry["txt"] = _txt(a.text)
        services.append(entry)
        advertised.append(Advertised("mdns", inst, "instance name", inst))
        if entry["target"]:
            advertised.append(Advertised("mdns", inst, "host name", entry["target"]))
        advertised += [Advertised("mdns", inst, f"TXT {k}", v) for k, v in entry["txt"].items()]
    return services, advertised


def _txt(raw: bytes) -> dict[str, str]:
    items: dict[str, str] = {}
    i = 0
    while i < len(raw):
        n = raw[i]
        chunk = raw[i + 1 : i + 1 + n].decode("utf-8", "replace")
        i += 1 + n
        if chunk:
            key, _, value = chunk.partition("=")
            items[key] = value
    return items


# ---------------------------------------------------------------- SSDP / UPnP
def search_ssdp(guard: ScopeGuard, address: str, wait: float = 1.5) -> list[dict]:
    """Unicast M-SEARCH ssdp:all; every response's headers, collected for `wait` seconds."""
    request = (
        f"M-SEARCH * HTTP/1.1\r\nHOST: {address}:{SSDP_PORT}\r\nMAN: \"ssdp:discover\"\r\n"
        "MX: 1\r\nST: ssdp:all\r\nUSER-AGENT: IoTLabelHarness/1 UPnP/1.1\r\n\r\n"
    ).encode()
    responses: list[dict] = []
    with guard.udp(address, SSDP_PORT, wait) as sock:
        sock.send(request)
        end = time.monotonic() + wait
        while time.monotonic() < end and len(responses) < 100:
            sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                data = sock.recv(8192)
            except (TimeoutError, ConnectionRefusedError):
                break
            headers = _headers(data)
            if headers is not None:
                responses.append(headers)
    return responses


def _headers(data: bytes) -> dict | None:
    lines = data.decode("utf-8", "replace").split("\r\n")
    if not lines or not lines[0].upper().startswith("HTTP/1.1 200"):
        return None
    out = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip().upper()] = value.strip()
    return out


class DescriptionUnreachable(ValueError):
    """No HTTP answer for a description URL within the exchange's deadline."""


def fetch_description(guard: ScopeGuard, address: str, url: str, timeout: float) -> str:
    try:
        target, port = guard.url(address, url, schemes=("http",))
    except ScopeViolation as e:
        raise ValueError(f"LOCATION {url!r} is not followed: {e}") from None
    from urllib3.util import parse_url

    from harness.observation.probes.http_client import exchange
    from harness.observation.probes.login import Unreachable

    try:  # the one bounded exchange: deadline over headers and body, byte cap
        r = exchange(guard, address, port, False, "GET", parse_url(target).request_uri, timeout=timeout,
                     max_bytes=MAX_DESCRIPTION_BYTES)
    except Unreachable as e:
        raise DescriptionUnreachable(str(e)) from None
    if r.truncated:
        raise ValueError(f"description at {url} is larger than {MAX_DESCRIPTION_BYTES} bytes; not parsed")
    if r.status_code != 200:
        raise ValueError(f"description at {url} answered HTTP {r.status_code}")
    return r.text


def description_fields(xml: str, url: str) -> list[Advertised]:
    root = ElementTree.fromstring(xml)
    found = []
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in UPNP_FIELDS and el.text and el.text.strip():
            found.append(Advertised("upnp-description", url, tag, el.text.strip()))
    return found


def discover(guard: ScopeGuard, address: str, timeout: float = 1.0, ssdp_wait: float = 1.5,
             exchange_timeout: float = 3.0) -> DiscoveryResult:
    """`timeout` and `ssdp_wait` are listening windows for the UDP answers; `exchange_timeout` is
    the profile's per-step timeout, which bounds each description fetch like any other exchange."""
    result = DiscoveryResult()
    try:
        result.mdns_services, adv = browse_mdns(guard, address, timeout)
        result.advertised += adv
    except OSError as e:
        result.notes.append(f"mDNS: {e}")
    try:
        result.ssdp_responses = search_ssdp(guard, address, ssdp_wait)
    except OSError as e:
        result.notes.append(f"SSDP: {e}")
    for h in result.ssdp_responses:
        where = h.get("ST", "ssdp")
        for key in ("SERVER", "LOCATION", "USN"):
            if key in h:
                result.advertised.append(Advertised("ssdp", where, key, h[key]))
    _fetch_descriptions(guard, address, result, exchange_timeout)
    return result


def _fetch_descriptions(guard: ScopeGuard, address: str, result: DiscoveryResult, timeout: float) -> None:
    locations = sorted({h["LOCATION"] for h in result.ssdp_responses if h.get("LOCATION")})
    if len(locations) > MAX_DESCRIPTIONS:
        result.notes.append(f"UPnP: {len(locations)} description URLs advertised; the first {MAX_DESCRIPTIONS} "
                            f"fetched, {len(locations) - MAX_DESCRIPTIONS} not")
    budget_s = DESCRIPTION_BUDGET_EXCHANGES * exchange_deadline(timeout)
    started = time.monotonic()
    unanswered = 0
    for url in locations[:MAX_DESCRIPTIONS]:
        if unanswered >= 2:
            result.notes.append(f"UPnP description {url}: not fetched (two descriptions already went unanswered)")
            continue
        if time.monotonic() - started >= budget_s:
            result.notes.append(f"UPnP description {url}: not fetched (the descriptions' {budget_s:g}s are spent)")
            continue
        try:
            xml = fetch_description(guard, address, url, timeout)
            result.descriptions[url] = xml
            result.advertised += description_fields(xml, url)
        except (ValueError, ElementTree.ParseError, DefusedXmlException, OSError) as e:
            result.notes.append(f"UPnP description {url}: {e}")
            unanswered += isinstance(e, DescriptionUnreachable)
