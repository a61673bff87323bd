"""The CoAP and DTLS probes against libcoap's real servers on loopback, both ways: one that lets
anyone write (FAIL, the write proven and undone), one that speaks DTLS with a pre-shared key only
(the handshake without a credential refused: PASS), one that encrypts but admits anyone
(INCONCLUSIVE, never PASS); and against scripted servers that answer garbage, never stop a
block-wise answer, or refuse the value rather than the client. (The lab proves the check both
ways too: the plug's open CoAP FAILs, the hub's DTLS-only sensors PASS.)"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from harness.judgement.coap import judge_dtls, judge_reads, judge_writes
from harness.observation.probes.coap import MAX_BODY_BYTES, CoapProbe, CoapUnavailable, observe, probe_writes
from harness.observation.probes.dtls import handshake_without_credentials
from harness.observation.scope import Scope, ScopeGuard, ScopeViolation, exchange_deadline
from harness.record.verdict import Verdict

OPEN, PSK, CERT, NOTHING, NOISE, BLOCKS, PICKY = (f"127.0.0.{n}" for n in range(101, 108))
PORT = 15683
TIMEOUT = 1.0


def _guard(*addresses: str) -> ScopeGuard:
    return ScopeGuard(Scope.build(list(addresses)))


def _wait_udp(address: str, port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args[0]} exited with {proc.returncode}")
        out = subprocess.run(["ss", "-Hluna"], capture_output=True, text=True).stdout
        if f"{address}:{port}" in out:
            return
        time.sleep(0.05)
    pytest.fail(f"nothing listens on udp {address}:{port}")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if shutil.which("coap-server-notls") is None:
        pytest.fail("libcoap's coap-server is not installed (scripts/setup.sh installs it: apt-get install "
                    "libcoap3-bin)")
    tmp = tmp_path_factory.mktemp("coap")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(tmp / "k.pem"), "-out", str(tmp / "c.pem"), "-days", "2", "-subj", "/CN=coap"],
                   check=True, capture_output=True)
    psk = os.urandom(8).hex()
    procs = [
        (OPEN, PORT, ["coap-server-notls", "-A", OPEN, "-p", str(PORT)]),
        (PSK, PORT + 1, ["coap-server-openssl", "-A", PSK, "-p", str(PORT), "-k", psk]),
        (CERT, PORT + 1, ["coap-server-openssl", "-A", CERT, "-p", str(PORT), "-c", str(tmp / "c.pem"),
                          "-j", str(tmp / "k.pem"), "-n"]),
    ]
    running = []
    for address, port, argv in procs:
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        running.append(p)
        _wait_udp(address, port, p)
    yield
    for p in running:
        p.terminate()
        p.wait(5)


def _scripted(address: str, answer) -> threading.Event:
    """A UDP server on address:PORT that answers each datagram with answer(datagram) (None: silence)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, PORT))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            reply = answer(data)
            if reply is not None:
                sock.sendto(reply, peer)
        sock.close()

    threading.Thread(target=serve, daemon=True).start()
    return stop


def _reply(request: bytes, code, payload: bytes = b"", block2=None) -> bytes:
    import aiocoap
    from aiocoap.numbers.types import Type

    req = aiocoap.Message.decode(request)
    msg = aiocoap.Message(code=code, payload=payload)
    msg.mtype, msg.mid, msg.token = Type.ACK, req.mid, req.token  # a piggybacked answer to this request
    if block2 is not None:
        msg.opt.block2 = block2
    return msg.encode()


def test_an_open_server_lists_serves_and_takes_writes_each_proven_and_undone(servers):
    probe = CoapProbe(_guard(OPEN), OPEN, PORT, TIMEOUT)
    seen = observe(probe)
    assert seen.listing["code"] == "2.05" and seen.listing["content_format"] == 40
    assert {r["path"] for r in seen.resources} >= {"/", "/time", "/example_data"}
    original = next(r for r in seen.reads if r["path"] == "/example_data")["body"]
    attempts = probe_writes(probe, [r["path"] for r in seen.reads if str(r.get("code", "")).startswith("2.")])
    by_path = {a["path"]: a for a in attempts}
    write = by_path["/example_data"]
    assert write["outcome"] == "accepted" and write["put_same_value"]["code"] == "2.04"
    assert write["took_effect"] is True and write["restored"] is True
    assert probe.get("/example_data").payload.decode() == original  # really put back
    assert by_path["/"]["outcome"] == "refused" and by_path["/"]["put_same_value"]["code"] == "4.05"
    assert "changes by itself" in by_path["/time"]["skipped"]  # a clock is a reading, never written
    (finding,) = judge_writes(attempts)
    assert finding.verdict is Verdict.FAIL and finding.rule == "coap.write_without_credentials"
    assert "/example_data" in finding.reason and "read back" in finding.reason
    assert judge_reads(seen) == []  # libcoap's example texts carry no secrets


