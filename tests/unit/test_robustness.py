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
CLOSED_ADDR = "127.0.0.78"  # nothing ever listens there: a closed port stays closed while other runs bind


def _ssh_garbage(c: socket.socket) -> None:
    c.sendall(b"\x00\xff\xfeHELLO THIS IS NOT SSH\r\n" * 3)
    c.close()


def _telnet_noise(c: socket.socket) -> None:
    c.sendall(bytes([255, 253, 24]) + b"\x1b[0m\x00\xfe\xfd NOISE " * 40)
    time.sleep(3)
    c.close()


BEHAVIOUR = {"silent": None, "garbage": _ssh_garbage, "telnet-noise": _telnet_noise}


def _behave(behave, c: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the client may hang up first
        behave(c)


def serve(kind: str, stop: threading.Event) -> int:
    """A misbehaving service on loopback until `stop`: silent, garbage-speaking, or closed."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((CLOSED_ADDR if kind == "closed" else ADDR, 0))
    port = srv.getsockname()[1]
    if kind == "closed":
        srv.close()
        return port
    srv.listen(8)
    srv.settimeout(0.2)
    behave = BEHAVIOUR[kind]

    def loop():
        conns = []
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except TimeoutError:
                continue
            conns.append(c)
            if behave:  # each connection on its own: a slow one must not keep the next from being accepted
                threading.Thread(target=_behave, args=(behave, c), daemon=True).start()
        for c in conns:
            c.close()
        srv.close()

    threading.Thread(target=loop, daemon=True).start()
    return port


def run_against(kind: str, protocol: str, tmp_path):
    """Assess a one-service device whose service misbehaves as `kind`; results and the process."""
    stop = threading.Event()
    port = serve(kind, stop)
    try:
        prof = tmp_path / "p.yaml"
        prof.write_text(textwrap.dedent(f"""
            identity: {{vendor: V, model: M, firmware_version: "1"}}
            units: [{{name: u1, address: {CLOSED_ADDR if kind == "closed" else ADDR}}}]
            services: [{{name: svc, port: {port}, protocol: {protocol}, purpose: maintenance,
                         authentication: password}}]
            credentials: {{kind: unique-per-unit}}
            schemes: [jc-star-1]
            limits: {{connect_timeout_s: 2}}
        """))
        r = harness("run", "--profile", str(prof), "--out", str(tmp_path / "b"), timeout=120)
    finally:
        stop.set()
    return json.loads((tmp_path / "b" / "results.json").read_text()), r


RUNS = [("silent", "ssh"), ("garbage", "ssh"), ("closed", "ssh"), ("telnet-noise", "telnet"), ("silent", "https"),
        ("tls-garbage", "https"), ("closed", "https")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every misbehaving one-service device assessed once, four at a time (each run waits on its
    service's deadlines, not on the CPU); (kind, protocol) -> (results, process, seconds)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(kind: str, protocol: str, folder):
        t0 = time.monotonic()
        res, r = run_against(kind, protocol, folder)
        return res, r, time.monotonic() - t0

    folders = {key: tmp_path_factory.mktemp(f"{key[0]}-{key[1]}") for key in RUNS}  # not from the threads
    with ThreadPoolExecutor(4) as pool:
        futures = {key: pool.submit(one, *key, folders[key]) for key in RUNS}
        return {key: f.result() for key, f in futures.items()}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("silent", "SSH handshake failed"),
        ("garbage", "SSH handshake failed"),
        ("closed", "Connection refused"),
    ],
)
def test_misbehaving_ssh_service_is_inconclusive_not_hung(runs, kind, expected):
    res, r, elapsed = runs[(kind, "ssh")]
    case = next(c for c in res["cases"] if c["id"].startswith("credentials.default_password["))
    assert case["verdict"] == "INCONCLUSIVE", (case, r.stderr)
    assert expected in case["reason"]
    assert case["duration_s"] < 15, "a misbehaving service must not stall the case"
    assert elapsed < 110


def test_telnet_device_sending_garbage_is_inconclusive_through_the_cli(runs):
    res, _, _ = runs[("telnet-noise", "telnet")]
    cases = {c["id"].split("[")[0]: c for c in res["cases"]}
    case = cases["credentials.default_password"]
    assert case["verdict"] == "INCONCLUSIVE" and "no login attempt completed" in case["reason"]
    assert case["duration_s"] < 20
    assert cases["credentials.no_unauthenticated_access"]["verdict"] == "INCONCLUSIVE"


def _tls_garbage(c: socket.socket) -> None:
    c.recv(512)
    c.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nthis is not TLS\r\n")
    c.close()


BEHAVIOUR["tls-garbage"] = _tls_garbage


@pytest.mark.parametrize(
    ("kind", "protocol", "case", "expected"),
    [
        ("silent", "https", "communication.tls_configuration[", "did not answer a ClientHello within 2s (stalled"),
        ("tls-garbage", "https", "communication.tls_configuration[", "no TLS handshake"),
        ("closed", "https", "communication.tls_configuration[", "Connection refused"),
        ("silent", "ssh", "communication.ssh_algorithms[", "no complete SSH banner and algorithm offer within 2s"),
        ("garbage", "ssh", "communication.ssh_algorithms[", "no SSH version line"),
    ],
)
def test_stalling_tls_or_ssh_audit_is_inconclusive_with_reason(runs, kind, protocol, case, expected):
    res, r, _ = runs[(kind, protocol)]
    found = next(c for c in res["cases"] if c["id"].startswith(case))
    assert found["verdict"] == "INCONCLUSIVE", (found, r.stderr)
    assert expected in found["reason"]
    assert found["duration_s"] < 15, "a stalled handshake must not stall the case"
