"""FTP login probe (ftplib): anonymous and username/password logins."""

from __future__ import annotations

import ftplib
import time

from harness.observation.probes.login import Access, Attempt, Unreachable, declared_class
from harness.observation.scope import ScopeGuard, exchange_deadline, exchange_overran

CRITERION = "the server answers 230 to PASS"


class FtpLoginProbe:
    protocol = "ftp"
    criterion = CRITERION
    probe_class = "auth"

    def __init__(self, guard: ScopeGuard, address: str, port: int, timeout: float = 5.0) -> None:
        self.guard, self.address, self.port, self.timeout = guard, address, port, timeout
        self._banner: str | None = None

    def _login(self, username: str, password: str) -> tuple[bool, str]:
        with self.guard.slot(self.address, self.port, self.timeout):
            # servers delay failed logins on purpose (pyftpdlib 3 s, vsftpd 1 s): allow for it
            ftp = ftplib.FTP(timeout=self.timeout + 5)
            try:
                self._banner = ftp.connect(self.address, self.port)
            except (OSError, EOFError, ftplib.Error, UnicodeDecodeError) as e:  # bytes that are not FTP: no verdict
                if exchange_overran():
                    raise Unreachable(f"{self.address}:{self.port}: no complete FTP greeting within "
                                      f"{exchange_deadline(self.timeout):g}s") from None
                raise Unreachable(f"cannot connect to {self.address}:{self.port}: {type(e).__name__}: "
                                  f"{str(e)[:200]}") from None
            try:
                reply = ftp.login(username, password)
                return reply.startswith("230"), reply
            except ftplib.error_perm as e:
                return False, str(e)
            except (OSError, EOFError, ftplib.Error, UnicodeDecodeError) as e:
                late = " (its deadline passed)" if exchange_overran() else ""
                raise Unreachable(f"FTP login dialogue broke off{late}: {type(e).__name__}: {str(e)[:200]}") from None
            finally:
                ftp.close()

    def fingerprint(self) -> dict[str, str]:
        if self._banner is None:
            self._login("anonymous", "anonymous@")
        return {"banner": self._banner or ""}

    def not_applicable(self) -> str | None:
        return None

    def anonymous_access(self) -> Access:
        ok, reply = self._login("anonymous", "anonymous@")
        return Access(not ok, f"anonymous login {'accepted' if ok else 'refused'}: {reply}")

    @declared_class
    def attempt(self, username: str, password: str) -> Attempt:
        t0 = time.monotonic()
        ok, reply = self._login(username, password)
        return Attempt(username, ok, reply.splitlines()[0][:120], round(time.monotonic() - t0, 3))


def login_probe(guard: ScopeGuard, address: str, service, timeout: float) -> FtpLoginProbe:
    """The entry the protocol table names (harness/observation/protocols.py)."""
    return FtpLoginProbe(guard, address, service.port, timeout)