def test_dtls_with_a_pre_shared_key_only_refuses_a_client_without_one(servers):
    outcome = handshake_without_credentials(_guard(PSK), PSK, PORT + 1, TIMEOUT)
    assert outcome.outcome == "refused" and "handshake failure" in outcome.detail, outcome.output
    assert judge_dtls(outcome, "u:sensors/5684").verdict is Verdict.PASS


def test_dtls_that_admits_anyone_is_never_passed(servers):
    outcome = handshake_without_credentials(_guard(CERT), CERT, PORT + 1, TIMEOUT)
    assert outcome.outcome == "completed" and outcome.cipher, outcome.output
    finding = judge_dtls(outcome, "u:sensors/5684")
    assert finding.verdict is Verdict.INCONCLUSIVE and "admits anyone" in finding.reason


def test_no_server_is_no_answer_and_an_outside_address_is_refused_before_any_packet():
    outcome = handshake_without_credentials(_guard(NOTHING), NOTHING, PORT + 1, TIMEOUT)
    assert outcome.outcome == "closed" and not outcome.answered
    assert judge_dtls(outcome, "u:s/5684").verdict is Verdict.INCONCLUSIVE
    with pytest.raises(CoapUnavailable):
        CoapProbe(_guard(NOTHING), NOTHING, PORT, TIMEOUT).get("/")
    guard = _guard(NOTHING)
    with pytest.raises(ScopeViolation):
        CoapProbe(guard, "198.51.100.7", PORT, TIMEOUT).get("/")
    with pytest.raises(ScopeViolation):
        handshake_without_credentials(guard, "198.51.100.7", 5684, TIMEOUT)
    assert guard.connections == {} and len(guard.refused) == 2


def test_garbage_is_no_coap_answer_within_the_deadline():
    stop = _scripted(NOISE, lambda data: os.urandom(200))
    try:
        t0 = time.monotonic()
        with pytest.raises(CoapUnavailable, match="no CoAP answer"):
            observe(CoapProbe(_guard(NOISE), NOISE, PORT, TIMEOUT))
        assert time.monotonic() - t0 < exchange_deadline(TIMEOUT) + 1
    finally:
        stop.set()


def test_an_endless_blockwise_answer_stops_at_the_byte_cap():
    import aiocoap
    from aiocoap.optiontypes import BlockOption

    def answer(data):
        req = aiocoap.Message.decode(data)
        number = req.opt.block2.block_number if req.opt.block2 else 0
        return _reply(data, aiocoap.CONTENT, b"x" * 1024, BlockOption.BlockwiseTuple(number, True, 6))

    stop = _scripted(BLOCKS, answer)
    try:
        t0 = time.monotonic()
        got = CoapProbe(_guard(BLOCKS), BLOCKS, PORT, TIMEOUT).get("/endless")
        assert got.truncated and len(got.payload) == MAX_BODY_BYTES
        assert time.monotonic() - t0 < exchange_deadline(TIMEOUT) + 1
    finally:
        stop.set()


def test_a_refused_value_is_not_a_refused_client():
    """4.00 Bad Request to a PUT says the value was wrong, not that the client may not write:
    never read as a refusal of access, so never a PASS."""
    import aiocoap

    def answer(data):
        req = aiocoap.Message.decode(data)
        if req.code == aiocoap.GET:
            return _reply(data, aiocoap.CONTENT, b'{"interval": 30}')
        return _reply(data, aiocoap.BAD_REQUEST, b"bad value")

    stop = _scripted(PICKY, answer)
    try:
        attempts = probe_writes(CoapProbe(_guard(PICKY), PICKY, PORT, TIMEOUT), ["/config"])
    finally:
        stop.set()
    setting = next(a for a in attempts if a["path"] == "/config")
    assert setting["outcome"] == "undetermined"
    verdicts = {f.verdict for f in judge_writes(attempts)}
    assert verdicts == {Verdict.INCONCLUSIVE}, judge_writes(attempts)


