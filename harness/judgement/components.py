"""What the device says it runs, against what its SBOM declares.

A service that names its product and version to anyone who asks (nmap's version detection, an
SSDP SERVER header) is a component the SBOM must list, at that version: one it does not list is
software the manufacturer did not declare (an unintended bundled function), and a different
version means the SBOM is not the inventory of this firmware. Matching is deliberately loose on
form (Debian's `1:9.2p1-2+deb12u10` is OpenSSH 9.2p1; `openssh-server` is OpenSSH) and strict on
substance (9.2p1 is not 8.4p1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.judgement.sbom import Component

# product words that name a protocol or a platform, not a component
NOT_COMPONENTS = {"upnp", "http", "dlnadoc", "ssh", "debian", "ubuntu", "linux", "unix", "posix"}
# words in product names that say what kind of thing it is, not which
GENERIC = {"sshd", "httpd", "server", "daemon", "service", "version", "project", "the", "web", "broker", "mqtt",
           "eclipse", "apache", "ssh"}
_TOKEN = re.compile(r"([A-Za-z][\w.+-]*?)[/ _]v?(\d[\w.+~:-]*)")


@dataclass(frozen=True)
class Revealed:
    product: str  # as the device or nmap names it ("OpenSSH", "Dropbear sshd", "nginx")
    version: str  # "" when the service names its product only ("Server: nginx")
    source: str  # "unit:tcp/22 (nmap -sV)", "unit SSDP SERVER"
    said: str  # what was seen, for the reader
    cpe: str = ""

    @property
    def names(self) -> set[str]:
        """The names an SBOM may list it under: the product's distinctive words and the cpe's
        product ("Dropbear sshd", cpe dropbear_ssh_server -> dropbear; "Eclipse Mosquitto" -> mosquitto)."""
        words = re.findall(r"[a-z0-9]+", self.product.lower())
        m = re.match(r"cpe:/a:[^:]+:([^:]+)", self.cpe)
        if m:
            words += re.findall(r"[a-z0-9]+", m.group(1).lower())
        return {w for w in words if len(w) > 2 and w not in NOT_COMPONENTS | GENERIC and not w.isdigit()}


@dataclass(frozen=True)
class Comparison:
    revealed: Revealed
    status: str  # "declared" | "version-differs" | "undeclared"
    component: Component | None = None


def from_version_scan(unit: str, services: dict[int, dict[str, str]]) -> list[Revealed]:
    out = []
    for port, s in sorted(services.items()):
        product, version = s.get("product", ""), s.get("version", "")
        cpe = s.get("cpe", "")
        m = re.match(r"cpe:/a:[^:]+:([^:]+):?([^:]*)", cpe)
        if not product and m:
            product = m.group(1)
        if not product:
            continue
        version = (version.split() or [""])[0] or (m.group(2) if m else "")
        said = " ".join(x for x in (product, s.get("version", ""), f"({s['extrainfo']})" if s.get("extrainfo") else "",
                                    cpe) if x)
        out.append(Revealed(product, version, f"{unit}:tcp/{port} (nmap -sV)", said, cpe))
    return out


def from_server_header(source: str, header: str) -> list[Revealed]:
    """`Linux/6.1 UPnP/1.0 MiniUPnPd/2.3.3` -> MiniUPnPd 2.3.3 (the platform and protocol tokens skipped)."""
    out = []
    for product, version in _TOKEN.findall(header):
        if product.lower() not in NOT_COMPONENTS:
            out.append(Revealed(product, version, source, header.strip()[:200]))
    return out


_SLASHED = re.compile(r"([A-Za-z][\w.+-]*?)/v?(\d[\w.+~:-]*)")


def from_description(source: str, text: str) -> list[Revealed]:
    """Free text a device describes itself with (SNMP sysDescr): only `product/version` tokens count,
    since "firmware 2.0.1" or "Linux 6.1" in prose names no component reliably."""
    return [Revealed(product, version, source, text.strip()[:200]) for product, version in _SLASHED.findall(text)
            if product.lower() not in NOT_COMPONENTS]


def _norm_version(v: str) -> str:
    v = v.strip().lower()
    return re.sub(r"^\d+:", "", v)  # a Debian epoch is packaging, not the upstream version


def same_version(revealed: str, declared: str) -> bool:
    """9.2p1 matches 1:9.2p1-2+deb12u10 and 9.2p1; 1.22 matches 1.22.1 (the device said less);
    8.4p1 never matches 9.2p1, and 9.2 never matches 9.20."""
    a, b = _norm_version(revealed), _norm_version(declared)
    if not a or not b:
        return False
    short, long_ = sorted((a, b), key=len)
    return long_ == short or (long_.startswith(short) and not long_[len(short)].isalnum())


def _component_names(c: Component) -> set[str]:
    names = {c.name.lower()}
    m = re.match(r"pkg:[^/]+/(?:[^/]+/)*([^@?#]+)", c.purl)
    if m:
        names.add(m.group(1).lower())
    return names


def _matches(r: Revealed, c: Component) -> bool:
    """openssh matches openssh and openssh-server, never opensshx."""
    return any(n == w or (n.startswith(w) and not n[len(w)].isalnum())
               for n in _component_names(c) for w in r.names)


def compare(revealed: list[Revealed], components: list[Component]) -> list[Comparison]:
    out = []
    for r in revealed:
        if not r.names:
            continue
        candidates = [c for c in components if _matches(r, c)]
        if not candidates:
            out.append(Comparison(r, "undeclared"))
        elif not r.version:
            out.append(Comparison(r, "declared", candidates[0]))
        else:
            same = next((c for c in candidates if same_version(r.version, c.version)), None)
            out.append(Comparison(r, "declared", same) if same else Comparison(r, "version-differs", candidates[0]))
    return out
