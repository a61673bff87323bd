"""Login probes against misbehaving and well-behaved servers on loopback: bounded, never hung,
each outcome with its reason. (The lab proves them against real daemons; these cover what a
lab daemon will not do: garbage, silence, hanging up mid-login.)"""

import base64
import contextlib
import hashlib
import http.server
import re
import threading
import time
import urllib.parse

import pytest
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

from harness.observation.probes.ftp import FtpLoginProbe
from harness.observation.probes.telnet import TelnetLogin
from harness.observation.scope import Scope, ScopeGuard, exchange_deadline
from tests.unit.loopback_server import serve as serve_on

ADDR = "127.0.0.78"
TIMEOUT = 2.0


def serve(script) -> int:
    return serve_on(ADDR, script)


def read_line(conn) -> bytes:
    """One line from the client, with its telnet negotiation replies removed (as telnetd does)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            break
        data += chunk
    return re.sub(rb"\xff[\xfb-\xfe].", b"", data).strip()


def garbage(conn):
    conn.sendall(bytes([255, 253, 1, 255, 251, 3]) + b"\x00\x9b[2J\x07\xfe\xfd garbage " * 50)
    time.sleep(TIMEOUT + 1)


def silent_welcome(conn):
    conn.sendall(b"Welcome to the device\r\n")
    time.sleep(TIMEOUT + 6)


def hangs_up_after_user(conn):
    conn.sendall(b"\xff\xfd\x18device login: ")
    read_line(conn)


def hangs_up_after_password(conn):
    conn.sendall(b"device login: ")
    read_line(conn)
    conn.sendall(b"Password: ")
    read_line(conn)


def shell_without_login(conn):
    conn.sendall(b"BusyBox v1.35 built-in shell\r\n# ")
    time.sleep(1)


def classic(conn):
    conn.sendall(b"\xff\xfb\x01\xff\xfb\x03device login: ")
    user = read_line(conn)
    conn.sendall(b"Password: ")
    pw = read_line(conn)
    if (user, pw) == (b"admin", b"admin"):
        conn.sendall(b"\r\nWelcome\r\n~ # ")
    else:
        time.sleep(0.5)
        conn.sendall(b"\r\nLogin incorrect\r\ndevice login: ")
    time.sleep(0.5)


@pytest.fixture
def guard():
    return ScopeGuard(Scope.build([ADDR]))


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (garbage, "showed no login prompt"),
        (silent_welcome, "showed no login prompt"),
        (hangs_up_after_user, "no password prompt after the user name"),
    ],
    ids=["garbage", "never-prompts", "closes-mid-login"],
)
def test_telnet_misbehaviour_gives_no_verdict_within_bounds(guard, script, expected):
    probe = TelnetLogin(guard, ADDR, serve(script), TIMEOUT)
    t0 = time.monotonic()
    a = probe.attempt("admin", "admin")
    assert a.accepted is None and expected in a.detail
    assert time.monotonic() - t0 < TIMEOUT * 2 + 6


def test_telnet_login_both_ways_and_shell_without_login(guard):
    port = serve(classic)
    probe = TelnetLogin(guard, ADDR, port, TIMEOUT)
    assert probe.attempt("admin", "admin").accepted is True
    assert probe.attempt("admin", "nope").accepted is False
    assert "device login" in probe.fingerprint()["banner"]
    hangs_up = TelnetLogin(guard, ADDR, serve(hangs_up_after_password), TIMEOUT).attempt("root", "x")
    assert hangs_up.accepted is False and "hung up after the password" in hangs_up.detail
    open_shell = TelnetLogin(guard, ADDR, serve(shell_without_login), TIMEOUT)
    access = open_shell.anonymous_access()
    assert access.refused is False and "shell prompt appears without any login" in access.detail


def test_telnet_negotiation_split_across_reads_is_answered_and_never_shown(guard):
    """A device that sends its option requests a byte at a time (each IAC sequence split over
    several reads) gets one refusal per option, and none of those bytes shows up as prompt text."""
    replies: list[bytes] = []

    def dripped(conn):
        for b in b"\xff\xfd\x01\xff\xfb\x03\xff\xff" + b"device login: ":
            conn.sendall(bytes([b]))
            time.sleep(0.01)
        conn.settimeout(2)
        got = b""
        while len(got) < 6:
            got += conn.recv(6 - len(got))
        replies.append(got)
        read_line(conn)
        conn.sendall(b"Password: ")
        read_line(conn)
        conn.sendall(b"\r\n~ # ")
        time.sleep(0.5)

    probe = TelnetLogin(guard, ADDR, serve(dripped), TIMEOUT)
    attempt = probe.attempt("admin", "admin")
    assert attempt.accepted is True, attempt
    assert replies == [b"\xff\xfc\x01\xff\xfe\x03"]  # WONT ECHO, DONT SUPPRESS-GO-AHEAD
    assert probe.fingerprint()["banner"].startswith("\\xffdevice login: ")  # IAC IAC is one data byte


@pytest.mark.parametrize(("shown", "shell"), [
    (b"\x1b[1;32mroot@cam\x1b[0m:~# ", True),  # a coloured PS1 is a prompt
    (b"Welcome\r\n" + bytes(range(1, 32)) * 2 + b"\r\n# ", False),  # binary noise that ends in '#' is not
    (b"\x01\x02#", False),
], ids=["coloured-prompt", "noise-then-hash", "controls-in-the-line"])
def test_telnet_shell_prompt_is_a_line_of_text(guard, shown, shell):
    def device(conn):
        conn.sendall(shown)
        time.sleep(TIMEOUT + 1)

    access = TelnetLogin(guard, ADDR, serve(device), TIMEOUT).anonymous_access()
    assert (access.refused is False) is shell, access


def test_telnet_verdict_cut_at_the_deadline_is_no_verdict_not_a_refusal(guard):
    """The exchange's deadline shuts the socket; a login still waiting for its answer then must
    not read the hang-up as the device refusing the password (that would pass a default password)."""
    def slow_verdict(conn):
        conn.sendall(b"device login: ")
        read_line(conn)
        conn.sendall(b"Password: ")
        read_line(conn)
        time.sleep(TIMEOUT * 4)
        conn.sendall(b"\r\n~ # ")

    t0 = time.monotonic()
    attempt = TelnetLogin(guard, ADDR, serve(slow_verdict), TIMEOUT).attempt("admin", "admin")
    assert attempt.accepted is None and "deadline" in attempt.detail, attempt
    assert time.monotonic() - t0 < exchange_deadline(TIMEOUT) + 1


def test_telnet_endless_subnegotiation_is_cut_by_the_byte_cap(guard):
    def endless_sb(conn):
        conn.sendall(b"\xff\xfa\x18")
        with contextlib.suppress(OSError):
            for _ in range(100_000):
                conn.sendall(b"x" * 4096)

    t0 = time.monotonic()
    attempt = TelnetLogin(guard, ADDR, serve(endless_sb), TIMEOUT).attempt("admin", "admin")
    assert attempt.accepted is None and "no login prompt" in attempt.detail, attempt
    assert time.monotonic() - t0 < exchange_deadline(TIMEOUT) + 1


@pytest.fixture
def ftp_server(tmp_path):
    """One pyftpdlib server (its IOLoop is a process-wide singleton: one server per process)."""
    auth = DummyAuthorizer()
    auth.add_user("admin", "admin", str(tmp_path), perm="elr")
    handler = type("H", (FTPHandler,), {"authorizer": auth, "banner": "lab ftpd ready", "auth_failed_timeout": 0.2})
    server = FTPServer((ADDR, 0), handler)

    def run():
        with contextlib.suppress(OSError):  # close_all() pulls the socket from under it
            server.serve_forever(timeout=0.2)

    threading.Thread(target=run, daemon=True).start()
    yield server.address[1], auth, tmp_path
    server.close_all()


def test_ftp_probe_both_ways(guard, ftp_server):
    port, auth, home = ftp_server
    probe = FtpLoginProbe(guard, ADDR, port, TIMEOUT)
    assert probe.attempt("admin", "admin").accepted is True
    assert probe.attempt("admin", "wrong").accepted is False
    assert "lab ftpd ready" in probe.fingerprint()["banner"]
    auth.add_anonymous(str(home))  # the same server, now letting anyone in
    access = probe.anonymous_access()
    assert access.refused is False and "accepted" in access.detail


class _WebDevice(http.server.BaseHTTPRequestHandler):
    """A device web UI with a form login and a digest-protected API (RFC 2617, MD5, qop=auth)."""

    realm, nonce = "lab-device", "abc123nonce"

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        fields = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        ok = fields.get("user") == ["admin"] and fields.get("pass") == ["admin"] and fields.get("lang") == ["en"]
        self._send(200, b"<p>Dashboard</p>" if ok else b"<p>Invalid password</p>")

    def do_GET(self):
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Digest "):
            p = dict(re.findall(r'(\w+)="?([^",]+)"?', auth))
            ha1 = hashlib.md5(f"admin:{self.realm}:admin".encode()).hexdigest()
            ha2 = hashlib.md5(f"GET:{p['uri']}".encode()).hexdigest()
            want = hashlib.md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}".encode()).hexdigest()
            if p.get("username") == "admin" and p.get("response") == want:
                return self._send(200, b"config")
        challenge = f'Digest realm="{self.realm}", nonce="{self.nonce}", qop="auth", algorithm=MD5'
        self._send(401, b"", [("WWW-Authenticate", challenge)])


@pytest.fixture
def web_device():
    server = http.server.ThreadingHTTPServer((ADDR, 0), _WebDevice)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_http_form_and_digest_logins_both_ways(guard, web_device):
    from harness.declaration.profile import HttpLogin, Service
    from harness.observation.probes.http import HttpLoginProbe

    form = Service(name="web", port=web_device, protocol="http", purpose="admin ui", authentication="password",
                   http_login=HttpLogin(kind="form", path="/login", username_field="user", password_field="pass",
                                        extra_fields={"lang": "en"}, success_status=[200],
                                        failure_contains="Invalid password"))
    probe = HttpLoginProbe(guard, ADDR, form, TIMEOUT)
    assert probe.attempt("admin", "admin").accepted is True
    assert probe.attempt("admin", "wrong").accepted is False
    assert "body does not contain 'Invalid password'" in probe.criterion

    api = Service(name="api", port=web_device, protocol="http", purpose="config api", authentication="password",
                  protected_paths=["/api/config"])
    probe = HttpLoginProbe(guard, ADDR, api, TIMEOUT)
    assert probe.kind() == "digest" and probe.fingerprint()["realm"] == "lab-device"
    assert probe.not_applicable() is None
    assert probe.attempt("admin", "admin").accepted is True
    assert probe.attempt("admin", "wrong").accepted is False


class _BasicDevice(http.server.BaseHTTPRequestHandler):
    """Basic auth in front of paths that do not take a GET: /upload answers 405 to the right
    credentials (an update endpoint); /odd answers 400 to any credentials at all."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        auth = self.headers.get("Authorization")
        good = "Basic " + base64.b64encode(b"admin:s3cret-pass").decode()
        if auth is None or (self.path == "/upload" and auth != good):
            status, headers = 401, [("WWW-Authenticate", 'Basic realm="lab"')]
        else:
            status, headers = (405 if self.path == "/upload" else 400), []
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_basic_login_past_the_gate_is_told_from_a_device_that_answers_everyone_alike(guard):
    from harness.declaration.profile import Service
    from harness.observation.probes.http import HttpLoginProbe

    server = http.server.ThreadingHTTPServer((ADDR, 0), _BasicDevice)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        upload = Service(name="update", port=port, protocol="http", purpose="firmware upload",
                         authentication="password", protected_paths=["/upload"])
        probe = HttpLoginProbe(guard, ADDR, upload, TIMEOUT)
        right = probe.attempt("admin", "s3cret-pass")
        assert right.accepted is True and "HTTP 405" in right.detail  # past the gate, the path refuses GET
        assert probe.attempt("admin", "admin").accepted is False  # 401: refused
        odd = Service(name="odd", port=port, protocol="http", purpose="odd device", authentication="password",
                      protected_paths=["/odd"])
        probe = HttpLoginProbe(guard, ADDR, odd, TIMEOUT)
        got = probe.attempt("admin", "admin")  # 400 to every password, wrong ones too: no verdict
        assert got.accepted is None and "cannot tell" in got.detail
    finally:
        server.shutdown()


