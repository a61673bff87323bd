"""The TFTP probe against a real tftpd-hpa on loopback, a scripted server that answers garbage,
and an address where nothing listens. (The lab proves the check both ways: the router's
undeclared recovery TFTP FAILs access without credentials; the camera's refusing telnet PASSes.)"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from harness.observation.probes.tftp import ask
from harness.observation.scope import Scope, ScopeGuard, ScopeViolation

SERVER, NOISE, NOTHING = "127.0.0.109", "127.0.0.110", "127.0.0.111"
PORT = 6969
TIMEOUT = 1.0


def _guard(*addresses: str) -> ScopeGuard:
    return ScopeGuard(Scope.build(list(addresses)))


@pytest.fixture(scope="module")
def tftpd(tmp_path_factory):
    if shutil.which("in.tftpd") is None and not os.path.exists("/usr/sbin/in.tftpd"):
        pytest.fail("tftpd-hpa is not installed (scripts/setup.sh installs it: apt-get install tftpd-hpa)")
    root = tmp_path_factory.mktemp("tftp")
    proc = subprocess.Popen(["/usr/sbin/in.tftpd", "-L", "-s", str(root), "-a", f"{SERVER}:{PORT}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while f"{SERVER}:{PORT}" not in subprocess.run(["ss", "-Hluna"], capture_output=True, text=True).stdout:
        assert proc.poll() is None and time.monotonic() < deadline, "in.tftpd did not start"
        time.sleep(0.05)
    yield root
    proc.terminate()
    proc.wait(5)


def test_a_tftp_server_answers_anyone_even_with_file_not_found(tftpd):
    answer = ask(_guard(SERVER), SERVER, PORT, TIMEOUT)
    assert answer.outcome == "answered" and "with ERR" in answer.detail, answer.detail
    assert answer.requested.startswith("iot-label-harness-") and not (tftpd / answer.requested).exists()


def test_garbage_and_silence_are_no_tftp_answer():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((NOISE, PORT))

    def serve():
        _, peer = sock.recvfrom(2048)
        sock.sendto(os.urandom(40), peer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        garbage = ask(_guard(NOISE), NOISE, PORT, TIMEOUT)
    finally:
        sock.close()
    assert garbage.outcome == "silent" and "not TFTP" in garbage.detail
    t0 = time.monotonic()
    assert ask(_guard(NOTHING), NOTHING, PORT, TIMEOUT).outcome == "silent"
    assert time.monotonic() - t0 < 3 * TIMEOUT + 1


def test_an_outside_address_is_refused_before_any_packet():
    guard = _guard(NOTHING)
    with pytest.raises(ScopeViolation):
        ask(guard, "198.51.100.7", 69, TIMEOUT)
    assert guard.connections == {} and len(guard.refused) == 1


def test_a_tftp_server_nmap_cannot_see_is_found_by_asking_it(tmp_path):
    """A TFTP server replies from a new port (its transfer ID), so nmap's UDP scan leaves port 69
    "open|filtered". The store asks such a port itself: an undeclared recovery TFTP server is then
    an undeclared UDP responder like any other, with how it was confirmed in the evidence."""
    import json
    import textwrap

    from tests.conftest import ROOT, harness

    unit = "127.0.0.112"
    root = tmp_path / "tftp"
    root.mkdir()
    proc = subprocess.Popen(["/usr/sbin/in.tftpd", "-L", "-s", str(root), "-a", f"{unit}:69"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while f"{unit}:69" not in subprocess.run(["ss", "-Hluna"], capture_output=True, text=True).stdout:
            assert proc.poll() is None and time.monotonic() < deadline, "in.tftpd did not start"
            time.sleep(0.05)
        profile = tmp_path / "p.yaml"
        profile.write_text(textwrap.dedent(f"""
            identity: {{vendor: V, model: R-1, firmware_version: "1"}}
            units: [{{name: r1, address: {unit}}}]
            services: [{{name: web, port: 80, protocol: http, purpose: admin, authentication: password}}]
            credentials: {{kind: unique-per-unit}}
            schemes: [jc-star-1]
        """))
        out = tmp_path / "b"
        harness("run", "--profile", str(profile), "--out", str(out), "--suite", str(ROOT / "test_suites" / "exposure"),
                timeout=300)
    finally:
        proc.terminate()
        proc.wait(5)
    cases = {c["id"]: c for c in json.loads((out / "results.json").read_text())["cases"]}
    udp = cases["exposure.udp_ports_declared[r1]"]
    assert udp["verdict"] == "FAIL" and "69 (tftp)" in udp["reason"], udp["reason"]
    ports = json.loads((out / "evidence/exposure.udp_ports_declared_r1/udp-ports.json").read_text())
    assert "TFTP read request" in ports["confirmed_by_the_harness"]["69"]
    assert cases["exposure.no_insecure_services[r1]"]["verdict"] == "FAIL"


def test_a_transfer_trickled_just_inside_each_timeout_is_cut_at_the_deadline():
    """DATA packets each just inside tftpy's per-packet timeout would hold a transfer for as
    long as the server likes; the exchange deadline ends it, as an answer (it is TFTP)."""
    import struct

    from harness.observation.scope import exchange_deadline

    address = "127.0.0.113"
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((address, PORT))
    stop = threading.Event()

    def serve():
        _, peer = listener.recvfrom(2048)
        transfer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a new port: the transfer ID
        transfer.bind((address, 0))
        transfer.settimeout(2)
        block = 1
        while not stop.is_set():
            transfer.sendto(struct.pack("!HH", 3, block) + b"x" * 512, peer)
            try:
                transfer.recvfrom(64)  # the ACK
            except OSError:
                break
            block = block % 65535 + 1
            time.sleep(0.5)
        transfer.close()

    threading.Thread(target=serve, daemon=True).start()
    t0 = time.monotonic()
    try:
        answer = ask(_guard(address), address, PORT, TIMEOUT)
    finally:
        stop.set()
        listener.close()
    assert answer.outcome == "answered" and "cut after" in answer.detail, answer
    assert time.monotonic() - t0 < exchange_deadline(TIMEOUT) + 1.5
