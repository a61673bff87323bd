"""HTTP(S) login probe (requests): basic and digest from the server's challenge, form logins as
the profile declares them. TLS is not judged here (certificates are not verified): these checks
are about who gets in, and the TLS checks judge the channel separately."""

from __future__ import annotations

import re
import secrets
import time

from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from harness.declaration.profile import HttpLogin, Protocol, Service, TlsExpectation
from harness.observation.probes.http_client import HttpAnswer, exchange
from harness.observation.probes.login import Attempt, declared_class
from harness.observation.scope import ScopeGuard

TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
REALM = re.compile(r'realm="([^"]*)"', re.IGNORECASE)


class HttpLoginProbe:
    protocol = "http"
    probe_class = "auth"

    def __init__(self, guard: ScopeGuard, address: str, service: Service, timeout: float = 5.0) -> None:
        self.guard, self.address, self.service, self.timeout = guard, address, service, timeout
        tls = service.protocol is Protocol.HTTPS or service.tls is TlsExpectation.REQUIRED
        self.tls = tls
        self.base = f"{'https' if tls else 'http'}://{address}:{service.port}"
        self.path = (service.http_login.path if service.http_login else None) or (service.protected_paths or ["/"])[0]
        self._challenge: HttpAnswer | None = None
        self._wrong_status: int | None = None  # what a random wrong password gets, once it matters

    @property
    def criterion(self) -> str:
        login = self.service.http_login
        if login and login.kind == "form":
            parts = [f"status in {login.success_status}"]
            if login.success_contains:
                parts.append(f"body contains {login.success_contains!r}")
            if login.failure_contains:
                parts.append(f"body does not contain {login.failure_contains!r}")
            return "form login: " + " and ".join(parts)
        return ("the path answers 401 without credentials; with them 2xx/3xx means accepted, 401 refused; any "
                "other status (405, 5xx) means accepted only while a random wrong password still gets 401; "
                "403 cannot be told apart")

    def request(self, method: str, path: str, **kw) -> HttpAnswer:
        return exchange(self.guard, self.address, self.service.port, self.tls, method, path,
                        timeout=self.timeout, **kw)

    def challenge(self) -> HttpAnswer:
        if self._challenge is None:
            self._challenge = self.request("GET", self.path)
        return self._challenge

    def kind(self) -> str:
        if self.service.http_login:
            return self.service.http_login.kind
        scheme = self.challenge().headers.get("WWW-Authenticate", "").split(" ")[0].lower()
        return scheme if scheme in ("basic", "digest") else ""

    def fingerprint(self) -> dict[str, str]:
        r = self.challenge()
        title = TITLE.search(r.text[:65536])
        realm = REALM.search(r.headers.get("WWW-Authenticate", ""))
        return {
            "status": str(r.status_code),
            "realm": realm.group(1) if realm else "",
            "server": r.headers.get("Server", ""),
            "title": title.group(1).strip() if title else "",
            "auth": r.headers.get("WWW-Authenticate", ""),
        }

    def not_applicable(self) -> str | None:
        if self.service.http_login:
            return None
        r = self.challenge()
        if r.status_code != 401:
            return (f"{self.path} answers {r.status_code} without credentials and declares no login form, "
                    "so there is no password login to test here")
        if not self.kind():
            scheme = r.headers.get("WWW-Authenticate")
            return f"{self.path} asks for an authentication scheme the harness does not speak: {scheme!r}"
        return None

    def _challenged_get(self, kind: str, username: str, password: str) -> HttpAnswer:
        auth = HTTPDigestAuth(username, password) if kind == "digest" else HTTPBasicAuth(username, password)
        return self.request("GET", self.path, auth=auth)

    def _past_the_gate(self, kind: str, username: str, status: int) -> bool | None:
        """Did credentials get past the 401 challenge? 401 no, 2xx/3xx yes, 403 cannot tell. Any
        other answer (a 405 from an upload path, a 5xx) means yes only if a random wrong password is
        still challenged with 401: otherwise the device answers that way to everyone, and reading it
        as "accepted" would be a false FAIL (or, read as "refused", a false PASS)."""
        if status in (401, 407):
            return False
        if 200 <= status < 400:
            return True
        if status == 403:
            return None
        if self._wrong_status is None:  # one calibration login per probe, only when it is needed
            self._wrong_status = self._challenged_get(kind, username, "wrong-" + secrets.token_hex(8)).status_code
        return True if self._wrong_status in (401, 407) else None

    @declared_class
    def attempt(self, username: str, password: str) -> Attempt:
        t0 = time.monotonic()
        kind = self.kind()
        login: HttpLogin | None = self.service.http_login
        if kind == "form" and login is not None:
            data = {login.username_field: username, login.password_field: password, **login.extra_fields}
            r = self.request("POST", login.path, data=data)
            ok = r.status_code in login.success_status
            if login.success_contains is not None:
                ok = ok and login.success_contains in r.text
            if login.failure_contains is not None:
                ok = ok and login.failure_contains not in r.text
        else:
            r = self._challenged_get(kind, username, password)
            ok = self._past_the_gate(kind, username, r.status_code)
            if ok is None:
                seconds = round(time.monotonic() - t0, 3)
                return Attempt(username, None, f"{kind} login: HTTP {r.status_code} (a wrong password gets the "
                               "same answer, or 403: cannot tell)", seconds)
        seconds = round(time.monotonic() - t0, 3)
        if r.status_code in (429, 503):  # throttled: says nothing about the password
            return Attempt(username, None, f"{kind} login: rate limited (HTTP {r.status_code})", seconds)
        return Attempt(username, ok, f"{kind} login: HTTP {r.status_code}", seconds)


def login_probe(guard: ScopeGuard, address: str, service, timeout: float) -> HttpLoginProbe:
    """The entry the protocol table names (harness/observation/protocols.py)."""
    return HttpLoginProbe(guard, address, service, timeout)
