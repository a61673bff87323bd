"""What a web service serves to a client without credentials: its pages, their links and forms,
the profile's protected and API paths, and the endpoints IoT devices commonly have.

An attacker does not read the declaration: access control judged only on the declared paths with
GET passed an update agent whose upload path answered 405 to GET and 200 to POST. This observation
collects the surface with safe requests only (GET, within a request budget, same origin, no
redirects followed). Paths that may act when requested (reboot, reset, upgrade, upload; forms that
post; paths that answered 405 to GET) are listed, never fetched: `try_state_changes` sends them
their methods, and only a case of class `intrusive` may call it.

Link extraction uses the standard library's HTML parser: the surface needs only href/action/src
attributes, and a tolerant tokenizer that never executes anything is what a hostile page calls for.
"""

from __future__ import annotations

import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from harness.declaration.datafile import load_yaml_model
from harness.observation.probes.http_client import exchange
from harness.observation.probes.login import Unreachable
from harness.observation.scope import ScopeGuard

MAX_KEPT_BYTES = 65536  # of each page served without credentials: judged and kept as evidence
MAX_REQUESTS = 60
MAX_DEPTH = 2
# A path whose name says it acts: never fetched by a safe probe, even when a page links to it.
ACTS = re.compile(r"(reboot|restart|reset|factory|upgrade|upload|firmware|flash|update|delete|remove|logout|"
                  r"shutdown|format|apply|save|set_?config|write)", re.I)


class CommonEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str = Field(pattern=r"^/[\x21-\x7e]*$")
    changes_state: bool
    source: str = Field(min_length=3)


