"""Telnet login probe.

The telnet protocol work is telnetlib3's: its blocking `Telnet` class (the standard library's
client, kept maintained there since Python 3.13 removed `telnetlib`) parses the byte stream
with a state machine that survives option sequences split across reads, subnegotiations and
doubled IAC bytes, and refuses every option the device asks for (WONT/DONT), which is all a
login prompt needs. What stays here is the login dialogue and its bounds: the class is driven
one `recv` at a time, so this module, not the library, holds the wall-clock deadline and the
byte cap (the class's own `read_*`/`expect` loop for as long as bytes flow, and re-search the
whole text on each one, so an endless banner would cost minutes of CPU and unbounded memory).

telnetlib3's asyncio client is not used: it connects on an event-loop thread of its own, out of
reach of the scope guard's per-thread deadline, and by default answers terminal-type,
window-size and environment options with the operator's TERM and LANG, which a probe has no
business telling a device.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from harness.observation.probes.login import Access, Attempt, Unreachable, declared_class
from harness.observation.scope import ScopeGuard, exchange_overran

MAX_READ = 64 * 1024

LOGIN = re.compile(rb"(login|username|user name)\s*:\s*$", re.IGNORECASE)
PASSWORD = re.compile(rb"password\s*:\s*$", re.IGNORECASE)
# a shell prompt is a line of text ending in $, # or >: no control bytes but escape sequences (a
# coloured PS1), and only in a session whose output reads as text, so random bytes that happen
# to end in '#' are never taken for a shell
SHELL = re.compile(rb"^(?:[^\x00-\x1f\x7f]|\x1b)*[$#>][ \t]*$")
# not text: the C0 controls but BEL, BS, TAB, LF, VT, FF, CR and ESC
CONTROL = re.compile(rb"[\x00-\x06\x0e-\x1a\x1c-\x1f\x7f]")
FAILED = re.compile(rb"incorrect|invalid|failed|denied|bad password", re.IGNORECASE)
CRITERION = "after the password the device shows a shell prompt ($, # or >), not a login prompt or 'incorrect'"


class TelnetSession:
    """One telnet connection read with bounded waits; `text` is what the device showed."""

    def __init__(self, client) -> None:  # a telnetlib3.Telnet, connected
        self.client = client
        self.text = b""  # everything shown so far, negotiation removed
        self.closed = False
        self.cut = False  # the exchange reached its deadline or the byte cap: what follows is not an answer
        self._total = 0
        self._controls = 0

    @property
    def garbled(self) -> bool:
        """More than a few control bytes, and over 5% of what was shown: not a text dialogue."""
        return self._controls > 8 and self._controls * 20 > len(self.text)

    def _matches(self, pattern: re.Pattern, window: bytes, recent: bytes) -> bool:
        if pattern is not SHELL:
            return pattern.search(window) is not None
        if self.garbled:
            return False
        last_line = re.split(rb"[\r\n]", recent)[-1]
        return SHELL.search(last_line) is not None

    def _step(self, wait: float) -> None:
        """One recv through the library's parser; negotiation answered, subnegotiation dropped."""
        client = self.client
        client.sock.settimeout(wait)
        before = len(client.rawq) - client.irawq
        try:
            client.fill_rawq()
        except TimeoutError:
            return
        except OSError:
            self.closed = True
            return
        self._total += len(client.rawq) - client.irawq - before
        try:
            client.process_rawq()
        except OSError:  # its answer to an option could not be sent: the device is gone
            self.closed = True
        client.read_sb_data()  # we never agreed to an option, so no subnegotiation is kept
        with suppress(EOFError):
            shown = client.read_very_lazy()
            self._controls += len(CONTROL.findall(shown))
            self.text += shown
        if client.eof:
            self.closed = True

    def wait_for(self, patterns: list[re.Pattern], timeout: float) -> re.Pattern | None:
        """The first pattern found at the end of the shown text, or None at the deadline/close."""
        deadline = time.monotonic() + timeout
        start = scanned = len(self.text)
        while True:
            # only what arrived since the last look (and a little before it) is searched again
            window = self.text[max(start, scanned - 64):].rstrip(b"\0")
            recent = self.text[max(start, len(self.text) - 1024):]  # holds the last line, whole
            scanned = len(self.text)
            for p in patterns:
                if self._matches(p, window, recent):
                    return p
            if self._total > MAX_READ or exchange_overran():
                self.cut = True
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                return None
            self._step(min(remaining, 1.0))

    def cut_reason(self) -> str:
        if self._total > MAX_READ:
            return f"cut off after {self._total} bytes (cap {MAX_READ}) without a verdict"
        return "cut off at the exchange's deadline without a verdict"

    def send_line(self, line: str) -> None:
        self.client.write(line.encode(errors="replace") + b"\r\n")

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

    @contextmanager
    def _session(self) -> Iterator[TelnetSession]:
        from telnetlib3 import Telnet  # its package imports the whole asyncio client: only when used

        with self.guard.slot(self.address, self.port, self.timeout) as ip, \
                Telnet(ip, self.port, self.timeout) as client:
            yield TelnetSession(client)

    def _first_prompt(self, sess: TelnetSession) -> re.Pattern | None:
        found = sess.wait_for([LOGIN, PASSWORD, SHELL], self.timeout)
        self._banner = sess.shown(200)
        return found

    def fingerprint(self) -> dict[str, str]:
        if self._banner is None:
            try:
                with self._session() as sess:
                    self._first_prompt(sess)
            except OSError as e:
                raise Unreachable(f"cannot connect to {self.address}:{self.port}: {e.strerror or e}") from None
        return {"banner": self._banner or ""}

    def not_applicable(self) -> str | None:
        return None

    def anonymous_access(self) -> Access:
        try:
            with self._session() as sess:
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
            with self._session() as sess:
                found = self._first_prompt(sess)
                if found is SHELL:
                    return result(True, "shell prompt without any login")
                if found is None:
                    why = ("closed the connection" if sess.closed and not sess.cut
                           else f"showed no login prompt within {self.timeout:g}s")
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
                if sess.cut:  # a hang-up by our own deadline is not the device refusing the password
                    return result(None, f"{sess.cut_reason()}; device sent {sess.shown(80)!r}")
                if sess.closed:
                    # devices hang up on failed logins (busybox does for a locked account): no shell, no entry
                    return result(False, "rejected: the device hung up after the password without giving a shell")
                return result(None, f"no verdict within {self.timeout + 5:g}s; device sent {sess.shown(80)!r}")
        except OSError as e:
            raise Unreachable(f"cannot connect to {self.address}:{self.port}: {e.strerror or e}") from None


def login_probe(guard: ScopeGuard, address: str, service, timeout: float) -> TelnetLogin:
    """The entry the protocol table names (harness/observation/protocols.py)."""
    return TelnetLogin(guard, address, service.port, timeout)
