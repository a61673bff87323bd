"""TCP and UDP port inventory with nmap (through python-nmap), as labs already run it by hand.

The command line is built here from fixed, known-safe options; only targets the scope guard
has approved are passed, so a scan can never reach beyond the units under test. `-n` keeps
nmap from sending reverse-DNS queries, `-Pn` from pinging, `-sT` needs no raw sockets.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from dataclasses import dataclass, field

import nmap

from harness.observation.scope import ScopeGuard, in_own_context


class ScanUnavailable(Exception):
    """The scan could not run or did not finish (nmap missing, host timeout, scanner error)."""


@dataclass
class PortScan:
    address: str
    open_ports: list[int]
    command: str
    xml: str
    elapsed_s: float
    states: dict[int, str] = field(default_factory=dict)
    scripts: dict[int, dict[str, str]] = field(default_factory=dict)  # port -> NSE script -> output
    # port -> how the harness itself confirmed an answer nmap could not see (a TFTP server replies
    # from a new port, its transfer ID, which a UDP scan never reads as the port answering)
    confirmed: dict[int, str] = field(default_factory=dict)
    # port -> what nmap's version detection (-sV) identified: name, product, version, extrainfo, cpe
    services: dict[int, dict[str, str]] = field(default_factory=dict)
    # UDP port -> the sysDescr an SNMP agent there gave an SNMPv1 GET with the community "public"
    # (the harness's own probe, ObservationStore.udp_scan): an agent anyone on the network reads
    sysdescr: dict[int, str] = field(default_factory=dict)


def public_sysdescr(scan: PortScan, port: int) -> str | None:
    """What the agent on `port` told anyone asking with the community "public" (SNMPv1), or None.
    A scan recorded before the harness asked itself kept it as nmap's snmp-sysdescr output."""
    return scan.sysdescr.get(port) or (scan.scripts.get(port) or {}).get("snmp-sysdescr") or None


def nmap_arguments(timeout_s: float, udp: bool = False, syn: bool = False) -> str:
    # --max-retries/--host-timeout bound the scan; -T4 is nmap's "aggressive" timing, which on a
    # LAN only shortens waits. No scripts, no version probes: exposure only. A UDP scan (-sU)
    # sends nmap's protocol payloads (an SNMP get for "public", an mDNS query...), so a port
    # only counts as open when something answered; silence stays "open|filtered".
    # A raw scan (-sU, -sS) sends through a raw IP socket (--send-ip), not nmap's default link-layer
    # socket: that one listens to every frame on the interface, so on a bench of many units each
    # scan in flight took a copy of every other scan's traffic (16 at once: a quarter more CPU each).
    # The kernel routes and resolves the next hop as for any packet; nmap still reads answers by pcap.
    kind = "-sU --send-ip" if udp else "-sS --send-ip" if syn else "-sT"
    return f"-n -Pn {kind} -T4 --max-retries 2 --host-timeout {int(timeout_s)}s"


def tcp_scan(guard: ScopeGuard, address: str, timeout_s: float = 120.0, ports: str = "1-65535") -> PortScan:
    """Every port's state. As root, a SYN scan (nmap's own default then): the same open, closed
    and filtered answers as a connect scan, without a socket and a whole handshake per port, which
    cost a connect scan of 65,535 ports twice the kernel time (about 1 s a unit, on the tester).
    Without root, the connect scan."""
    return _nmap_scan(guard, address, timeout_s, ports, udp=False, syn=os.geteuid() == 0)


def udp_scan(guard: ScopeGuard, address: str, ports: list[int], timeout_s: float = 60.0) -> PortScan:
    """Bounded UDP scan of chosen ports (raw sockets: needs root, as nmap -sU always does)."""
    if os.geteuid() != 0:
        raise ScanUnavailable("a UDP scan needs root (nmap -sU uses raw sockets); run the assessment as root")
    return _nmap_scan(guard, address, timeout_s, ",".join(str(p) for p in sorted(set(ports))), udp=True)


@dataclass
class VersionScan:
    """nmap's version detection, one bounded run per open port (see `version_scan`)."""

    address: str
    services: dict[int, dict[str, str]] = field(default_factory=dict)  # name, product, version, extrainfo, cpe
    unidentified: dict[int, str] = field(default_factory=dict)  # port -> why nothing was read
    commands: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


VERSION_SCAN_PORT_S = 15.0