class CommonEndpoints(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int
    entries: list[CommonEndpoint] = Field(min_length=1)


@cache
def common_endpoints() -> CommonEndpoints:
    with resources.as_file(resources.files("harness") / "data" / "http_endpoints.yaml") as p:
        return load_yaml_model(Path(p), CommonEndpoints, "common web endpoints",
                               ids=lambda c: [e.path for e in c.entries])


@dataclass
class WebPage:
    path: str
    found_by: str  # root, protected path, api path, common list, link on /x, form on /x
    status: int
    content_type: str | None
    bytes: int
    truncated: bool
    www_authenticate: str | None
    location: str | None
    allow: str | None
    body: str = ""  # the first MAX_KEPT_BYTES of a 2xx answer, decoded; empty otherwise


@dataclass
class StateChangeTarget:
    path: str
    why: str  # "common list (source)", "form on /x posts here", "GET answered 405", "api path"
    methods: list[str]


@dataclass
class WebSurface:
    base: str
    tls: bool
    pages: list[WebPage] = field(default_factory=list)
    targets: list[StateChangeTarget] = field(default_factory=list)
    login_forms: list[str] = field(default_factory=list)  # forms with a password field: the login, not a target
    not_followed: list[str] = field(default_factory=list)  # other hosts, other ports, schemes
    catch_all_status: int | None = None  # what a random, surely absent path gets
    stopped: str | None = None  # why exploration ended early (budget, the port stopped answering)

    def served(self) -> list[WebPage]:
        return [p for p in self.pages if 200 <= p.status < 300]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[dict] = []
        self._form: dict | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag in ("a", "iframe", "frame") and (a.get("href") or a.get("src")):
            self.links.append(a.get("href") or a.get("src", ""))
        elif tag == "form":
            method = (a.get("method") or "get").upper()
            self._form = {"action": a.get("action", ""), "method": method, "password": False}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("type", "").lower() == "password":
            self._form["password"] = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def _same_origin_path(base: str, page: str, link: str) -> str | None:
    """The path of `link` when it points at the same scheme, host and port; else None."""
    target = urlsplit(urljoin(base + page, link.strip()))
    origin = urlsplit(base)
    if (target.scheme, target.hostname, target.port or _default_port(target.scheme)) != (
            origin.scheme, origin.hostname, origin.port or _default_port(origin.scheme)):
        return None
    return target.path or "/"


def _default_port(scheme: str) -> int | None:
    return {"http": 80, "https": 443}.get(scheme)


def explore(guard: ScopeGuard, address: str, port: int, tls: bool, *, protected: list[str], api: list[str],
            login_path: str | None, timeout: float, max_requests: int = MAX_REQUESTS) -> WebSurface:
    """Safe requests only. Raises Unreachable when the first request gets no HTTP answer."""
    base = f"{'https' if tls else 'http'}://{address}:{port}"
    out = WebSurface(base, tls)
    absent = f"/iot-harness-absent-{secrets.token_hex(6)}"
    out.catch_all_status = exchange(guard, address, port, tls, "GET", absent, timeout=timeout,
                                    max_bytes=4096).status_code
    queue: list[tuple[str, str, int]] = [("/", "root", 0)]
    queue += [(p, "protected path", 0) for p in protected]
    queue += [(p, "api path", 0) for p in api]
    for e in common_endpoints().entries:
        if e.changes_state:
            out.targets.append(StateChangeTarget(e.path, f"common list ({e.source})", ["POST"]))
        else:
            queue.append((e.path, f"common list ({e.source})", 0))
    for p in api:
        out.targets.append(StateChangeTarget(p, "api path in the profile", ["POST"]))
    _crawl(guard, address, port, tls, out, queue, login_path, timeout, max_requests - 1)
    return out


def _crawl(guard: ScopeGuard, address: str, port: int, tls: bool, out: WebSurface, wave: list, login_path: str | None,
           timeout: float, budget: int) -> None:
    """Breadth first, one wave per link depth; the paths of a wave are fetched side by side
    within half the unit's connection budget (a run waits on the device, not on the CPU), and
    recorded in the order they were found, so the observation does not depend on timing."""
    workers = max(1, min(4, guard.max_connections_per_unit // 2))
    seen: set[str] = set()

    def get(item):
        try:
            return exchange(guard, address, port, tls, "GET", item[0], timeout=timeout, max_bytes=MAX_KEPT_BYTES)
        except Unreachable as e:
            return e

    while wave and out.stopped is None:
        todo = []
        for path, found_by, depth in wave:
            if path in seen:
                continue
            seen.add(path)
            if path == login_path:
                continue  # the login itself is the credential checks' subject
            if ACTS.search(path) and found_by.startswith(("link", "form")):
                out.targets.append(StateChangeTarget(path, f"{found_by}; its name says it acts", ["POST"]))
                continue
            todo.append((path, found_by, depth))
        if len(todo) > budget:
            out.stopped = f"request budget of {budget + 1} reached; {len(todo) - budget} path(s) not fetched"
            todo = todo[:budget]
        budget -= len(todo)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            answers = list(pool.map(get, todo))
        wave = []
        for (path, found_by, depth), r in zip(todo, answers, strict=True):
            if isinstance(r, Unreachable):
                out.stopped = f"GET {path}: {r}"[:300]
                break
            served = 200 <= r.status_code < 300
            out.pages.append(WebPage(path, found_by, r.status_code, r.headers.get("Content-Type"), len(r.content),
                                     r.truncated, r.headers.get("WWW-Authenticate"), r.headers.get("Location"),
                                     r.headers.get("Allow"), r.text if served else ""))
            if r.status_code == 405:
                allowed = [m.strip().upper() for m in (r.headers.get("Allow") or "POST").split(",")]
                methods = [m for m in allowed if m in ("POST", "PUT", "PATCH")] or ["POST"]
                out.targets.append(StateChangeTarget(path, "GET answered 405 (the resource exists)", methods))
            if served and "html" in (r.headers.get("Content-Type") or "html").lower() and depth < MAX_DEPTH:
                _follow(out, out.base, path, r.text, depth, wave, login_path)


def _follow(out: WebSurface, base: str, page: str, html: str, depth: int, queue: list, login_path: str | None) -> None:
    parser = _Links()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # a page no parser reads is still judged by its content
        return
    for link in parser.links:
        path = _same_origin_path(base, page, link)
        if path is None:
            out.not_followed.append(link[:200])
        else:
            queue.append((path, f"link on {page}", depth + 1))
    for form in parser.forms:
        path = _same_origin_path(base, page, form["action"] or page)
        if path is None:
            out.not_followed.append(f"form action {form['action'][:200]}")
        elif form["password"] or path == login_path:
            out.login_forms.append(path)
        elif form["method"] in ("POST", "PUT"):
            out.targets.append(StateChangeTarget(path, f"form on {page} posts here", [form["method"]]))
        else:
            queue.append((path, f"form on {page}", depth + 1))


@dataclass
class StateChangeTry:
    path: str
    method: str
    why: str
    status: int | None
    bytes: int = 0
    location: str | None = None
    www_authenticate: str | None = None
    error: str | None = None


def try_state_changes(guard: ScopeGuard, address: str, port: int, tls: bool, targets: list[StateChangeTarget],
                      timeout: float, max_tries: int = 30) -> tuple[int | None, list[StateChangeTry]]:
    """Send each target its methods with an empty body and no credentials (class `intrusive`:
    the caller holds it). Returns what a random absent path answers to POST (to tell a device that
    answers every POST alike) and one row per request. DELETE is never sent: nothing could undo it."""
    calibration = exchange(guard, address, port, tls, "POST", f"/iot-harness-absent-{secrets.token_hex(6)}",
                           timeout=timeout, max_bytes=4096, data=b"").status_code
    rows: list[StateChangeTry] = []
    done: set[tuple[str, str]] = set()
    for t in targets:
        for method in t.methods:
            if (t.path, method) in done or len(rows) >= max_tries:
                continue
            done.add((t.path, method))
            try:
                r = exchange(guard, address, port, tls, method, t.path, timeout=timeout, max_bytes=MAX_KEPT_BYTES,
                             data=b"")
            except Unreachable as e:
                rows.append(StateChangeTry(t.path, method, t.why, None, error=str(e)[:300]))
                continue
            rows.append(StateChangeTry(t.path, method, t.why, r.status_code, len(r.content),
                                       r.headers.get("Location"), r.headers.get("WWW-Authenticate")))
    return calibration, rows
