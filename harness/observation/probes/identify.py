"""Guess the protocol of an open port nobody declared, from what it says first (or answers to
an HTTP request, a TLS handshake or an MQTT CONNECT), so the credential checks can try it too.
Bounded: a few short connections per port, a second or two each."""

from __future__ import annotations

import ssl

from harness.observation.probes.tls import probing_context
from harness.observation.protocols import by_greeting
from harness.observation.scope import ScopeGuard


def _greeting(guard: ScopeGuard, address: str, port: int, timeout: float) -> bytes:
    with guard.tcp(address, port, timeout) as sock:
        sock.settimeout(timeout)
        try:
            return sock.recv(512)
        except (TimeoutError, OSError):
            return b""


def identify(guard: ScopeGuard, address: str, port: int, timeout: float = 2.0) -> str | None:
    try:
        first = _greeting(guard, address, port, timeout)
    except OSError:
        return None
    if first:
        return by_greeting(first)  # the greetings are kept in the protocol table
    # silent until spoken to: try HTTP in clear, then inside TLS. A TLS server may answer the
    # clear request in clear (nginx: "400 The plain HTTP request was sent to HTTPS port"), so a
    # 400 is not taken as plain HTTP until a TLS handshake on the same port has failed.
    clear: bytes = b""
    try:
        with guard.tcp(address, port, timeout) as sock:
            sock.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            clear = sock.recv(16)
    except OSError:
        pass
    if clear.startswith(b"HTTP/") and clear[9:12] != b"400":
        return "http"
    inside = _inside_tls(guard, address, port, timeout)
    if clear.startswith(b"HTTP/"):
        return inside or "http"
    if inside == "tls":
        return "mqtts" if _mqtt_connack(guard, address, port, timeout, tls=True) else "tls"
    if inside:
        return inside
    return "mqtt" if _mqtt_connack(guard, address, port, timeout, tls=False) else None


def _mqtt_connect() -> bytes:
    """An MQTT 3.1.1 CONNECT with no credentials (what any client sends first): clean session,
    a 10 s keep-alive, a client id that names the harness."""
    client = b"iot-label-harness-identify"
    variable = b"\x00\x04MQTT\x04\x02\x00\x0a"
    payload = len(client).to_bytes(2, "big") + client
    body = variable + payload
    return bytes([0x10, len(body)]) + body


def _mqtt_connack(guard: ScopeGuard, address: str, port: int, timeout: float, tls: bool) -> bool:
    """A broker answers CONNECT with CONNACK (0x20, remaining length 2), whatever its return code:
    an MQTT broker stays silent until a client speaks, so it has no greeting to know it by."""
    try:
        with guard.tcp(address, port, timeout) as sock:
            sock.settimeout(timeout)
            conn = probing_context().wrap_socket(sock) if tls else sock
            with conn:
                conn.sendall(_mqtt_connect())
                answer = conn.recv(4)
    except (TimeoutError, OSError, ssl.SSLError):
        return False
    return answer[:2] == b"\x20\x02"


def _inside_tls(guard: ScopeGuard, address: str, port: int, timeout: float) -> str | None:
    ctx = probing_context()  # a legacy-only device is TLS too
    try:
        with guard.tcp(address, port, timeout) as sock, ctx.wrap_socket(sock) as tls:
            # the handshake succeeded: it speaks TLS, whatever happens to the request inside it
            try:
                tls.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
                return "https" if tls.recv(16).startswith(b"HTTP/") else "tls"
            except (TimeoutError, OSError):
                return "tls"
    except (TimeoutError, OSError, ssl.SSLError):
        return None
