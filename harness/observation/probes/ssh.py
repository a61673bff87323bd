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
from pathlib import Path

import paramiko

from harness.observation.probes.login import Access, Attempt, Unreachable, declared_class
from harness.observation.scope import ScopeGuard

# paramiko logs failed handshakes with tracebacks at ERROR; our evidence says what happened.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


class SshUnreachable(Unreachable):
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
) -> Attempt:
    """One login attempt on a fresh connection; keyboard-interactive is used if password is not.
    A connection that breaks during authentication decides nothing (accepted None)."""
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
                ok, detail = None, f"connection failed during authentication: {e or type(e).__name__}"
            finally:
                t.close()
    except OSError as e:
        raise SshUnreachable(f"cannot connect to {address}:{port}: {e.strerror or e}") from None
    return Attempt(username, ok, detail, round(time.monotonic() - t0, 3))


CRITERION = "the server answers SSH_MSG_USERAUTH_SUCCESS to a password (or keyboard-interactive) request"


class SshLoginProbe:
    protocol = "ssh"
    criterion = CRITERION
    probe_class = "auth"

    def __init__(self, guard: ScopeGuard, address: str, port: int, timeout: float = 5.0) -> None:
        self.guard, self.address, self.port, self.timeout = guard, address, port, timeout
        self._info: SshServerInfo | None = None

    def info(self) -> SshServerInfo:
        if self._info is None:
            self._info = server_info(self.guard, self.address, self.port, self.timeout)
        return self._info

    def fingerprint(self) -> dict[str, str]:
        i = self.info()
        return {"banner": i.banner, "methods": ",".join(i.auth_methods),
                "host_key": f"{i.host_key_type} {i.host_key_fingerprint}"}

    def not_applicable(self) -> str | None:
        i = self.info()
        if i.password_offered:
            return None
        return f"the service does not offer password authentication (offers: {', '.join(i.auth_methods) or 'nothing'})"

    def anonymous_access(self) -> Access:
        i = self.info()
        if "none" in i.auth_methods:
            return Access(False, "the server accepts the 'none' authentication method: no credentials needed")
        return Access(True, f"'none' authentication refused; the server asks for: {', '.join(i.auth_methods)}")

    @declared_class
    def attempt(self, username: str, password: str) -> Attempt:
        return try_password(self.guard, self.address, self.port, username, password, self.timeout)


@dataclass
class CommandResult:
    exit_status: int | None
    stdout: str
    stderr: str


MAX_COMMAND_OUTPUT = 1 << 20  # a version or a password prompt: a device that floods is stopped here


class KeyFileError(LookupError):
    """A test account's private key file cannot be used (missing, encrypted, not a key)."""


MAX_KEY_FILE_BYTES = 64 << 10


def load_private_key(path: Path) -> paramiko.PKey:
    """The test account's private key, read once and kept in memory only. Encrypted keys are
    refused rather than prompted for: a run has no terminal and no passphrase store."""
    try:
        if not path.is_file():
            raise KeyFileError(f"private key file {path} does not exist or is not a regular file")
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise KeyFileError(f"private key file {path} is larger than {MAX_KEY_FILE_BYTES} bytes; is it a key?")
        return paramiko.PKey.from_path(path)
    except (paramiko.PasswordRequiredException, TypeError):  # cryptography's TypeError: "password-protected"
        raise KeyFileError(f"private key file {path} is encrypted; give the test account an unencrypted key "
                           "(the run cannot ask for a passphrase)") from None
    except (paramiko.SSHException, ValueError, UnicodeDecodeError) as e:
        raise KeyFileError(f"private key file {path} is not an SSH private key paramiko can read: {e}") from None
    except OSError as e:
        raise KeyFileError(f"private key file {path}: {e.strerror}") from None


def run_command(
    guard: ScopeGuard, address: str, port: int, username: str, password: str | None, command: str,
    stdin: str = "", timeout: float = 10.0, key: paramiko.PKey | None = None,
) -> CommandResult:
    """Log in with a password (or the account's private `key`) and run one command, feeding it
    `stdin`; bounded by `timeout`. It may change the device (a password change), so it is a probe
    of class `intrusive`."""
    if (password is None) == (key is None):
        raise ValueError("run_command logs in with a password or a key: give exactly one")
    with guard.probe_class("intrusive"), guard.tcp(address, port, timeout) as sock:
        t = _transport(guard, sock, timeout)
        try:
            if key is not None:
                t.auth_publickey(username, key)
            else:
                t.auth_password(username, password, fallback=True)
            ch = t.open_session(timeout=timeout)
            ch.settimeout(timeout)
            ch.exec_command(command)
            if stdin:
                try:
                    ch.sendall(stdin.encode())
                except OSError:
                    # a command may end without reading what it was given (a procedure that asks
                    # nothing): the channel closes under the write, and its exit still says what
                    # happened; anything else is a broken exchange
                    if not ch.closed:
                        raise
            ch.shutdown_write()
            out, err = b"", b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if len(out) + len(err) > MAX_COMMAND_OUTPUT:
                    raise SshUnreachable(f"{command!r} wrote more than {MAX_COMMAND_OUTPUT} bytes; not read further")
                if ch.recv_ready():
                    out += ch.recv(65536)
                elif ch.recv_stderr_ready():
                    err += ch.recv_stderr(65536)
                elif ch.exit_status_ready():
                    break
                else:
                    time.sleep(0.05)
            if not ch.exit_status_ready():
                raise SshUnreachable(f"{command!r} did not finish within {timeout:g}s")
            # paramiko reports a channel closed with no exit-status as -1: the device said nothing
            status = ch.exit_status if ch.exit_status >= 0 else None
            while ch.recv_ready() and len(out) <= MAX_COMMAND_OUTPUT:
                out += ch.recv(65536)
            while ch.recv_stderr_ready() and len(err) <= MAX_COMMAND_OUTPUT:
                err += ch.recv_stderr(65536)
            return CommandResult(status, out.decode(errors="replace"), err.decode(errors="replace"))
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise SshUnreachable(f"running {command!r} over SSH failed: {e or type(e).__name__}") from None
        finally:
            t.close()


def login_probe(guard: ScopeGuard, address: str, service, timeout: float) -> SshLoginProbe:
    """The entry the protocol table names (harness/observation/protocols.py)."""
    return SshLoginProbe(guard, address, service.port, timeout)
