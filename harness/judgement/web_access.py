"""Judging a web surface seen without credentials: who may read and change what.

Three kinds of evidence, one rule each, every rule about what the device did rather than what
the profile says: a protected path (declared) served without credentials, with GET or HEAD (a
server that checks credentials on GET only lets HEAD through); configuration or secrets in any
page served without credentials; a request that may change state (upload, reboot, reset, a form
that posts, a path that answered 405 to GET) accepted without credentials. A device that answers
every request alike (a catch-all page) proves nothing by its status codes: what a random, surely
absent path gets is the calibration, and an equal answer is no evidence either way.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from xml.etree import ElementTree

from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

from harness.observation.probes.discovery import Advertised
from harness.observation.probes.http_surface import StateChangeTry, WebPage, WebSurface
from harness.record.verdict import Verdict

FIX_ACCESS = ("Require authentication for every request that reads settings or changes state, whatever the "
              "method (GET, HEAD, POST, PUT), on every port the device serves.")
FIX_SECRETS = "Never serve configuration or secrets to a client that has not logged in."
SOURCE = "JC-STAR S1.1-01 / NIST IR 8259A LA-2 / ETSI EN 303 645 5.5-4 (authenticated access to device functions)"
REFUSED = {401, 403, 407}
ABSENT = {404, 405, 501}
# Names of fields that carry secrets or configuration, compared lower-case without separators.
_SECRET_FIELDS = {"password", "passwd", "pass", "pwd", "adminpassword", "psk", "wpapsk", "wifikey", "wifipassword",
                  "wpakey", "passphrase", "secret", "apikey", "token", "accesstoken", "privatekey", "sessionkey",
                  "community", "rocommunity", "rwcommunity"}
_PEM_KEY = re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |ENCRYPTED )?PRIVATE KEY-----")
_KEY_VALUE = re.compile(r"^\s*([A-Za-z][\w.-]{0,40})\s*[:=]\s*(.{1,200}?)\s*$", re.M)
MAX_FIELDS = 2000


@dataclass(frozen=True)
class WebFinding:
    verdict: Verdict
    rule: str
    path: str
    reason: str
    fix: str | None = None


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def fields_of(page: WebPage, where: str) -> list[Advertised]:
    """What a served page says, as (field, value) pairs (see `fields_of_body`)."""
    return fields_of_body(page.body, page.content_type, where, "http")


def fields_of_body(body: str, content_type: str | None, where: str, source: str) -> list[Advertised]:
    """What a body a device served says, as (field, value) pairs: JSON flattened to key paths, XML
    elements by tag, key=value or key: value lines, and the body itself for shape matching.
    `source` names the protocol in each pair ("http", "coap")."""
    out: list[Advertised] = []
    kind = (content_type or "").lower()
    stripped = body.lstrip()
    if "json" in kind or stripped.startswith(("{", "[")):
        with contextlib.suppress(ValueError, RecursionError):
            _flatten(json.loads(body), "", where, out, source)
    if "xml" in kind or stripped.startswith("<?xml"):
        try:
            root = SafeElementTree.fromstring(body)
            for el in root.iter():
                if len(out) >= MAX_FIELDS:
                    break
                if el.text and el.text.strip():
                    out.append(Advertised(f"{source}-xml", where, el.tag.rsplit("}", 1)[-1], el.text.strip()[:200]))
        except (ElementTree.ParseError, DefusedXmlException, ValueError):
            pass
    for m in list(_KEY_VALUE.finditer(body))[:MAX_FIELDS]:
        out.append(Advertised(f"{source}-text", where, m.group(1), m.group(2)))
    out.append(Advertised(f"{source}-text", where, "body", re.sub(r"<[^>]{0,500}>", " ", body)[:MAX_FIELDS * 10]))
    return out[: MAX_FIELDS + 1]


def _flatten(value, prefix: str, where: str, out: list[Advertised], source: str) -> None:
    if len(out) >= MAX_FIELDS:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), where, out, source)
    elif isinstance(value, list):
        for i, v in enumerate(value[:200]):
            _flatten(v, f"{prefix}[{i}]", where, out, source)
    elif value is not None:
        out.append(Advertised(f"{source}-json", where, prefix or "(value)", str(value)[:200]))


def exposed_secrets(fields: list[Advertised]) -> list[str]:
    """Field names (never values) that carry secrets or configuration, and private keys."""
    names = []
    for a in fields:
        last = re.split(r"[.\[\]]+", a.field.strip("]"))[-1]
        if _norm(last) in _SECRET_FIELDS and a.value.strip() and a.field != "body":
            names.append(a.field)
        elif _PEM_KEY.search(a.value):
            names.append(f"{a.field} (a private key)")
    return sorted(set(names))


def judge_pages(surface: WebSurface, protected: list[str], head: dict[str, int]) -> list[WebFinding]:
    """Protected paths and secrets, from safe requests. `head`: path -> status of HEAD."""
    out = []
    by_path = {p.path: p for p in surface.pages}
    for path in protected:
        page = by_path.get(path)
        if page is not None and 200 <= page.status < 300 and page.status == surface.catch_all_status:
            out.append(WebFinding(Verdict.INCONCLUSIVE, "web.protected_path_served", path,
                                  f"{surface.base}{path} answers {page.status}, and so does a random absent path: "
                                  "the device serves every path alike (a catch-all page), so whether this one is "
                                  "protected cannot be told from the answer"))
        elif page is not None and 200 <= page.status < 300:
            out.append(WebFinding(Verdict.FAIL, "web.protected_path_served", path,
                                  f"{surface.base}{path} is served without credentials (GET {page.status}, "
                                  f"{page.bytes} bytes)", FIX_ACCESS))
        elif path in head and 200 <= head[path] < 300 and page is not None and page.status in REFUSED:
            out.append(WebFinding(Verdict.FAIL, "web.protected_path_served", path,
                                  f"{surface.base}{path} refuses GET ({page.status}) but answers HEAD with "
                                  f"{head[path]}: credentials are checked for some methods only", FIX_ACCESS))
    for page in surface.served():
        names = exposed_secrets(fields_of(page, page.path))
        if names:
            out.append(WebFinding(Verdict.FAIL, "web.configuration_exposed", page.path,
                                  f"{surface.base}{page.path} serves configuration or secrets without "
                                  f"credentials: fields {', '.join(names[:8])}", FIX_SECRETS))
    return out


def judge_state_changes(surface: WebSurface, calibration: int | None, tries: list[StateChangeTry]) -> list[WebFinding]:
    out: list[WebFinding] = []
    alike = calibration is not None and 200 <= calibration < 300
    for t in tries:
        label = f"{t.method} {surface.base}{t.path} ({t.why})"
        if t.status is None:
            out.append(WebFinding(Verdict.INCONCLUSIVE, "web.state_change", t.path, f"{label}: no answer: {t.error}"))
        elif t.status == calibration and not (200 <= t.status < 300):
            continue  # answered like an absent path: nothing there
        elif 200 <= t.status < 300 and alike:
            out.append(WebFinding(Verdict.INCONCLUSIVE, "web.state_change", t.path,
                                  f"{label}: {t.status}, but a random absent path gets {calibration} too: the "
                                  "device answers every POST alike, so acceptance cannot be told from its status"))
        elif 200 <= t.status < 300:
            out.append(WebFinding(Verdict.FAIL, "web.state_change_without_credentials", t.path,
                                  f"{label} was accepted without credentials (HTTP {t.status}; an absent path "
                                  f"gets {calibration})", FIX_ACCESS))
        elif t.status in REFUSED or t.status in ABSENT or 300 <= t.status < 400:
            continue
        else:
            out.append(WebFinding(Verdict.INCONCLUSIVE, "web.state_change", t.path,
                                  f"{label}: HTTP {t.status} without any credential challenge (an absent path gets "
                                  f"{calibration}): the handler was reached, but an empty body cannot show whether "
                                  "a real request would be accepted"))
    return out
