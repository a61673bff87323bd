"""Login probes against misbehaving and well-behaved servers on loopback: bounded, never hung,
each outcome with its reason. (The lab proves them against real daemons; these cover what a
lab daemon will not do: garbage, silence, hanging up mid-login.)"""

import contextlib
import re
import socket
import threading
import time

import pytest
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

from harness.probes.ftp import FtpLoginProbe
from harness.probes.telnet import TelnetLogin
from harness.scope import Scope, ScopeGuard

ADDR = "127.0.0.78"
TIMEOUT = 2.0


def serve(script) -> int:
    """A one-connection-at-a-time TCP server running `script(conn)` for each client."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ADDR, 0))
    srv.listen(4)
    srv.settimeout(0.2)

    def loop():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            with contextlib.suppress(OSError), conn:
                conn.settimeout(15)
                script(conn)
        srv.close()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1]


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
    assert probe.anonymous_access().refused is True
    assert "device login" in probe.fingerprint()["banner"]
    open_shell = TelnetLogin(guard, ADDR, serve(shell_without_login), TIMEOUT)
    access = open_shell.anonymous_access()
    assert access.refused is False and "shell prompt appears without any login" in access.detail


@pytest.fixture
def ftp_server(tmp_path):
    def start(anonymous: bool) -> int:
        auth = DummyAuthorizer()
        auth.add_user("admin", "admin", str(tmp_path), perm="elr")
        if anonymous:
            auth.add_anonymous(str(tmp_path))
        handler = type("H", (FTPHandler,), {"authorizer": auth, "banner": "lab ftpd ready"})
        server = FTPServer((ADDR, 0), handler)

        def run():
            with contextlib.suppress(OSError):  # close_all() pulls the socket from under it
                server.serve_forever(timeout=0.2)

        threading.Thread(target=run, daemon=True).start()
        servers.append(server)
        return server.address[1]

    servers: list = []
    yield start
    for s in servers:
        s.close_all()


def test_ftp_probe_both_ways(guard, ftp_server):
    closed = FtpLoginProbe(guard, ADDR, ftp_server(anonymous=False), TIMEOUT)
    assert closed.attempt("admin", "admin").accepted is True
    assert closed.attempt("admin", "wrong").accepted is False
    assert closed.anonymous_access().refused is True
    assert "lab ftpd ready" in closed.fingerprint()["banner"]
    open_ftp = FtpLoginProbe(guard, ADDR, ftp_server(anonymous=True), TIMEOUT)
    assert open_ftp.anonymous_access().refused is False
