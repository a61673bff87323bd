"""nmap's version detection against services on loopback: one nmap names every port, and a port
that keeps nmap talking past its bound costs only itself (each port is then asked on its own)."""

from __future__ import annotations

import contextlib
import os
import time

import pytest

from harness.observation.probes.portscan import version_scan
from harness.observation.scope import Scope, ScopeGuard
from tests.unit.loopback_server import serve

ADDR = "127.0.0.121"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="nmap's version scan here runs as root, as CI does")


def ssh_banner(conn) -> None:
    conn.sendall(b"SSH-2.0-dropbear_2022.83\r\n")
    time.sleep(1)


def drips(conn) -> None:
    """A service that answers every probe a byte at a time, for ever (up to the server's life)."""
    end = time.monotonic() + 30
    with contextlib.suppress(OSError):  # nmap hangs up when it is done waiting
        while time.monotonic() < end:
            conn.sendall(b"x")
            time.sleep(0.3)


def many(script, count: int) -> int:
    """A port that serves `count` connections at once (nmap reconnects per probe)."""
    import socket
    import threading

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ADDR, 0))
    srv.listen(count)
    srv.settimeout(0.2)

    def loop() -> None:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            threading.Thread(target=lambda c=conn: (script(c), c.close()), daemon=True).start()
        srv.close()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1]


@pytest.fixture
def guard() -> ScopeGuard:
    return ScopeGuard(Scope.build([ADDR]))


def test_one_nmap_names_every_port(guard):
    ports = [serve(ADDR, ssh_banner), serve(ADDR, ssh_banner)]
    scan = version_scan(guard, ADDR, ports, parallel=2, per_port_s=15)
    assert len(scan.commands) == 1 and all(str(p) in scan.commands[0] for p in ports), scan.commands
    for port in ports:
        assert scan.services[port]["product"] == "Dropbear sshd" and scan.services[port]["version"] == "2022.83"
    assert not scan.unidentified


def test_a_port_that_holds_nmap_up_costs_only_itself(guard):
    good, slow = serve(ADDR, ssh_banner), many(drips, 8)
    scan = version_scan(guard, ADDR, [good, slow], parallel=2, per_port_s=4)
    # the whole run was cut, so each port was asked on its own: two more commands, one each
    assert len(scan.commands) == 1 and str(good) in scan.commands[0] and str(slow) not in scan.commands[0]
    assert scan.services[good]["product"] == "Dropbear sshd"
    assert scan.unidentified == {slow: "nmap identified nothing within 4 s"}
    assert scan.elapsed_s < 4 + 4 + 35  # the whole run's bound, then the port's own (nmap's +30 s grace at most)
