"""Commands run over SSH (credential change, reset, version reads) against a paramiko server on
loopback: a command that ends without reading its input is an answer, not a broken exchange.

The lab met it as a race (CI, stop 24): a declared change procedure that asks nothing exits at
once, the device closes the channel, and the harness's write of the passwords found it closed;
the case ended ERROR where the logins afterwards showed plainly that the change did not take.
A server whose channel window is smaller than the input makes that order certain here."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import paramiko
import pytest

from harness.observation.probes.ssh import SshUnreachable, run_command
from harness.observation.scope import Scope, ScopeGuard
from tests.unit.loopback_server import serve

ADDR = "127.0.0.71"
WINDOW = 32768  # the device's channel window: a larger input has to wait for the command to read it
HOST_KEY = paramiko.ECDSAKey.generate()


class _Device(paramiko.ServerInterface):
    def __init__(self, on_exec: Callable[[paramiko.Channel], None]) -> None:
        self.on_exec = on_exec

    def check_auth_password(self, username: str, password: str) -> int:
        return paramiko.AUTH_SUCCESSFUL if password == "pw" else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        threading.Thread(target=self.on_exec, args=(channel,), daemon=True).start()
        return True


def ssh_device(on_exec: Callable[[paramiko.Channel], None]) -> int:
    """A loopback SSH server that runs `on_exec(channel)` for each command; its port."""

    def script(conn) -> None:
        t = paramiko.Transport(conn, default_window_size=WINDOW)
        t.add_server_key(HOST_KEY)
        with contextlib.suppress(Exception):
            t.start_server(server=_Device(on_exec))
            chan = t.accept(10)
            end = time.monotonic() + 10
            while chan is not None and not chan.closed and time.monotonic() < end:
                time.sleep(0.05)
        t.close()

    return serve(ADDR, script)


def exits_without_reading(chan: paramiko.Channel) -> None:
    chan.recv(1)  # the client is writing (so it has its exec reply), blocked on the window for the rest
    chan.sendall(b"nothing to change\n")
    chan.send_exit_status(0)
    chan.close()


def closes_without_status(chan: paramiko.Channel) -> None:
    chan.recv(1)  # end of input: the client has its exec reply
    chan.sendall(b"bye\n")
    chan.close()


def reads_then_exits(chan: paramiko.Channel) -> None:
    got = b""
    while not chan.eof_received:
        data = chan.recv(65536)
        if not data:
            break
        got += data
    chan.sendall(b"read %d bytes\n" % len(got))
    chan.send_exit_status(3)
    chan.close()


@pytest.fixture
def guard() -> ScopeGuard:
    return ScopeGuard(Scope.build([ADDR]), allowed_classes=frozenset({"safe", "auth", "intrusive"}))


def test_a_command_that_ends_without_reading_its_input_is_answered(guard):
    port = ssh_device(exits_without_reading)
    r = run_command(guard, ADDR, port, "installer", "pw", "true", stdin="x" * (4 * WINDOW), timeout=10)
    assert r.exit_status == 0 and r.stdout == "nothing to change\n"


def test_a_command_that_reads_its_input_gets_all_of_it(guard):
    port = ssh_device(reads_then_exits)
    r = run_command(guard, ADDR, port, "installer", "pw", "passwd", stdin="y" * (4 * WINDOW), timeout=10)
    assert r.exit_status == 3 and r.stdout == f"read {4 * WINDOW} bytes\n"


def test_no_exit_status_is_none_not_minus_one(guard):
    port = ssh_device(closes_without_status)
    r = run_command(guard, ADDR, port, "installer", "pw", "reboot", timeout=10)
    assert r.exit_status is None and r.stdout == "bye\n"


def test_a_refused_password_is_still_a_broken_exchange(guard):
    port = ssh_device(exits_without_reading)
    with pytest.raises(SshUnreachable, match="over SSH failed"):
        run_command(guard, ADDR, port, "installer", "wrong", "true", stdin="x\n", timeout=10)
