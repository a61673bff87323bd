"""Observations several exposure and communication checks share, made once per unit and run:
the TCP and UDP inventories, what each open TCP port speaks, and what discovery reveals."""

from __future__ import annotations

from harness.exposure import ExposureData, load_exposure_data
from harness.probes.discovery import Advertised, DiscoveryResult, discover
from harness.probes.identify import identify
from harness.probes.portscan import PortScan, ScanUnavailable, cached_tcp_scan, cached_udp_scan
from harness.profile import DeviceProfile, Transport, Unit
from harness.scope import ScopeGuard
from harness.verdict import inconclusive

UDP_SCAN_TIMEOUT_S = 60.0


def tcp_inventory(cache: dict, guard: ScopeGuard, profile: DeviceProfile, unit: Unit) -> PortScan:
    try:
        return cached_tcp_scan(cache, guard, unit.address, profile.limits.port_scan_timeout_s)
    except ScanUnavailable as e:
        inconclusive(f"the TCP port scan of {unit.address} did not complete: {e}")


def udp_ports_to_probe(profile: DeviceProfile, unit: Unit, data: ExposureData | None = None) -> list[int]:
    data = data or load_exposure_data()
    declared = [s.port for s in profile.services_for(unit) if s.transport is Transport.UDP]
    return sorted({p.port for p in data.udp_ports} | set(declared))


def udp_inventory(cache: dict, guard: ScopeGuard, profile: DeviceProfile, unit: Unit) -> PortScan:
    try:
        return cached_udp_scan(cache, guard, unit.address, udp_ports_to_probe(profile, unit), UDP_SCAN_TIMEOUT_S)
    except ScanUnavailable as e:
        inconclusive(f"the UDP scan of {unit.address} did not complete: {e}")


def tcp_protocols(
    cache: dict, guard: ScopeGuard, profile: DeviceProfile, unit: Unit, state: str | None = None
) -> dict[int, tuple[str | None, bool]]:
    """Open TCP port -> (protocol, declared?). Declared ports take the declared protocol; the
    others are identified by what they say (None when nothing was recognised)."""
    key = f"tcp-protocols:{unit.address}:{state}"
    if key not in cache:
        scan = tcp_inventory(cache, guard, profile, unit)
        declared = {s.port: s for s in profile.services_for(unit, state) if s.transport is Transport.TCP}
        out: dict[int, tuple[str | None, bool]] = {}
        for port in scan.open_ports:
            if port in declared:
                out[port] = (str(declared[port].protocol), True)
            else:
                out[port] = (identify(guard, unit.address, port, timeout=2.0), False)
        cache[key] = out
    return cache[key]


def discovery(cache: dict, guard: ScopeGuard, unit: Unit) -> DiscoveryResult:
    key = f"discovery:{unit.address}"
    if key not in cache:
        cache[key] = discover(guard, unit.address)
    return cache[key]


def snmp_advertised(scan: PortScan) -> list[Advertised]:
    """What the SNMP agent told nmap's snmp-sysdescr script (community "public")."""
    out = []
    for port, scripts in scan.scripts.items():
        text = scripts.get("snmp-sysdescr")
        if text:
            first = text.strip().splitlines()[0].strip()
            out.append(Advertised("snmp", f"udp/{port} community public", "sysDescr", first))
    return out
