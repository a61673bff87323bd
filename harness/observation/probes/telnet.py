"""Telnet login probe.

Written by hand: the standard library's telnetlib is deprecated (PEP 594) and gone in Python
3.13, and no maintained library drives a login dialogue with bounded waits. This client refuses
every option the device asks for (enough for a login prompt), strips negotiation from what it
reads, caps how much it reads, and gives up at a deadline, so a device that sends garbage,
never prompts or hangs up mid-login yields a reason instead of a hang.
"""

from __future__ import annotations

import re
import socket
import time

from harness.observation.probes.login import Access, Attempt, Unreachable, declared_class
from harness.observation.scope import ScopeGuard

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
MAX_READ = 64 * 1024

LOGIN = re.compile(rb"(login|username|user name)\s*:\s*$", re.IGNORECASE)
PASSWORD = re.compile(rb"password\s*:\s*$", re.IGNORECASE)
SHELL = re.compile(rb"[$#>]\s*$")
FAILED = re.compile(rb"incorrect|invalid|failed|denied|bad password", re.IGNORECASE)
CRITERION = "after the password the device shows a shell prompt ($, # or >), not a login prompt or 'incorrect'"


class TelnetSession:
    """Reads with option negotiation refused; all waits bounded by deadlines."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.text = b""  # everything shown so far, negotiation removed
        self.closed = False
        self._total = 0

    def _feed(self, data: bytes) -> None:
        out, reply, i = bytearray(), bytearray(), 0
        while i < len(data):
            b = data[i]
            if b != IAC or i + 1 >= len(data):
                out.append(b)
                i += 1
                continue
            cmd = data[i + 1]
            if cmd in (DO, DONT, WILL, WONT) and i + 2 < len(data):
                if cmd in (DO, WILL):  # refuse everything: no echo games, no terminal types
                    reply += bytes([IAC, WONT if cmd == DO else DONT, data[i + 2]])
                i += 3
            elif cmd == SB:
                end = data.find(bytes([IAC, SE]), i + 2)
                i = len(data) if end < 0 else end + 2
            elif cmd == IAC:
                out.append(IAC)
                i += 2
            else:
                i += 2
        if reply:
            self.sock.sendall(bytes(reply))
        self.text += bytes(out)

    def wait_for(self, patterns: list[re.Pattern], timeout: float) -> re.Pattern | None:
        """The first pattern found at the end of the shown text, or None at the deadline/close."""
        deadline = time.monotonic() + timeout
        start = len(self.text)
        while True:
            tail = self.text[start:].rstrip(b"\0")
            for p in patterns:
                if p.search(tail):
                    return p
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed or self._total > MAX_READ:
                return None
            self.sock.settimeout(min(remaining, 1.0))
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                self.closed = True
                return None
            if not data:
                self.closed = True
                continue
            self._total += len(data)
            self._feed(data)

    def send_line(self, line: str) -> None:
        self.sock.sendall(line.encode(errors="replace") + b"\r\n")

    def shown(self, limit: int = 160) -> str:
        """The last bytes the device sent, printable: text as it is, anything else escaped (a
        report must not carry a hostile device's raw control bytes), and how many were binary."""
        tail = self.text[-limit:]
        text = tail.decode("ascii", errors="backslashreplace")
        binary = sum(1 for b in tail if b >= 0x7F or (b < 0x20 and b not in (9, 10, 13)))
        return text if not binary else f"{text} [{binary} of {len(tail)} bytes not text]"


class TelnetLogin:
    protocol = "telnet"
    criterion = CRITERION
    probe_class = "auth"

    def __init__(self, guard: ScopeGuard, address: str, port: int, timeout: float = 5.0) -> None:
        self.guard, self.address, self.port, self.timeout = guard, address, port, timeout
        self._banner: str | None = None

    def _first_prompt(self, sess: TelnetSession) -> re.Pattern | None:
        found = sess.wait_for([LOGIN, PASSWORD, SHELL], self.timeout)
        self._banner = sess.shown(200)
        return found

    def fingerprint(self) -> dict[str, str]:
        if self._banner is None:
            try:
                with self.guard.tcp(self.address, self.port, self.timeout) as sock:
                    self._first_prompt(TelnetSession(sock))
            except OSError as e:
                raise Unreachable(f"cannot connect to {self.address}:{self.port}: {e.strerror or e}") from None
        return {"banner": self._banner or ""}

    def not_applicable(self) -> str | None:
        return None

    def anonymous_access(self) -> Access:
        try:
            with self.guard.tcp(self.address, self.port, self.timeout) as sock:
                sess = TelnetSession(sock)
                found = self._first_prompt(sess)
        except OSError as e:
            raise Unreachable(f"cannot connect to {self.address}:{self.port}: {e.strerror or e}") from None
        if found is SHELL:
            return Access(False, f"a shell prompt appears without any login: {sess.shown()!r}")
        if found in (LOGIN, PASSWORD):
            return Access(True, "the service asks for a login before anything else")
        return Access(None, f"no login or shell prompt within {self.timeout:g}s; device sent {sess.shown(80)!r}")

    @declared_class
    def attempt(self, username: str, password: str) -> Attempt:
        t0 = time.monotonic()

        def result(accepted: bool | None, detail: str) -> Attempt:
            return Attempt(username, accepted, detail, round(time.monotonic() - t0, 3))

        try:
            with self.guard.tcp(self.address, self.port, self.timeout) as sock:
                sess = TelnetSession(sock)
                found = self._first_prompt(sess)
                if found is SHELL:
                    return result(True, "shell prompt without any login")
                if found is None:
                    why = "closed the connection" if sess.closed else f"showed no login prompt within {self.timeout:g}s"
                    return result(None, f"device {why}; it sent {sess.shown(80)!r}")
                if found is LOGIN:
                    sess.send_line(username)
                    found = sess.wait_for([PASSWORD, SHELL, FAILED, LOGIN], self.timeout)
                    if found is SHELL:
                        return result(True, "shell prompt after the user name alone")
                    if found is not PASSWORD:
                        return result(None, f"no password prompt after the user name; device sent {sess.shown(80)!r}")
                sess.send_line(password)
                # failed logins are often delayed on purpose (busybox: 3 s): wait longer for the verdict
                found = sess.wait_for([SHELL, FAILED, LOGIN], self.timeout + 5)
                if found is SHELL:
                    return result(True, "shell prompt after the password")
                if found in (FAILED, LOGIN):
                    return result(False, "rejected")
                if sess.closed:
                    # devices hang up on failed logins (busybox does for a locked account): no shell, no entry
                    return result(False, "rejected: the device hung up after the password without giving a shell")
                return result(None, f"no verdict within {self.timeout + 5:g}s; device sent {sess.shown(80)!r}")
        except OSError as e:
            raise Unreachable(f"cannot connect to {self.address}:{self.port}: {e.strerror or e}") from None


def login_probe(guard: ScopeGuard, address: str, service, timeout: float) -> TelnetLogin:
    """The entry the protocol table names (harness/observation/protocols.py)."""
    return TelnetLogin(guard, address, service.port, timeout)
