"""Which advertised details are security-relevant (ETSI EN 303 645 5.6-2: no unauthenticated
disclosure of security-relevant information), judged against what the profile justifies.

Identifiers are recognised by meaning and by shape, not only by matching the declaration: a
field named like a serial number, MAC, UUID/UDN or firmware version (UPnP tags, mDNS TXT keys,
JSON keys, key=value text) counts whatever its value, and so do MAC- and UUID-shaped values and
"firmware 2.0.1"-like text; the declared serial, MAC and firmware version are matched on top. A
profile written from a vendor's declaration often leaves the serial out, and the device still
gives it away.

A serial number or MAC lets an attacker derive per-unit defaults that vendors compute from them;
an exact firmware or OS version turns a vulnerability database into a target list; file-system
paths map the device's internals. The model name is fine (users need it: JC-STAR S1.1-10).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from harness.declaration.profile import DeviceProfile, Unit
from harness.observation.probes.discovery import Advertised

KINDS = ("serial-number", "mac-address", "device-uuid", "firmware-version", "os-version", "internal-path")
REASONS = {
    "serial-number": "the serial number (vendors derive per-unit passwords and keys from it)",
    "mac-address": "the MAC address (used to derive per-unit defaults and to track the device)",
    "device-uuid": "a stable per-unit identifier (UUID/UDN: tracks the unit; some vendors derive defaults from it)",
    "firmware-version": "the exact firmware version (turns a public vulnerability list into a target list)",
    "os-version": "the exact operating-system or kernel version (same: matches it to known vulnerabilities)",
    "internal-path": "internal file-system paths (a map of the device's internals)",
}
SOURCE = "ETSI EN 303 645 5.6-2 (minimise unauthenticated disclosure of security-relevant information)"
_MAC = re.compile(r"(?<![0-9a-f])(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}(?![0-9a-f])", re.I)
_OS = re.compile(r"\b(linux|debian|ubuntu|openwrt|busybox|freertos|zephyr)[/ ]v?\d+\.\d+(?:\.\d+)?", re.I)
_UUID = re.compile(r"(?<![0-9a-f])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-f])", re.I)
_FIRMWARE_TEXT = re.compile(r"\b(?:firmware|fw|software|sw)[ _-]?(?:version|ver|rev(?:ision)?)?[\s:=\"'/]{0,4}v?"
                            r"\d+\.\d+(?:\.\d+)+", re.I)
_VERSION_VALUE = re.compile(r"^v?\d+\.\d+(?:[.-]\w+)*$", re.I)
# Field names by meaning, compared lower-case with everything but letters and digits removed
# (serialNumber, serial_no, "TXT sn", device.serial all become one of these).
_SERIAL_FIELDS = {"serial", "serialno", "serialnum", "serialnumber", "sn", "deviceserial", "serialid", "psn"}
_MAC_FIELDS = {"mac", "macaddr", "macaddress", "hwaddr", "hwaddress", "ethaddr", "ethmac", "wlanmac", "wifimac",
               "bssid", "lanmac", "wanmac"}
_UUID_FIELDS = {"udn", "uuid", "deviceuuid", "guid", "deviceguid"}
_FIRMWARE_FIELDS = {"firmware", "firmwareversion", "fwversion", "fwver", "fw", "softwareversion", "swversion",
                    "swver", "firmwarerev", "firmwarerevision", "fwrev", "imageversion", "osversion", "buildversion"}
_PATH = re.compile(r"(?:^|[\s\"'=(])(/(?:etc|tmp|var|home|root|mnt|usr|opt|data|proc|sys|flash)/[\w./-]*)")


@dataclass(frozen=True)
class Disclosure:
    kind: str
    protocol: str
    where: str
    field: str
    value: str
    justified: bool

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        return f"{self.protocol} {self.where} {self.field}={self.value!r}: {REASONS[self.kind]}"


def _hex(s: str) -> str:
    return re.sub(r"[^0-9a-f]", "", s.lower())


def _version_token(version: str, text: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(version)}(?![\w]|\.\d)", text) is not None


def _field_key(field: str) -> str:
    """The last name in a field (`TXT fw` -> fw, `device.serialNumber` -> serialnumber)."""
    last = re.split(r"[.\s/\[\]]+", field.strip())
    last = [p for p in last if p and not p.isdigit()]
    return re.sub(r"[^0-9a-z]", "", (last[-1] if last else field).lower())


def by_meaning(field: str, value: str) -> list[str]:
    """Kinds a field carries by its name and its value's shape, declaration or not."""
    key, v = _field_key(field), value.strip()
    if not v:
        return []
    kinds = []
    if key in _SERIAL_FIELDS and len(v) >= 4:
        kinds.append("serial-number")
    if key in _MAC_FIELDS or _MAC.search(v):
        kinds.append("mac-address")
    if key in _UUID_FIELDS or _UUID.search(v):
        kinds.append("device-uuid")
    if (key in _FIRMWARE_FIELDS and _VERSION_VALUE.match(v)) or _FIRMWARE_TEXT.search(v):
        kinds.append("firmware-version")
    return kinds