def version_scan(guard: ScopeGuard, address: str, ports: list[int], parallel: int = 2,
                 per_port_s: float = VERSION_SCAN_PORT_S) -> VersionScan:
    """nmap's version detection (-sV, light) on ports already found open: the product and version
    each service reveals to anyone who asks, read with nmap's probe database rather than banners
    parsed by hand, so another vendor's daemon on another port is named the way labs already read
    it.

    One nmap for all the ports, `parallel` conversations at once (--max-parallelism; as many slots
    of the unit's budget held), cut at `per_port_s` for each round of `parallel` ports: nmap loads
    and compiles its probe database in every process (half a second of CPU), so a process per port
    cost a fleet of units more than all its other scans together. Should that run fail or be cut
    (a telnetd that delays every failed login would hold it for minutes), each port is asked again
    on its own, each cut at `per_port_s`, so a port that holds nmap up costs only itself."""
    ports = sorted(set(ports))
    result = VersionScan(address=address)
    started = time.monotonic()
    if ports:
        width = max(1, min(parallel, len(ports)))
        bound = per_port_s * math.ceil(len(ports) / width)
        release = guard.hold(address, ports[0], width, timeout=bound)
        try:
            whole: PortScan | None = _nmap_scan(
                guard, address, bound, ",".join(map(str, ports)), udp=False,
                extra=f" -sV --version-intensity 2 --max-parallelism {width}", kind="version-scan")
        except ScanUnavailable:
            whole = None
        finally:
            release()
        if whole is not None:
            _read_versions(result, ports, whole)
        else:
            _version_scan_by_port(guard, address, ports, parallel, per_port_s, result)
    result.elapsed_s = round(time.monotonic() - started, 3)
    return result


def _read_versions(result: VersionScan, ports: list[int], scan: PortScan) -> None:
    result.commands.append(scan.command)
    for port in ports:
        if port in scan.services:
            result.services[port] = scan.services[port]
        else:
            result.unidentified[port] = "nmap named no product or version"


def _version_scan_by_port(guard: ScopeGuard, address: str, ports: list[int], parallel: int, per_port_s: float,
                          result: VersionScan) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(port: int) -> tuple[int, PortScan | str]:
        # version probes are real conversations with the service: each nmap talks over one
        # connection at a time and holds one slot of the unit's budget for it, as any probe does
        release = guard.hold(address, port, 1, timeout=per_port_s)
        try:
            return port, _nmap_scan(guard, address, per_port_s, str(port), udp=False,
                                    extra=" -sV --version-intensity 2 --max-parallelism 1", kind="version-scan")
        except ScanUnavailable:
            return port, f"nmap identified nothing within {per_port_s:g} s"
        finally:
            release()

    with ThreadPoolExecutor(max(1, parallel)) as pool:
        for port, scan in pool.map(in_own_context(one), ports):
            if isinstance(scan, str):
                result.unidentified[port] = scan
            else:
                _read_versions(result, [port], scan)


def _nmap_scan(guard: ScopeGuard, address: str, timeout_s: float, ports: str, udp: bool, extra: str = "",
               kind: str | None = None, syn: bool = False) -> PortScan:
    (target,) = guard.nmap_targets([address])
    if shutil.which("nmap") is None:
        raise ScanUnavailable("nmap is not installed (apt-get install nmap)")
    scanner = nmap.PortScanner()
    args = nmap_arguments(timeout_s, udp, syn) + extra
    try:
        with guard.exchanges.timed(target, None, kind or ("udp-scan" if udp else "port-scan"), int(timeout_s) + 30):
            scanner.scan(hosts=target, ports=ports, arguments=args, timeout=int(timeout_s) + 30)
    except nmap.PortScannerTimeout:
        raise ScanUnavailable(f"nmap did not finish within {int(timeout_s) + 30}s") from None
    except nmap.PortScannerError as e:
        raise ScanUnavailable(f"nmap failed: {e}") from None
    xml = scanner.get_nmap_last_output()
    xml = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else xml  # device bytes in script output
    info = scanner.scanstats()
    if target not in scanner.all_hosts():
        raise ScanUnavailable(
            f"nmap reports no result for {target} (host down or timed out: "
            f"{info.get('uphosts', '?')} up, {info.get('downhosts', '?')} down)"
        )
    table = scanner[target].get("udp" if udp else "tcp", {})
    states = {int(p): d["state"] for p, d in table.items()}
    open_ports = sorted(p for p, s in states.items() if s == "open")
    # -Pn reports every host "up": a unit that answered nothing (no open port, no refusal, e.g.
    # its link is down) would read as "nothing undeclared is open", a PASS built on silence
    answered = any(s in ("open", "closed") for s in states.values()) or re.search(
        r'<extraports state="closed"', xml or "") is not None
    if not answered:
        raise ScanUnavailable(f"{target} answered on none of the {'UDP' if udp else 'TCP'} ports scanned (none open, "
                              "none refused): unreachable, or dropping everything; nothing can be said about what "
                              "it exposes")
    return PortScan(
        address=target,
        open_ports=open_ports,
        command=scanner.command_line(),
        xml=xml,
        elapsed_s=float(info.get("elapsed", 0) or 0),
        states=states,
        scripts={int(p): dict(d["script"]) for p, d in table.items() if d.get("script")},
        services={int(p): {k: str(d.get(k) or "") for k in ("name", "product", "version", "extrainfo", "cpe")}
                  for p, d in table.items() if d.get("product") or d.get("version")},
    )