def _mqtt_broker(return_code: int):
    """A broker that answers every CONNECT with a CONNACK carrying `return_code` (MQTT 3.1.1
    defines 0-5; anything else is reserved), then hangs up."""
    def script(conn):
        conn.recv(1024)  # CONNECT
        conn.sendall(bytes([0x20, 0x02, 0x00, return_code]))
        time.sleep(0.3)
    return script


@pytest.mark.parametrize(("code", "refused", "accepted"), [(6, None, None), (0x80, None, None), (5, True, False),
                                                           (0, False, True)],
                         ids=["reserved-6", "reserved-0x80", "not-authorised", "accepted"])
def test_mqtt_reserved_connack_is_neither_refusal_nor_acceptance(guard, code, refused, accepted):
    from harness.observation.probes.mqtt import MqttLoginProbe

    probe = MqttLoginProbe(guard, ADDR, serve(_mqtt_broker(code)), tls=False, timeout=TIMEOUT)
    access = probe.anonymous_access()
    assert access.refused is refused, access.detail
    if refused is None:
        assert "reserves" in access.detail and access.observations[0]["connack"]
    attempt = probe.attempt("admin", "admin")
    assert attempt.accepted is accepted, attempt.detail


def _noise(conn):
    """Random bytes where a protocol greeting belongs, then silence."""
    import os

    conn.sendall(os.urandom(300))
    time.sleep(1.5)


