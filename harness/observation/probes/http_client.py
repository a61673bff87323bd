"""The one HTTP(S) exchange every web probe makes: through the scope guard's slot, reaching any
TLS the device offers, bounded in time and bytes.

Why not plain `requests.get`: urllib3 refuses TLS 1.0/1.1 (its default minimum is TLS 1.2), so a
legacy-only admin port made every login and access check INCONCLUSIVE; and reading a whole body
into memory lets a hostile device fill the machine (a 1 GiB answer). Here the TLS client context is
the probes' permissive one (`tls.probing_context`, recorded in the answer as such: judging the TLS
is the policy's job), the body is streamed up to a byte cap, and a watchdog started before the
first byte is sent shuts the socket at one overall deadline (connect, TLS handshake, headers and
body together), so a device dripping one byte at a time cannot hold a case past it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import InsecureRequestWarning

from harness.observation.probes.login import Unreachable
from harness.observation.probes.tls import probing_context
from harness.observation.scope import ScopeGuard

DEFAULT_MAX_BYTES = 1 << 20  # 1 MiB: far more than any status page or login form needs
TLS_NOTE = "any TLS version and suite, no certificate check (probe context; the TLS checks judge the channel)"


_exchange = threading.local()  # the sockets the current thread's exchange has opened


class _Recorded:
    """A urllib3 connection that hands its socket to the running exchange as soon as it exists,
    so the watchdog can shut it while the headers (or a TLS handshake) are still trickling in:
    urllib3's timeouts are per read, and a device sending a byte a second never trips them."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        sockets = getattr(_exchange, "sockets", None)
        if sockets is not None:
            sockets.append(sock)
        return sock


class _HttpConnection(_Recorded, HTTPConnection):
    pass


class _HttpsConnection(_Recorded, HTTPSConnection):
    pass


class _HttpPool(HTTPConnectionPool):
    ConnectionCls = _HttpConnection


class _HttpsPool(HTTPSConnectionPool):
    ConnectionCls = _HttpsConnection


class _Bounded(HTTPAdapter):
    """An adapter whose connections report their sockets to the exchange, and whose TLS client
    is the probes' permissive context, for every pool it makes."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = probing_context()
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HttpPool, "https": _HttpsPool}


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


def _shut(sockets: list[socket.socket], fired: threading.Event) -> None:
    fired.set()
    for sock in list(sockets):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def exchange(guard: ScopeGuard, address: str, port: int, tls: bool, method: str, path: str, *,
             timeout: float, max_bytes: int = DEFAULT_MAX_BYTES, **kwargs: Any) -> HttpAnswer:
    """One request, no redirects followed, `Connection: close`. Raises `Unreachable` when no
    HTTP answer came (refused, reset, not HTTP, deadline passed before the headers)."""
    url = f"{'https' if tls else 'http'}://{address}:{port}{path}"
    deadline_s = max(timeout * 3, timeout + 2.0)  # connect, TLS, headers and body together
    t0 = time.monotonic()
    with guard.slot(address, port, timeout), warnings.catch_warnings(), requests.Session() as session:
        warnings.simplefilter("ignore", InsecureRequestWarning)
        for prefix in ("http://", "https://"):
            session.mount(prefix, _Bounded())
        headers = {"Connection": "close", **kwargs.pop("headers", {})}
        sockets: list[socket.socket] = []
        _exchange.sockets = sockets
        fired = threading.Event()
        watchdog = threading.Timer(deadline_s, _shut, (sockets, fired))  # one clock from the first byte sent
        watchdog.daemon = True
        watchdog.start()
        late = Unreachable(f"{method} {url}: no complete answer headers within {deadline_s:g}s (the device kept "
                           "the exchange trickling)")
        try:
            r = session.request(method, url, timeout=timeout, verify=False, allow_redirects=False,
                                stream=True, headers=headers, **kwargs)
        except requests.RequestException as e:
            watchdog.cancel()
            if fired.is_set():
                raise late from None
            raise Unreachable(f"{method} {url} failed: {type(e).__name__}: {e}"[:400]) from None
        finally:
            _exchange.sockets = None
        if fired.is_set():  # headers cut off by the watchdog parse as if complete: never an answer
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
            watchdog.cancel()
            r.close()
    if cut_short and time.monotonic() - t0 > deadline_s:
        raise Unreachable(f"{method} {url}: the answer did not finish within {deadline_s:g}s ({cut_short})")
    return HttpAnswer(method, url, r.status_code, r.headers, bytes(body), truncated,
                      round(time.monotonic() - t0, 3), TLS_NOTE if tls else None,
                      {"incomplete": cut_short} if cut_short else {})
