"""Guess the protocol of an open port nobody declared, from what it says first (or answers to
an HTTP request), so the credential checks can try it too. Bounded: one or two short
connections per port, a second or two each."""

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
    return _inside_tls(guard, address, port, timeout) or ("http" if clear.startswith(b"HTTP/") else None)


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
