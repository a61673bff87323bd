"""The lab network: a bridge inside the tester namespace (no default route, so no lab packet can
reach a real interface), one namespace per unit, and the loopback fallback's addresses."""

from __future__ import annotations

import os
import shutil
import sys

from lab.common import LabError, lab_dir, run_cmd
from lab.model import DeviceDefinition, UnitDef

TESTER_NS = "lab-tester"

BRIDGE = "labbr0"

NET_PREFIX = "198.18.0"

TESTER_IP = f"{NET_PREFIX}.1"

LOOPBACK_PREFIX = "127.0.10"

LOOPBACK_PORT_OFFSET = 10000  # ports below 1024 move up, so the fallback also works without root

MODES = ("netns", "loopback")

def current_mode() -> str:
    f = lab_dir() / "mode"
    return f.read_text().strip() if f.exists() else "netns"

def device_ip(u: UnitDef, mode: str = "netns") -> str:
    return f"{LOOPBACK_PREFIX if mode == 'loopback' else NET_PREFIX}.{u.octet}"

def map_port(port: int, mode: str) -> int:
    return port + LOOPBACK_PORT_OFFSET if mode == "loopback" and port < 1024 else port

def netns_available() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "network namespaces need root"
    if shutil.which("ip") is None:
        return False, "iproute2 (ip) is not installed"
    probe = f"lab-probe{os.getpid()}"
    p = run_cmd("ip", "netns", "add", probe, check=False)
    if p.returncode != 0:
        return False, f"cannot create a network namespace: {p.stderr.strip()}"
    run_cmd("ip", "netns", "del", probe, check=False)
    return True, ""

def net_up(defs: list[DeviceDefinition]) -> None:
    run_cmd("ip", "netns", "add", TESTER_NS)
    tester = [
        "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1",
        "ip link set lo up",
        f"ip link add {BRIDGE} type bridge",
        f"ip link set {BRIDGE} type bridge mcast_snooping 0",
        # a switch, not a firewall: where br_netfilter is loaded, frames crossing the bridge would
        # go through the (empty) iptables hooks too, a cost on every packet of every port scan
        # (per namespace since Linux 5.3; where it cannot be set, the lab is only slower)
        "{ [ ! -d /proc/sys/net/bridge ] || sysctl -qw net.bridge.bridge-nf-call-iptables=0 "
        "net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0 || true; }",
        f"ip addr add {TESTER_IP}/24 dev {BRIDGE}",
        f"ip link set {BRIDGE} up",
        f"ip route add 224.0.0.0/4 dev {BRIDGE}",
    ]
    run_cmd("ip", "netns", "exec", TESTER_NS, "sh", "-ec", "; ".join(tester))
    for d in defs:
        for u in d.units:
            ns, veth = f"lab-{u.name}", f"v-{u.name}"
            run_cmd("ip", "netns", "add", ns)
            run_cmd("ip", "link", "add", veth, "netns", TESTER_NS, "type", "veth", "peer", "name", "eth0", "netns", ns)
            run_cmd("ip", "netns", "exec", TESTER_NS, "sh", "-ec",
                 f"ip link set {veth} master {BRIDGE}; ip link set {veth} up")
            inside = [
                "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1",
                # closed UDP ports answer every probe (no ICMP rate limit), so a UDP scan of the lab
                # is decisive and fast; the scan itself never counts silence as a responder
                "sysctl -qw net.ipv4.icmp_ratelimit=0",
                "ip link set lo up",
                f"ip addr add {device_ip(u, 'netns')}/24 dev eth0",
                "ip link set eth0 up",
                "ip route add 224.0.0.0/4 dev eth0",
                *d.ns_setup,
            ]
            run_cmd("ip", "netns", "exec", ns, "sh", "-ec", "; ".join(inside))

def lab_namespaces() -> list[str]:
    p = run_cmd("ip", "netns", "list", check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.startswith("lab-")]

def tester_command(argv: list[str]) -> list[str]:
    """How to run a command on the tester side of the lab (inside its namespace, if it has one)."""
    return ["ip", "netns", "exec", TESTER_NS, *argv] if current_mode() == "netns" else list(argv)

def choose_mode(requested: str | None = None) -> str:
    """netns when namespaces can be made; otherwise the loopback fallback (or as forced)."""
    requested = requested or os.environ.get("IOT_LAB_MODE") or None
    if requested not in (None, *MODES):
        raise LabError(f"lab mode {requested!r} is unknown; use one of {', '.join(MODES)}")
    ok, why = netns_available()
    if requested == "netns" and not ok:
        raise LabError(f"netns mode was asked for but {why}")
    if requested:
        return requested
    if not ok:
        print(f"lab: network namespaces unavailable ({why}); using the loopback fallback", file=sys.stderr)
    return "netns" if ok else "loopback"
