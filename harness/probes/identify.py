"""Guess the protocol of an open port nobody declared, from what it says first (or answers to
an HTTP request), so the credential checks can try it too. Bounded: one or two short
connections per port, a second or two each."""

from __future__ import annotations

import ssl

from harness.scope import ScopeGuard


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
    if first.startswith(b"SSH-"):
        return "ssh"
    if first[:1] == b"\xff" or b"login:" in first.lower():
        return "telnet"
    if first.startswith(b"220"):
        return "ftp"
    if first:
        return None
    # silent until spoken to: try HTTP in clear, then inside TLS
    try:
        with guard.tcp(address, port, timeout) as sock:
            sock.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            if sock.recv(16).startswith(b"HTTP/"):
                return "http"
    except OSError:
        pass
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("ALL:@SECLEVEL=0")
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
