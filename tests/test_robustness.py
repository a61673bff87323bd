"""Hung, garbage-speaking and closed services give INCONCLUSIVE with the reason, within a bound."""

import contextlib
import json
import socket
import textwrap
import threading
import time

import pytest

from tests.conftest import harness

ADDR = "127.0.0.77"


def serve(kind: str, stop: threading.Event) -> int:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ADDR, 0))
    port = srv.getsockname()[1]
    if kind == "closed":
        srv.close()
        return port
    srv.listen(8)
    srv.settimeout(0.2)

    def loop():
        conns = []
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except TimeoutError:
                continue
            conns.append(c)
            if kind == "garbage":
                with contextlib.suppress(OSError):  # the client may hang up first
                    c.sendall(b"\x00\xff\xfeHELLO THIS IS NOT SSH\r\n" * 3)
                c.close()
            # "silent": accept and never say a word
        for c in conns:
            c.close()
        srv.close()

    threading.Thread(target=loop, daemon=True).start()
    return port


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("silent", "SSH handshake failed"),
        ("garbage", "SSH handshake failed"),
        ("closed", "Connection refused"),
    ],
)
def test_misbehaving_ssh_service_is_inconclusive_not_hung(tmp_path, kind, expected):
    stop = threading.Event()
    port = serve(kind, stop)
    try:
        prof = tmp_path / "p.yaml"
        prof.write_text(textwrap.dedent(f"""
            identity: {{vendor: V, model: M, firmware_version: "1"}}
            units: [{{name: u1, address: {ADDR}}}]
            services: [{{name: ssh, port: {port}, protocol: ssh, purpose: maintenance, authentication: password}}]
            credentials: {{kind: unique-per-unit}}
            schemes: [jc-star-1]
            limits: {{connect_timeout_s: 2}}
        """))
        t0 = time.monotonic()
        r = harness("run", "--profile", str(prof), "--out", str(tmp_path / "b"), timeout=120)
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    case = next(c for c in res["cases"] if c["id"].startswith("credentials.default_password["))
    assert case["verdict"] == "INCONCLUSIVE", (case, r.stderr)
    assert expected in case["reason"]
    assert case["duration_s"] < 15, "a misbehaving service must not stall the case"
    assert elapsed < 110


def test_telnet_device_sending_garbage_is_inconclusive_through_the_cli(tmp_path):
    stop = threading.Event()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ADDR, 0))
    srv.listen(8)
    srv.settimeout(0.2)
    port = srv.getsockname()[1]

    def loop():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except TimeoutError:
                continue
            with contextlib.suppress(OSError), c:
                c.sendall(bytes([255, 253, 24]) + b"\x1b[0m\x00\xfe\xfd NOISE " * 40)
                time.sleep(3)
        srv.close()

    threading.Thread(target=loop, daemon=True).start()
    try:
        prof = tmp_path / "p.yaml"
        prof.write_text(textwrap.dedent(f"""
            identity: {{vendor: V, model: M, firmware_version: "1"}}
            units: [{{name: u1, address: {ADDR}}}]
            services: [{{name: console, port: {port}, protocol: telnet, purpose: debug, authentication: password}}]
            credentials: {{kind: unique-per-unit}}
            schemes: [jc-star-1]
            limits: {{connect_timeout_s: 2}}
        """))
        harness("run", "--profile", str(prof), "--out", str(tmp_path / "b"), timeout=120)
    finally:
        stop.set()
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    cases = {c["id"].split("[")[0]: c for c in res["cases"]}
    case = cases["credentials.default_password"]
    assert case["verdict"] == "INCONCLUSIVE" and "no login attempt completed" in case["reason"]
    assert case["duration_s"] < 20
    assert cases["credentials.no_unauthenticated_access"]["verdict"] == "INCONCLUSIVE"
