"""The one HTTP(S) exchange every web probe makes: through the scope guard's slot, reaching any
TLS the device offers, bounded in time and bytes.

Why not plain `requests.get`: urllib3 refuses TLS 1.0/1.1 (its default minimum is TLS 1.2), so a
legacy-only admin port made every login and access check INCONCLUSIVE; and reading a whole body
into memory lets a hostile device fill the machine (a 1 GiB answer). Here the TLS client context is
the probes' permissive one (`tls.probing_context`, recorded in the answer as such: judging the TLS
is the policy's job), the body is streamed up to a byte cap, and the scope guard's slot shuts the
socket at one overall deadline (connect, TLS handshake, headers and body together), so a device
dripping one byte at a time cannot hold a case past it. Nothing is taken from the environment:
a proxy there would carry the exchange elsewhere, and a .netrc entry would hand the operator's
password to the device.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import InsecureRequestWarning

from harness.observation.probes.login import Unreachable
from harness.observation.probes.tls import probing_context
from harness.observation.scope import ScopeGuard, exchange_deadline, exchange_overran

DEFAULT_MAX_BYTES = 1 << 20  # 1 MiB: far more than any status page or login form needs
TLS_NOTE = "any TLS version and suite, no certificate check (probe context; the TLS checks judge the channel)"


class _ReachAnyTls(HTTPAdapter):
    """An adapter whose TLS client is the probes' permissive context, for every pool it makes."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = probing_context()
        super().init_poolmanager(*args, **kwargs)


@dataclass
class HttpAnswer:
    """One HTTP answer as far as it was read: the same names as `requests.Response` for the
    parts the probes read, plus what the bounds did to it."""

    method: str
    url: str
    status_code: int
    headers: CaseInsensitiveDict
    content: bytes
    truncated: bool = False  # the body went past the byte cap; only the first part was read
    seconds: float = 0.0
    tls: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def summary(self) -> dict:
        return {"method": self.method, "url": self.url, "status": self.status_code,
                "content_type": self.headers.get("Content-Type"), "bytes": len(self.content),
                "truncated": self.truncated, "seconds": self.seconds,
                "www_authenticate": self.headers.get("WWW-Authenticate"),
                "location": self.headers.get("Location"), "allow": self.headers.get("Allow")}


def exchange(guard: ScopeGuard, address: str, port: int, tls: bool, method: str, path: str, *,
             timeout: float, max_bytes: int = DEFAULT_MAX_BYTES, **kwargs: Any) -> HttpAnswer:
    """One request, no redirects followed, `Connection: close`. Raises `Unreachable` when no
    HTTP answer came (refused, reset, not HTTP, deadline passed before the headers)."""
    url = f"{'https' if tls else 'http'}://{address}:{port}{path}"
    deadline_s = exchange_deadline(timeout)  # the slot's watchdog: connect, TLS, headers and body together
    t0 = time.monotonic()
    with guard.slot(address, port, timeout), warnings.catch_warnings(), requests.Session() as session:
        warnings.simplefilter("ignore", InsecureRequestWarning)
        # the device and nothing else: no proxy from the environment, no .netrc password sent to
        # it (requests read both for every exchange: several per cent of a run's Python time, profiled)
        session.trust_env = False
        session.mount("https://", _ReachAnyTls())
        headers = {"Connection": "close", **kwargs.pop("headers", {})}
        late = Unreachable(f"{method} {url}: no complete answer headers within {deadline_s:g}s (the device kept "
                           "the exchange trickling)")
        try:
            r = session.request(method, url, timeout=timeout, verify=False, allow_redirects=False,
                                stream=True, headers=headers, **kwargs)
        except requests.RequestException as e:
            if exchange_overran():
                raise late from None
            raise Unreachable(f"{method} {url} failed: {type(e).__name__}: {e}"[:400]) from None
        if exchange_overran():  # headers cut off by the watchdog parse as if complete: never an answer
            r.close()
            raise late
        body, truncated, cut_short = bytearray(), False, None
        try:
            for chunk in r.iter_content(8192):
                body += chunk
                if len(body) > max_bytes:
                    del body[max_bytes:]
                    truncated = True
                    break
                if time.monotonic() - t0 > deadline_s:
                    cut_short = f"body still arriving after {deadline_s:g}s"
                    break
        except (requests.RequestException, OSError) as e:
            cut_short = f"body cut short: {type(e).__name__}"
        finally:
            r.close()
    if cut_short and time.monotonic() - t0 > deadline_s:
        raise Unreachable(f"{method} {url}: the answer did not finish within {deadline_s:g}s ({cut_short})")
    return HttpAnswer(method, url, r.status_code, r.headers, bytes(body), truncated,
                      round(time.monotonic() - t0, 3), TLS_NOTE if tls else None,
                      {"incomplete": cut_short} if cut_short else {})
