"""The web surface and its access judgement against loopback web devices built to the issue's
cases: a status endpoint revealing serial, MAC and firmware; a configuration file with the Wi-Fi
key; an upload path that answers 405 to GET and 200 to POST; a form that posts settings; an admin
path that checks credentials on GET only. A well-behaved device shows none of them, and a
catch-all device (200 to everything) gives no verdict instead of a false FAIL."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.judgement.disclosure import find
from harness.judgement.web_access import fields_of, judge_pages, judge_state_changes
from harness.observation.probes.http_surface import explore, try_state_changes
from harness.observation.scope import Scope, ScopeGuard
from harness.record.verdict import Verdict
from tests.unit.test_disclosure import _undeclared

ADDR = "127.0.0.83"
INDEX = (b"<html><title>Cam</title><a href='/status'>status</a> <a href='http://192.0.2.9/x'>vendor</a>"
         b"<a href='/reboot.cgi'>reboot</a><form method=post action='/api/settings'><input name=tz></form>"
         b"<form method=post action='/login'><input type=password name=p></form></html>")
STATUS = json.dumps({"device": {"serial_no": "QX7781234", "macAddress": "02:81:23:22:90:ab"},
                     "fw_version": "4.2.17"}).encode()


class _Weak(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def _send(self, code, body=b"", ctype="text/html", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        routes = {"/": (200, INDEX, "text/html"), "/status": (200, STATUS, "application/json"),
                  "/config.json": (200, b'{"wifi": {"ssid": "home", "psk": "hunter22"}}', "application/json")}
        if self.path in routes:
            self._send(*routes[self.path])
        elif self.path == "/upload":
            self._send(405, extra={"Allow": "POST"})
        elif self.path == "/admin":
            self._send(401, extra={"WWW-Authenticate": 'Basic realm="cam"'})
        else:
            self._send(404)

    def do_HEAD(self):
        self._send(200) if self.path == "/admin" else self.do_GET()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(200, b"OK") if self.path in ("/upload", "/api/settings") else self._send(404)


class _Sound(_Weak):
    def do_GET(self):
        if self.path == "/":
            self._send(200, b"<form method=post action='/login'><input type=password name=p></form>")
        else:
            self._send(401, extra={"WWW-Authenticate": 'Basic realm="cam"'})

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self._send(401, extra={"WWW-Authenticate": 'Basic realm="cam"'})


class _CatchAll(_Weak):
    def do_GET(self):
        self._send(200, b"<html>app</html>")

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self._send(200, b"<html>app</html>")


@pytest.fixture
def serve():
    servers = []

    def start(handler) -> int:
        srv = ThreadingHTTPServer((ADDR, 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv.server_address[1]

    yield start
    for s in servers:
        s.shutdown()


@pytest.fixture
def guard():
    return ScopeGuard(Scope.build([ADDR]), allowed_classes=frozenset({"safe", "intrusive"}))


def _judge(guard, port, protected=("/admin",)):
    surface = explore(guard, ADDR, port, False, protected=list(protected), api=[], login_path=None, timeout=2)
    from harness.observation.probes.http_client import exchange

    head = {p: exchange(guard, ADDR, port, False, "HEAD", p, timeout=2, max_bytes=0).status_code for p in protected}
    with guard.probe_class("intrusive"):
        calibration, tries = try_state_changes(guard, ADDR, port, False, surface.targets, 2)
    return surface, judge_pages(surface, list(protected), head) + judge_state_changes(surface, calibration, tries)


def test_weak_device_every_class_found_with_its_evidence(guard, serve):
    surface, results = _judge(guard, serve(_Weak))
    fails = {(r.rule, r.path) for r in results if r.verdict is Verdict.FAIL}
    assert ("web.protected_path_served", "/admin") in fails  # HEAD let through
    assert ("web.configuration_exposed", "/config.json") in fails
    assert ("web.state_change_without_credentials", "/upload") in fails  # 405 to GET, 200 to POST
    assert ("web.state_change_without_credentials", "/api/settings") in fails  # a form that posts
    psk = next(r for r in results if r.rule == "web.configuration_exposed")
    assert "wifi.psk" in psk.reason and "hunter22" not in psk.reason  # names, never values
    assert "/login" in surface.login_forms  # the login form is the credential checks' subject
    assert any(t.path == "/reboot.cgi" for t in surface.targets)  # listed, never fetched with GET
    assert "/reboot.cgi" not in {p.path for p in surface.pages}
    assert any("192.0.2.9" in n for n in surface.not_followed)  # another host: never followed
    status = next(p for p in surface.pages if p.path == "/status")
    profile, unit = _undeclared()
    kinds = {d.kind for d in find(fields_of(status, "/status"), profile, unit)}
    assert {"serial-number", "mac-address", "firmware-version"} <= kinds


def test_sound_device_nothing_found(guard, serve):
    _, results = _judge(guard, serve(_Sound))
    assert results == []


def test_catch_all_device_gives_no_verdict_rather_than_a_false_fail(guard, serve):
    surface, results = _judge(guard, serve(_CatchAll))
    assert surface.catch_all_status == 200
    assert results and all(r.verdict is Verdict.INCONCLUSIVE for r in results)


def test_state_changes_need_the_intrusive_class(serve):
    from harness.observation.scope import ProbeClassRefused

    safe = ScopeGuard(Scope.build([ADDR]))
    port = serve(_Weak)
    surface = explore(safe, ADDR, port, False, protected=[], api=[], login_path=None, timeout=2)
    with pytest.raises(ProbeClassRefused), safe.probe_class("intrusive"):
        try_state_changes(safe, ADDR, port, False, surface.targets, 2)
