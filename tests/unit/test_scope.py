"""The scope guard refuses out-of-scope targets before any socket or scanner process exists."""

import socket
import subprocess
import sys
import textwrap

import nmap
import pytest

from harness.observation.probes import portscan
from harness.observation.scope import Scope, ScopeGuard, ScopeViolation
from tests.conftest import ROOT

OUTSIDE = "192.0.2.10"  # TEST-NET-1: never a lab address


@pytest.fixture
def no_network(monkeypatch):
    """Any socket creation or subprocess start fails the test: proof nothing was attempted."""
    def forbidden(*a, **k):
        raise AssertionError(f"a network operation was attempted: {a!r}")

    monkeypatch.setattr(socket, "socket", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.setattr(nmap, "PortScanner", forbidden)


@pytest.fixture
def guard():
    return ScopeGuard(Scope.build(["198.18.0.10", "127.0.0.5"]))


def test_a_probe_class_the_run_has_not_allowed_is_refused_before_any_socket(guard, no_network):
    from harness.observation.probes.ssh import run_command
    from harness.observation.scope import ProbeClassRefused
    from harness.observation.update.device import UpdateEndpoint

    with pytest.raises(ProbeClassRefused, match="'intrusive' was refused before any packet"):
        UpdateEndpoint(guard, "198.18.0.10", 80).upload(b"image", "x.swu")
    with pytest.raises(ProbeClassRefused, match="--allow intrusive"):
        run_command(guard, "198.18.0.10", 22, "root", "pw", "passwd")
    with pytest.raises(ProbeClassRefused), guard.probe_class("brute"):
        pass
    assert len(guard.refused) == 3 and guard.connections == {}
    # auth is on by default and can be denied
    denied = ScopeGuard(guard.scope, allowed_classes=frozenset({"safe"}))
    from harness.observation.probes.ssh import SshLoginProbe

    with pytest.raises(ProbeClassRefused, match="'auth'"):
        SshLoginProbe(denied, "198.18.0.10", 22).attempt("admin", "admin")


def test_a_brute_force_probe_declares_its_class():
    from harness.observation.probes.ssh import SshLoginProbe
    from harness.observation.scope import ProbeClassRefused

    guard = ScopeGuard(Scope.build(["127.0.0.5"]))
    probe = SshLoginProbe(guard, "127.0.0.5", 1)
    probe.probe_class = "brute"
    with pytest.raises(ProbeClassRefused, match="'brute'"):
        probe.attempt("admin", "admin")


@pytest.mark.parametrize("net", ["0.0.0.0/0", "::/0", "10.0.0.0/8", "192.0.0.0/15", "2001:db8::/32"])
def test_default_routes_and_very_wide_networks_are_refused(net):
    with pytest.raises(ScopeViolation, match=r"every address|wider than"):
        Scope.build([], [net])
    if not net.endswith("/0"):  # spelled out, a wide network is allowed; a default route never is
        assert Scope.build([], [net], allow_wide=True).allowed_networks[-1].prefixlen < 16 + 32 * (":" in net)
    else:
        with pytest.raises(ScopeViolation, match="every address"):
            Scope.build([], [net], allow_wide=True)
    assert Scope.build([], ["192.0.2.0/24", "2001:db8::/64"]).allowed_networks[-1].prefixlen == 64


def test_profile_address_outside_lab_ranges_is_refused():
    with pytest.raises(ScopeViolation, match="outside the allowed networks"):
        Scope.build([OUTSIDE])
    assert Scope.build([OUTSIDE], extra_networks=[f"{OUTSIDE}/32"]).targets


def test_tcp_refused_before_socket(guard, no_network):
    with pytest.raises(ScopeViolation, match="not a unit of the device under test"), guard.tcp(OUTSIDE, 22):
        pass
    # a lab address that is not a declared unit is out of scope too
    with pytest.raises(ScopeViolation), guard.tcp("198.18.0.11", 22):
        pass
    assert len(guard.refused) == 2


def test_udp_refused_before_socket(guard, no_network):
    with pytest.raises(ScopeViolation), guard.udp(OUTSIDE, 1900):
        pass


def test_host_names_are_never_resolved(guard, no_network):
    with pytest.raises(ScopeViolation, match="never resolves"), guard.tcp("camera.local", 22):
        pass


def test_nmap_gets_only_in_scope_targets(guard, no_network):
    with pytest.raises(ScopeViolation):
        portscan.tcp_scan(guard, OUTSIDE)
    with pytest.raises(ScopeViolation):
        guard.nmap_targets(["198.18.0.10", OUTSIDE])


def test_nmap_arguments_send_no_dns_and_no_ping():
    args = portscan.nmap_arguments(60).split()
    assert {"-n", "-Pn", "-sT"} <= set(args)
    assert {"-n", "-Pn", "-sS"} <= set(portscan.nmap_arguments(60, syn=True).split())  # root's full scan
    # raw scans send through a raw IP socket, not a link-layer one that takes a copy of every frame
    assert {"--send-ip"} <= set(portscan.nmap_arguments(60, syn=True).split()) & set(
        portscan.nmap_arguments(60, udp=True).split())
    assert "--send-ip" not in args


def test_audit_backstop_stops_any_library_connect():
    """Even a socket a library opens on its own is refused before the connect system call.
    Run in a child process (audit hooks are permanent), in an empty network namespace when we
    can make one, so a failure could not send a packet anyway."""
    code = textwrap.dedent(f"""
        import socket
        from harness.observation.scope import Scope, ScopeViolation, install_audit_backstop
        install_audit_backstop(Scope.build(["127.0.0.5"]))
        for target in [("{OUTSIDE}", 80), ("camera.example", 80)]:
            s = socket.socket()
            try:
                s.connect(target)
                print("CONNECTED", target)
            except ScopeViolation as e:
                print("REFUSED", target[0], e)
            except OSError as e:
                print("OSERROR", target[0], e)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"x", ("{OUTSIDE}", 1900))
        except ScopeViolation:
            print("REFUSED udp")
    """)
    prefix = ["unshare", "--net"] if subprocess.run(["unshare", "--net", "true"]).returncode == 0 else []
    r = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.stdout.count("REFUSED") == 3, r.stdout + r.stderr
    assert "CONNECTED" not in r.stdout and "OSERROR" not in r.stdout


def test_run_against_out_of_scope_device_stops_before_any_packet(tmp_path):
    prof = tmp_path / "outside.yaml"
    prof.write_text(textwrap.dedent(f"""
        identity: {{vendor: V, model: M, firmware_version: "1"}}
        units: [{{name: u1, address: {OUTSIDE}}}]
        services: [{{name: ssh, port: 22, protocol: ssh, purpose: maintenance, authentication: password}}]
        credentials: {{kind: unique-per-unit}}
        schemes: [jc-star-1]
    """))
    out = tmp_path / "bundle"
    prefix = ["unshare", "--net"] if subprocess.run(["unshare", "--net", "true"]).returncode == 0 else []
    cli = [sys.executable, "-m", "harness.run.cli", "run", "--profile", str(prof), "--out", str(out)]
    r = subprocess.run([*prefix, *cli], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2
    assert f"out of scope, nothing was sent: unit address {OUTSIDE} is outside the allowed networks" in r.stderr
    assert "--allow-network" in r.stderr
    assert not out.exists()
    r = subprocess.run([*prefix, *cli, "--allow-network", "not-a-net"], capture_output=True, text=True, cwd=ROOT,
                       timeout=60)
    assert r.returncode == 2 and "is not a network" in r.stderr
    for wide in ("0.0.0.0/0", "::/0", "10.0.0.0/8"):
        r = subprocess.run([*prefix, *cli, "--allow-network", wide], capture_output=True, text=True, cwd=ROOT,
                           timeout=60)
        assert r.returncode == 2 and ("every address" in r.stderr or "wider than /16" in r.stderr), r.stderr
        assert not out.exists() and "Traceback" not in r.stderr


HOSTILE_URLS = [
    "http://10.1.2.3\\@127.0.0.5/",  # urlsplit says 127.0.0.5, the HTTP library connected to 10.1.2.3
    "http://127.0.0.5@10.1.2.3/", "http://user:pw@127.0.0.5/", "http://10.1.2.3/desc.xml", "http://localhost/",
    "ftp://127.0.0.5/", "http://127.0.0.5:99999/", "http://127.0.0.5 /x", "http://127.0.0.5\t/x",
    "http://0x7f000005/", "http://[::1]/", "http://127.0.0.5%2f@10.1.2.3/", "//127.0.0.5/", "http:///x",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_url_from_a_device_is_checked_as_the_http_library_reads_it(guard, no_network, url):
    from harness.observation.probes.discovery import fetch_description

    with pytest.raises(ScopeViolation):
        guard.url("127.0.0.5", url)
    with pytest.raises(ValueError, match="not followed"):
        fetch_description(guard, "127.0.0.5", url, 1.0)


def test_a_url_on_the_unit_is_rebuilt_from_what_was_checked(guard):
    assert guard.url("127.0.0.5", "http://127.0.0.5:5000/desc.xml?x=1") == ("http://127.0.0.5:5000/desc.xml?x=1", 5000)
    assert guard.url("127.0.0.5", "https://127.0.0.5/") == ("https://127.0.0.5:443/", 443)


def test_unit_budget_serves_cases_first_and_caps_background_work():
    """Prefetched work fills idle slots, but never all of them, and never one a case is waiting for."""
    import threading
    import time as _time

    from harness.observation.scope import UnitBudget, background_share

    budget = UnitBudget(4)
    assert background_share(4) == 3 and background_share(1) == 1
    assert all(budget.acquire(0.1, background=True) for _ in range(3))
    assert not budget.acquire(0.1, background=True)  # the last slot stays for the cases
    assert budget.acquire(0.1, background=False)  # ...and a case gets it at once
    got: list[str] = []
    case = threading.Thread(target=lambda: got.append("case") if budget.acquire(5, False) else None)
    case.start()
    _time.sleep(0.1)
    late = threading.Thread(target=lambda: got.append("background") if budget.acquire(0.5, True) else None)
    late.start()
    _time.sleep(0.1)
    budget.release(background=True)  # one slot frees while both wait: the case takes it
    case.join(2)
    late.join(2)
    assert got == ["case"], got
    assert budget.free == 0 and budget.background_held == 2
