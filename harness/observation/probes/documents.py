"""Published documents, fetched as evidence: the disclosure policy, security.txt, the support period,
the update procedure, the user manual.

A document the profile declares is either an http(s) URL or a file next to the profile (a lab that
saved the vendor's page, a manual shipped as text); both are kept with their SHA-256 and the time
they were read, and judged the same. A URL goes through the one HTTP exchange and the scope guard,
so a vendor host outside the lab ranges is refused unless the operator allowed its network. Host
names are never resolved: a DNS query would leave the lab, so such a URL is reported as not
fetched, naming the fix (give the page as a file, or its address).
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin, urlsplit

from harness.observation.probes.http_client import exchange
from harness.observation.probes.login import Unreachable
from harness.observation.scope import ScopeGuard, ScopeViolation

MAX_DOCUMENT_BYTES = 256 << 10  # a policy page or security.txt is a few KiB; a manual's text fits
MAX_SBOM_BYTES = 8 << 20  # a firmware's SBOM lists hundreds of components, with hashes and licences


def max_bytes(kind: str) -> int:
    return MAX_SBOM_BYTES if kind == "sbom" else MAX_DOCUMENT_BYTES
MAX_REDIRECTS = 3

Outcome = Literal["fetched", "not-found", "refused", "unreachable", "out-of-scope"]


@dataclass
class FetchedDocument:
    kind: str
    source: str  # the URL or file as declared, or the standard location asked
    origin: Literal["declared-url", "declared-file", "standard-location"]
    outcome: Outcome
    status: int | None = None
    content_type: str | None = None
    text: str = ""
    sha256: str = ""
    size: int = 0
    truncated: bool = False
    fetched_at: str = ""
    seconds: float = 0.0
    redirects: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def found(self) -> bool:
        return self.outcome == "fetched"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _content(doc: FetchedDocument, data: bytes, truncated: bool) -> FetchedDocument:
    doc.sha256, doc.size, doc.truncated = hashlib.sha256(data).hexdigest(), len(data), truncated
    doc.text = data.decode("utf-8", errors="replace")
    return doc


def read_file(kind: str, path: Path, shown_as: str) -> FetchedDocument:
    """A document given as a file: read up to the cap, like a fetched page."""
    doc = FetchedDocument(kind, shown_as, "declared-file", "unreachable", fetched_at=_now())
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes(kind) + 1)
    except OSError as e:
        doc.detail = f"cannot read {shown_as}: {e.strerror}"
        return doc
    doc.outcome = "fetched"
    return _content(doc, data[:max_bytes(kind)], len(data) > max_bytes(kind))


def fetch(guard: ScopeGuard, kind: str, url: str, timeout: float,
          origin: Literal["declared-url", "standard-location"] = "declared-url") -> FetchedDocument:
    """GET the URL through the scope guard, following up to three redirects (each one checked by
    the guard again). Never raises for the device's sake: the outcome says what happened."""
    doc = FetchedDocument(kind, url, origin, "unreachable", fetched_at=_now())
    t0 = time.monotonic()
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(current)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            doc.outcome, doc.detail = "refused", f"{current}: not an http(s) URL"
            return doc
        try:
            address = str(ipaddress.ip_address(parts.hostname))
        except ValueError:
            doc.outcome = "out-of-scope"
            doc.detail = (f"{current}: host names are not resolved (a DNS query would leave the lab); save the page "
                          "and give it as a file next to the profile, or give the URL with the host's address")
            return doc
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            answer = exchange(guard, address, port, parts.scheme == "https", "GET", path, timeout=timeout,
                              max_bytes=max_bytes(kind))
        except ScopeViolation as e:
            doc.outcome, doc.detail = "out-of-scope", f"{current}: refused by the scope guard, nothing sent ({e})"
            return doc
        except Unreachable as e:
            doc.outcome, doc.detail = "unreachable", str(e)
            return doc
        finally:
            doc.seconds = round(time.monotonic() - t0, 3)
        doc.status, doc.content_type = answer.status_code, answer.headers.get("Content-Type")
        location = answer.headers.get("Location")
        if answer.status_code in (301, 302, 303, 307, 308) and location:
            current = urljoin(current, location)
            doc.redirects.append(current)
            continue
        if answer.status_code == 200:
            doc.outcome = "fetched"
            return _content(doc, answer.content, answer.truncated)
        doc.outcome = "not-found" if answer.status_code in (404, 410) else "refused"
        doc.detail = f"{current}: HTTP {answer.status_code}"
        return doc
    doc.outcome, doc.detail = "refused", f"{url}: more than {MAX_REDIRECTS} redirects"
    return doc