@pytest.mark.parametrize("protocol", ["ssh", "ftp", "http", "telnet"])
def test_random_bytes_are_read_as_no_protocol_at_all(guard, protocol):
    """Well-formedness first: whatever login probe meets random bytes gives no verdict (neither
    'accepted' nor 'refused'), within its bounds, saying what it saw."""
    from harness.declaration.profile import Authentication, Service
    from harness.observation.probes.http import HttpLoginProbe
    from harness.observation.probes.login import Unreachable
    from harness.observation.probes.ssh import SshLoginProbe

    port = serve(_noise)
    probe = {
        "ssh": lambda: SshLoginProbe(guard, ADDR, port, TIMEOUT),
        "ftp": lambda: FtpLoginProbe(guard, ADDR, port, TIMEOUT),
        "telnet": lambda: TelnetLogin(guard, ADDR, port, TIMEOUT),
        "http": lambda: HttpLoginProbe(guard, ADDR, Service(name="w", port=port, protocol="http", purpose="admin",
                                                            authentication=Authentication.PASSWORD), TIMEOUT),
    }[protocol]()
    t0 = time.monotonic()
    try:
        outcome = probe.attempt("admin", "admin")
    except Unreachable as e:
        assert str(e)  # the reason names what went wrong
    else:
        assert outcome.accepted is None and outcome.detail, outcome
    assert time.monotonic() - t0 < TIMEOUT * 4 + 6


@pytest.mark.parametrize(("answer", "expected"), [
    (bytes([0x20, 0x02, 0x00, 0x00]), "mqtt"),  # accepted
    (bytes([0x20, 0x02, 0x00, 0x05]), "mqtt"),  # refused (not authorised): still a broker
    (b"", None),                                # silent to everything
], ids=["connack-accepted", "connack-refused", "silent"])
def test_a_silent_port_that_answers_connect_with_connack_is_mqtt(guard, answer, expected):
    """An MQTT broker says nothing until a client speaks: without this an undeclared broker was
    never identified, so no credential check ever asked it for a login."""
    from harness.observation.probes.identify import identify

    def broker(conn):
        conn.settimeout(5)
        with contextlib.suppress(OSError):
            first = conn.recv(64)
            if first[:1] == b"\x10" and b"MQTT" in first:
                conn.sendall(answer)
            time.sleep(0.5)

    assert identify(guard, ADDR, serve(broker), timeout=0.5) == expected