class _Seen:
    """The two observations the clear-text rule for UDP reads, as a run would have recorded them."""

    def __init__(self, coap=None, dtls=None):
        self._coap, self._dtls = coap, dtls

    def coap(self, unit, port):
        if isinstance(self._coap, Exception):
            raise self._coap
        return self._coap

    def dtls(self, unit, port):
        return self._dtls


def test_udp_clear_text_rule_tells_plain_coap_from_protected_and_from_silence():
    from harness.observation.probes.coap import CoapObservation
    from harness.observation.probes.dtls import DtlsOutcome
    from harness.observation.probes.portscan import PortScan
    from test_suites.communication.test_cleartext import _judge_udp

    def scan(*open_ports):
        return PortScan(address="u", command="nmap", elapsed_s=0.1, open_ports=list(open_ports),
                        states={p: "open" for p in open_ports}, xml="")

    plain = CoapObservation(5683, {"code": "2.05"}, reads=[{"path": "/", "code": "2.05", "body": "x"}])
    assert _judge_udp(None, 5683, "coap", object(), scan(5683), _Seen(plain))[0] == "fail"
    # OSCORE-protected (RFC 8613): every unprotected request refused with 4.01, never called clear text
    guarded = CoapObservation(5683, {"code": "4.01"}, reads=[{"path": "/", "code": "4.01", "body": ""}])
    outcome, why, _ = _judge_udp(None, 5683, "coap", object(), scan(5683), _Seen(guarded))
    assert outcome == "unknown" and "OSCORE" in why
    # declared, but nothing answered: not judged on the declaration's word
    silent = _judge_udp(None, 5683, "coap", object(), scan(), _Seen(CoapUnavailable("no CoAP answer")))
    assert silent[0] == "silent"
    refused = DtlsOutcome("refused", "the handshake without a credential was refused")
    assert _judge_udp(None, 5684, "coaps", object(), scan(5684), _Seen(dtls=refused))[0] == "clear"
    from harness.observation.probes.tftp import TftpAnswer

    tftp = _Seen()
    tftp.tftp = lambda unit, port: TftpAnswer("answered", "ERR: File not found")
    assert _judge_udp(None, 69, "tftp", None, scan(69), tftp)[0] == "fail"
    tftp.tftp = lambda unit, port: TftpAnswer("silent", "answered something that is not TFTP")
    assert _judge_udp(None, 69, "tftp", None, scan(69), tftp)[0] == "unknown"  # garbage is never a verdict
    assert _judge_udp(None, 69, "tftp", object(), scan(), _Seen())[0] == "silent"


def test_a_coap_status_resource_discloses_like_a_web_page(tmp_path):
    """A serial number or firmware version served to anyone over CoAP is the same disclosure as on
    a web page (S1.1-13, ETSI 5.6-2); libcoap's example texts disclose nothing."""
    import yaml

    from harness.declaration.profile import load_profile
    from harness.judgement.disclosure import coap_advertised, find
    from harness.observation.probes.coap import CoapObservation

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({
        "identity": {"vendor": "V", "model": "Sensor-1", "firmware_version": "unknown"},
        "units": [{"name": "s1", "address": "127.0.0.5"}], "credentials": {"kind": "unique-per-unit"},
        "services": [{"name": "coap", "port": 5683, "transport": "udp", "protocol": "coap", "purpose": "readings",
                      "authentication": "none"}],
        "schemes": ["jc-star-1"]}))
    profile = load_profile(path)
    status = CoapObservation(5683, {"code": "2.05"}, reads=[
        {"path": "/status", "code": "2.05", "content_format": 50,
         "body": '{"serialNumber": "SN-20931-7741", "firmwareVersion": "3.1.4"}'},
        {"path": "/", "code": "2.05", "content_format": 0,
         "body": "This is a test server made with libcoap (see https://libcoap.net)"}])
    kinds = {d.kind for d in find(coap_advertised(status), profile, profile.units[0])}
    assert "serial-number" in kinds and any("firmware" in k for k in kinds), kinds
    plain = CoapObservation(5683, {"code": "2.05"}, reads=[status.reads[1]])
    assert find(coap_advertised(plain), profile, profile.units[0]) == []
