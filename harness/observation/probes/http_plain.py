"""How a plain-HTTP port answers: does it serve, challenge, or send the client to HTTPS?

The observation behind the clear-text check; the judgement (is a password or a protected page
crossing the network in clear?) is the check's. One GET per path, no redirects followed, every
request through the scope guard's budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.observation.probes.http_client import exchange
from harness.observation.probes.login import Unreachable
from harness.observation.scope import ScopeGuard


@dataclass
class PlainHttpAnswers:
    responses: list[dict] = field(default_factory=list)  # per path: status, WWW-Authenticate, Location
    error: str | None = None  # the port stopped answering HTTP part-way


def plain_http(guard: ScopeGuard, address: str, port: int, paths: list[str], timeout: float) -> PlainHttpAnswers:
    out = PlainHttpAnswers()
    for path in paths or ["/"]:
        try:
            r = exchange(guard, address, port, False, "GET", path, timeout=timeout, max_bytes=65536)
        except Unreachable as e:
            out.error = f"GET {path}: {e}"[:300]
            break
        out.responses.append({"path": path, "status": r.status_code,
                              "www_authenticate": r.headers.get("WWW-Authenticate"),
                              "location": r.headers.get("Location", "")})
    return out
