"""Device states judge exposure against the services declared for that state; discovery never
follows a LOCATION away from the unit. Both on loopback, with no lab."""

import json
import socket
import textwrap
import threading
from contextlib import contextmanager

import pytest

from harness.observation.probes.discovery import discover
from harness.observation.scope import Scope, ScopeGuard
from tests.conftest import ROOT, harness

ADDR = "127.0.0.78"


@pytest.fixture
def listener():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ADDR, 0))
    srv.listen(128)  # never accepts: every probe's connection waits in the backlog, which must not fill
    yield srv.getsockname()[1]
    srv.close()


def _profile(tmp_path, port: int) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(f"""
        identity: {{vendor: V, model: M, firmware_version: "1"}}
        units: [{{name: u1, address: {ADDR}}}]
        states: [as-delivered, after-setup]
        services: [{{name: pairing, port: {port}, protocol: other, purpose: app pairing after setup,
                     authentication: none, states: [after-setup]}}]
        credentials: {{kind: unique-per-unit}}
        schemes: [jc-star-1]
    """))
    return str(path)


def _exposure(tmp_path, profile: str, state: str | None) -> tuple[dict, dict, object]:
    out = tmp_path / (state or "default")
    args = ["run", "--profile", profile, "--out", str(out), "--suite", str(ROOT / "test_suites" / "exposure")]
    if state:
        args += ["--state", state]
    harness(*args, timeout=300)
    res = json.loads((out / "results.json").read_text())
    return {c["id"]: c for c in res["cases"]}, json.loads((out / "manifest.json").read_text()), out


def test_a_port_declared_for_another_state_is_undeclared_in_this_one(tmp_path, listener):
    # judged by the unit's own listener only: the host's wildcard listeners answer on 127.x too
    profile = _profile(tmp_path, listener)
    for state, undeclared in ((None, True), ("after-setup", False)):
        cases, manifest, out = _exposure(tmp_path, profile, state)
        assert manifest["device_state"] == (state or "as-delivered")
        ports = json.loads((out / "evidence/exposure.tcp_ports_declared_u1/ports.json").read_text())
        assert listener in ports["open"] and ports["device_state"] == manifest["device_state"]
        assert (listener in ports["undeclared_open"]) is undeclared
        if undeclared:
            assert cases["exposure.tcp_ports_declared[u1]"]["verdict"] == "FAIL"
    # a unit that names its model nowhere on the network leaves S1.1-10 to the label
    model = cases["exposure.model_identifiable[u1]"]
    assert model["verdict"] == "INCONCLUSIVE" and "attach a photo" in model["reason"]
    assert json.loads((out / next(p for p in model["evidence"] if p.endswith("model-identification.json")))
                      .read_text())["advertised_by_the_unit"] == []


def test_unknown_state_is_refused_with_the_declared_ones(tmp_path, listener):
    r = harness("run", "--profile", _profile(tmp_path, listener), "--out", str(tmp_path / "b"), "--state", "repair")
    assert r.returncode == 2
    assert "--state 'repair' is not a state the profile declares; declared: as-delivered, after-setup" in r.stderr


@contextmanager
def _ssdp_answers(*answers: bytes):
    """A unit's SSDP responder on ADDR:1900 that answers the first M-SEARCH with `answers`."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((ADDR, 1900))
    udp.settimeout(3)

    def answer():
        try:
            _, peer = udp.recvfrom(2048)
        except OSError:
            return
        for a in answers:
            udp.sendto(a, peer)

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        yield
    finally:
        t.join(3)
        udp.close()


def test_ssdp_location_pointing_elsewhere_is_not_fetched():
    with _ssdp_answers(b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nLOCATION: http://192.0.2.7/desc.xml\r\n"
                       b"SERVER: Linux/5.4 UPnP/1.0 x/1\r\n\r\n"):
        result = discover(ScopeGuard(Scope.build([ADDR])), ADDR, timeout=0.5, ssdp_wait=1.0)
    assert result.ssdp_responses and result.descriptions == {}
    assert any("points at 192.0.2.7, not at the unit" in n and "not followed" in n for n in result.notes)
    assert {a.field for a in result.advertised} >= {"SERVER", "LOCATION"}


def test_descriptions_that_each_answer_slowly_share_one_budget():
    """Eight LOCATIONs, each answering just inside its own deadline, would hold the case for eight
    deadlines; together they get three (DESCRIPTION_BUDGET_EXCHANGES), the rest are noted."""
    import http.server
    import time

    from harness.observation.probes.discovery import DESCRIPTION_BUDGET_EXCHANGES
    from harness.observation.scope import exchange_deadline

    timeout = 0.4  # each exchange: exchange_deadline(0.4) = 2.4 s; all of them: 7.2 s

    class Slow(http.server.BaseHTTPRequestHandler):
        """Each step inside the per-step timeout, the whole answer (about 2 s) inside the deadline."""

        def do_GET(self):
            chunks = [b"<root><device>", b"<friendlyName>", b"slow", b"</friendlyName>", b"</device>", b"</root>"]
            self.send_response(200)
            self.send_header("Content-Length", str(sum(map(len, chunks))))
            self.end_headers()
            for chunk in chunks:
                time.sleep(0.33)
                self.wfile.write(chunk)
                self.wfile.flush()

        def log_message(self, *args):
            pass

    web = http.server.ThreadingHTTPServer((ADDR, 0), Slow)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    port = web.server_address[1]
    answers = [f"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nLOCATION: http://{ADDR}:{port}/d{i}.xml\r\n"
               f"USN: uuid:{i}\r\n\r\n".encode() for i in range(8)]
    started = time.monotonic()
    try:
        with _ssdp_answers(*answers):
            result = discover(ScopeGuard(Scope.build([ADDR])), ADDR, timeout=0.3, ssdp_wait=1.0,
                              exchange_timeout=timeout)
    finally:
        web.shutdown()
    elapsed = time.monotonic() - started
    budget = DESCRIPTION_BUDGET_EXCHANGES * exchange_deadline(timeout)
    fetched = len(result.descriptions)
    assert 2 <= fetched < 8, result.notes
    skipped = [n for n in result.notes if f"the descriptions' {budget:g}s are spent" in n]
    assert len(skipped) == 8 - fetched, result.notes
    # the listening windows, then at most the budget plus the one fetch that started inside it
    assert elapsed < 0.3 + 1.0 + budget + exchange_deadline(timeout) + 1.0, elapsed