def find(advertised: list[Advertised], profile: DeviceProfile, unit: Unit) -> list[Disclosure]:
    allowed = set(profile.discovery.may_reveal)
    out: list[Disclosure] = []

    def add(kind: str, a: Advertised) -> None:
        d = Disclosure(kind, a.protocol, a.where, a.field, a.value, kind in allowed)
        if d not in out:
            out.append(d)

    for a in advertised:
        v = a.value
        meaning = by_meaning(a.field, v)
        if "serial-number" in meaning or (unit.serial and unit.serial.lower() in v.lower()):
            add("serial-number", a)
        if "mac-address" in meaning or (unit.mac and len(_hex(unit.mac)) == 12 and _hex(unit.mac) in _hex(v)):
            add("mac-address", a)
        if "device-uuid" in meaning:
            add("device-uuid", a)
        firmware = profile.identity.firmware_known
        if "firmware-version" in meaning or (firmware and _version_token(firmware, v)):
            add("firmware-version", a)
        if _OS.search(v):
            add("os-version", a)
        if _PATH.search(v) and a.field not in ("LOCATION", "presentationURL"):
            add("internal-path", a)
    return out


def model_mentions(advertised: list[Advertised], model: str) -> list[Advertised]:
    """Where the unit names its own model (evidence that the model is identifiable, S1.1-10)."""
    return [a for a in advertised if model.lower() in a.value.lower()]


def summarise(disclosures: list[Disclosure]) -> str:
    """One clause per kind, most sensitive first, each value once with where it was seen."""
    parts = []
    for kind in KINDS:
        items = [d for d in disclosures if d.kind == kind]
        if not items:
            continue
        values: dict[str, list[str]] = {}
        for d in items:
            values.setdefault(d.value, []).append(f"{d.protocol} {d.field}")
        shown = ", ".join(f"{v!r} ({'; '.join(sorted(set(w))[:3])})" for v, w in values.items())
        parts.append(f"{REASONS[kind]}: {shown}")
    return "; ".join(parts)


def snmp_advertised(scan) -> list[Advertised]:
    """What an SNMP agent told anyone asking with the community "public" (the UDP scan's sysDescr)."""
    from harness.observation.probes.portscan import public_sysdescr

    out = []
    for port in sorted({*scan.sysdescr, *scan.scripts}):
        text = public_sysdescr(scan, port)
        if text:
            first = text.strip().splitlines()[0].strip()
            out.append(Advertised("snmp", f"udp/{port} community public", "sysDescr", first))
    return out


# CoAP Content-Format registry numbers (RFC 7252 §12.3) for the bodies the field rules can read
COAP_CONTENT_TYPES = {0: "text/plain", 40: "application/link-format", 41: "application/xml", 50: "application/json"}


def coap_served_fields(seen) -> dict[str, list[Advertised]]:
    """Resource path -> the field pairs its body says, for every resource a CoAP port served to
    anyone (read once by the CoAP observation); the disclosure and the secrets rules read these."""
    from harness.judgement.web_access import fields_of_body

    out: dict[str, list[Advertised]] = {}
    for read in seen.reads:
        if "body" in read and str(read.get("code", "")).startswith("2."):
            where = f"coap udp/{seen.port}{read['path']}"
            out[read["path"]] = fields_of_body(read["body"], COAP_CONTENT_TYPES.get(read.get("content_format")),
                                               where, "coap")
    return out


def coap_advertised(seen) -> list[Advertised]:
    """What a CoAP port serves to anyone, as the disclosure rules read it: a status resource naming
    a serial or a firmware version discloses it like a web page would."""
    return [a for fields in coap_served_fields(seen).values() for a in fields]
