"""SSH probes (paramiko), over sockets the scope guard hands out.

paramiko is driven at the Transport level rather than through SSHClient so that the socket is
ours (the guard's), the server's offer and host key are recorded before any password is sent,
and every wait is bounded.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field

import paramiko

from harness.scope import ScopeGuard

# paramiko logs failed handshakes with tracebacks at ERROR; our evidence says what happened.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


class SshUnreachable(Exception):
    """No SSH conversation was possible (closed port, timeout, garbage instead of a banner)."""


@dataclass
class SshServerInfo:
    banner: str
    host_key_type: str
    host_key_fingerprint: str
    auth_methods: list[str] = field(default_factory=list)

    @property
    def password_offered(self) -> bool:
        return "password" in self.auth_methods or "keyboard-interactive" in self.auth_methods


@dataclass
class LoginAttempt:
    username: str
    accepted: bool
    detail: str
    seconds: float


def _transport(guard: ScopeGuard, sock: socket.socket, timeout: float) -> paramiko.Transport:
    t = paramiko.Transport(sock)
    t.banner_timeout = timeout
    t.auth_timeout = timeout
    t.handshake_timeout = timeout
    try:
        t.start_client(timeout=timeout)
    except (paramiko.SSHException, EOFError, OSError) as e:
        t.close()
        raise SshUnreachable(f"SSH handshake failed: {e or type(e).__name__}") from None
    # start_client returns quietly when its timeout expires: a silent service lands here
    if not t.is_active() or getattr(t, "host_key", None) is None:
        t.close()
        raise SshUnreachable(f"SSH handshake failed: no banner or key exchange within {timeout:g}s")
    return t


def server_info(guard: ScopeGuard, address: str, port: int, timeout: float = 5.0) -> SshServerInfo:
    """Banner, host key and the authentication methods offered (from a 'none' auth request)."""
    try:
        with guard.tcp(address, port, timeout) as sock:
            t = _transport(guard, sock, timeout)
            try:
                key = t.get_remote_server_key()
                methods: list[str] = []
                try:
                    t.auth_none("harness-probe")
                    methods = ["none"]
                except paramiko.BadAuthenticationType as e:
                    methods = list(e.allowed_types)
                except paramiko.AuthenticationException:
                    methods = []
                return SshServerInfo(
                    banner=t.remote_version or "",
                    host_key_type=key.get_name(),
                    host_key_fingerprint=key.fingerprint,
                    auth_methods=methods,
                )
            finally:
                t.close()
    except OSError as e:
        raise SshUnreachable(f"cannot connect to {address}:{port}: {e.strerror or e}") from None


def try_password(
    guard: ScopeGuard, address: str, port: int, username: str, password: str, timeout: float = 5.0
) -> LoginAttempt:
    """One login attempt on a fresh connection; keyboard-interactive is used if password is not."""
    t0 = time.monotonic()
    try:
        with guard.tcp(address, port, timeout) as sock:
            t = _transport(guard, sock, timeout)
            try:
                t.auth_password(username, password, fallback=True)
                ok = t.is_authenticated()
                detail = "authenticated" if ok else "not authenticated"
            except paramiko.BadAuthenticationType as e:
                ok, detail = False, f"password authentication not offered (allowed: {', '.join(e.allowed_types)})"
            except paramiko.AuthenticationException:
                ok, detail = False, "rejected"
            except (paramiko.SSHException, EOFError, OSError) as e:
                ok, detail = False, f"connection failed during authentication: {e or type(e).__name__}"
            finally:
                t.close()
    except OSError as e:
        raise SshUnreachable(f"cannot connect to {address}:{port}: {e.strerror or e}") from None
    return LoginAttempt(username, ok, detail, round(time.monotonic() - t0, 3))
