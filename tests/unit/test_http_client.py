"""The one HTTP exchange of the web probes, against loopback servers that a lab daemon would not
imitate: a TLS 1.0-only server with a static-RSA suite (the issue's legacy admin), a body far past
the byte cap, a body that drips. Each is reached or bounded, never hung or read whole."""

from __future__ import annotations

import contextlib
import ssl
import time
import warnings

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from harness.observation.certificates import issue, name, new_key, validity
from harness.observation.probes.http_client import exchange
from harness.observation.probes.login import Unreachable
from harness.observation.scope import Scope, ScopeGuard
from tests.unit.loopback_server import serve

ADDR = "127.0.0.81"


@pytest.fixture
def guard():
    return ScopeGuard(Scope.build([ADDR]))


def _serve(handler, tls: ssl.SSLContext | None = None) -> int:
    def script(conn):
        conn.recv(4096)  # the request
        handler(conn)

    return serve(ADDR, script, tls, lifetime_s=30)


def _tls10_static_rsa(tmp_path) -> ssl.SSLContext:
    key = new_key("rsa-2048")
    cert = issue(name("legacy.test"), key, **validity(1), san_ips=[ADDR])
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    ctx.set_ciphers("AES128-SHA:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1
    return ctx


def _ok(conn):
    conn.sendall(b'HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm="legacy"\r\n'
                 b"Content-Length: 2\r\n\r\nno")


def test_a_tls10_only_admin_is_reached_where_the_stock_client_is_refused(guard, tmp_path):
    port = _serve(_ok, _tls10_static_rsa(tmp_path))
    with pytest.raises(requests.exceptions.SSLError):  # why the probes need their own client
        requests.get(f"https://{ADDR}:{port}/", verify=False, timeout=3)
    answer = exchange(guard, ADDR, port, True, "GET", "/", timeout=3)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == 'Basic realm="legacy"'
    assert "no certificate check" in answer.tls


def test_a_huge_body_is_read_only_up_to_the_cap(guard):
    def huge(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n")
        chunk = b"x" * 65536
        with contextlib.suppress(OSError):
            for _ in range(1600):
                conn.sendall(chunk)

    answer = exchange(guard, ADDR, _serve(huge), False, "GET", "/", timeout=3, max_bytes=100_000)
    assert answer.truncated and len(answer.content) == 100_000 and answer.status_code == 200


def test_a_dripping_body_ends_at_the_deadline_not_when_the_device_stops(guard):
    def drip(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        with contextlib.suppress(OSError):
            for _ in range(1000):
                conn.sendall(b"x")
                time.sleep(0.5)

    t0 = time.monotonic()
    with pytest.raises(Unreachable, match="did not finish"):
        exchange(guard, ADDR, _serve(drip), False, "GET", "/", timeout=1.0)
    assert time.monotonic() - t0 < 6


@pytest.mark.parametrize("script", ["headers", "endless-headers", "status-line"])
def test_dripping_or_endless_headers_end_at_the_same_deadline(guard, script):
    """urllib3's timeout is per read: a header sent a byte at a time never trips it. The one
    watchdog, started before the request, bounds the headers as it bounds the body."""
    def drip(conn):
        with contextlib.suppress(OSError):
            if script == "status-line":
                for b in b"HTTP/1.1 200 OK":
                    conn.sendall(bytes([b]))
                    time.sleep(0.5)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for i in range(10_000):
                conn.sendall(f"X-{i}: {'y' * 20}\r\n".encode() if script == "endless-headers" else b"X")
                time.sleep(0.01 if script == "endless-headers" else 0.5)

    t0 = time.monotonic()
    with pytest.raises(Unreachable):
        exchange(guard, ADDR, _serve(drip), False, "GET", "/", timeout=1.0)
    assert time.monotonic() - t0 < 4.5  # the deadline (3 s) and no more than a second past it


def test_an_out_of_scope_address_is_refused_before_any_socket(guard):
    from harness.observation.scope import ScopeViolation

    for foreign in ("127.0.0.82", "192.0.2.1"):  # not a target; not even an allowed network
        with pytest.raises(ScopeViolation):
            exchange(guard, foreign, 80, False, "GET", "/", timeout=1)


@pytest.mark.parametrize("environment", ["proxy", "netrc"])
def test_the_environment_neither_diverts_the_exchange_nor_adds_credentials(guard, tmp_path, monkeypatch, environment):
    """A probe talks to the device and nothing else: a proxy named in the environment (CI often
    sets one) is not used, and a .netrc entry for the device's address is never sent to it. The
    stock client would send the request to the proxy, and the operator's netrc password to the
    device as Basic authentication."""
    seen: list[bytes] = []

    def record(conn):
        seen.append(conn.recv(4096))
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")

    port = serve(ADDR, record, lifetime_s=30)
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {ADDR} login operator password netrc-secret-7\n")
    netrc.chmod(0o600)
    if environment == "proxy":
        for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.setenv(var, f"http://{ADDR}:1")  # in scope, and refused: a used proxy fails the exchange
    else:
        monkeypatch.setenv("NETRC", str(netrc))
    answer = exchange(guard, ADDR, port, False, "GET", "/status", timeout=3)
    assert answer.status_code == 200 and answer.content == b"ok"
    request = seen[0].decode()
    assert request.startswith("GET /status HTTP/1.1\r\n")  # origin form: sent to the device itself
    assert "authorization" not in request.lower() and "netrc-secret-7" not in request
