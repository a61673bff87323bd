"""Default-password series of several units overlap (each login's device-imposed delay is spent
once per batch, not once per unit), yet no unit ever sees more connections at once than its
declared budget, and the verdicts are those of a run that tried one unit after the other.

The devices are telnet services on loopback that take REJECT_DELAY_S to refuse a password (as a
PAM delay does); they log when each connection was open, so overlap and concurrency are measured
on the device side, where the budget matters."""

from __future__ import annotations

import json
import socketserver
import textwrap
import threading
import time

import pytest

from tests.conftest import ROOT, harness

REJECT_DELAY_S = 1.0
BUDGET = 4
ACCEPTS = {"127.0.0.42": (b"admin", b"admin")}  # the second unit ships a well-known pair


class _Device(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: str, log: list, lock: threading.Lock) -> None:
        super().__init__((address, 0), _Login)
        self.address, self.log, self.lock, self.open_now, self.most = address, log, lock, 0, 0


class _Login(socketserver.BaseRequestHandler):
    def _line(self) -> bytes:
        data = b""
        while not data.endswith(b"\n"):
            chunk = self.request.recv(1)
            if not chunk:
                break
            data += chunk
        return data.replace(b"\xff\xfd\x01", b"").strip(b"\r\n\x00 ")

    def handle(self) -> None:
        """Counts a login as in progress from the user name until the device has answered it:
        what the device is busy with (a port scan's connect-and-close is no login)."""
        dev: _Device = self.server  # type: ignore[assignment]
        try:
            self.request.settimeout(10)
            self.request.sendall(b"device login: ")
            user = self._line()
            if not user:
                return
            t0 = time.monotonic()
            with dev.lock:
                dev.open_now += 1
                dev.most = max(dev.most, dev.open_now)
            try:
                self.request.sendall(b"Password: ")
                password = self._line()
                if ACCEPTS.get(dev.address) == (user, password):
                    reply = b"\r\nWelcome\r\n~ # "
                else:
                    time.sleep(REJECT_DELAY_S)
                    reply = b"\r\nLogin incorrect\r\ndevice login: "
            finally:
                with dev.lock:
                    dev.open_now -= 1
                    dev.log.append((dev.address, t0, time.monotonic()))
            self.request.sendall(reply)
            time.sleep(0.3)
        except OSError:
            pass


@pytest.fixture
def devices():
    log: list = []
    lock = threading.Lock()
    servers = [_Device(a, log, lock) for a in ("127.0.0.41", "127.0.0.42")]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield servers, log
    for s in servers:
        s.shutdown()
        s.server_close()


def _profile(tmp_path, servers) -> str:
    units = ", ".join(f"{{name: u{i}, address: {s.address}}}" for i, s in enumerate(servers, 1))
    port = {s.server_address[1] for s in servers}
    services = "\n".join(
        f"  - {{name: console{i}, port: {s.server_address[1]}, protocol: telnet, purpose: maintenance, "
        f"authentication: password, units: [u{i}]}}" for i, s in enumerate(servers, 1))
    assert len(port) == 2  # each unit's service on its own port, declared for that unit only
    p = tmp_path / "p.yaml"
    p.write_text(textwrap.dedent(f"""
        identity: {{vendor: V, model: M, firmware_version: "1"}}
        units: [{units}]
        credentials: {{kind: unique-per-unit}}
        schemes: [jc-star-1]
        limits: {{connect_timeout_s: 3, max_connections_per_unit: {BUDGET}}}
    """) + "services:\n" + services + "\n")
    return str(p)


def test_units_default_password_series_overlap_within_each_units_budget(devices, tmp_path):
    servers, log = devices
    out = tmp_path / "b"
    r = harness("run", "--profile", _profile(tmp_path, servers), "--suite", str(ROOT / "test_suites/credentials"),
                "--out", str(out), timeout=180)
    assert (out / "results.json").exists(), r.stderr
    cases = {c["id"]: c for c in json.loads((out / "results.json").read_text())["cases"]}
    first = cases[f"credentials.default_password[u1:console1/{servers[0].server_address[1]}]"]
    second = cases[f"credentials.default_password[u2:console2/{servers[1].server_address[1]}]"]
    # verdicts as a sequential run gives them: the unit that takes admin/admin FAILs, naming the
    # entry; the other passes after real, rejected attempts (an advisory beside it names the pairs
    # left untried below the lockout threshold)
    assert second["verdict"] == "FAIL"
    assert any("accepts a well-known default password: admin/" in f["reason"] for f in second["findings"])
    assert first["verdict"] == "ADVISORY"
    assert [f["verdict"] for f in first["findings"]] == ["PASS", "ADVISORY"], first["findings"]
    series = [e for e in first["evidence"] if e.endswith("attempts.json")]
    assert series, first["evidence"]
    attempts = json.loads((out / series[0]).read_text())
    assert attempts["tried"] >= 2 and all(a["accepted"] is False for a in attempts["attempts"])
    # the background series is an observation the case read: it is named as the case's evidence
    assert any("default-logins-console1" in e for e in first["evidence"]), first["evidence"]
    # measured on the devices: the two units were being tried at the same time...
    spans = {a: [(s, e) for addr, s, e in log if addr == a] for a in ("127.0.0.41", "127.0.0.42")}
    start_1, end_1 = min(s for s, _ in spans["127.0.0.41"]), max(e for _, e in spans["127.0.0.41"])
    start_2, end_2 = min(s for s, _ in spans["127.0.0.42"]), max(e for _, e in spans["127.0.0.42"])
    assert start_2 < end_1 and start_1 < end_2, spans
    # ...and neither ever had more logins in progress at once than its budget
    assert all(s.most <= BUDGET for s in servers), [s.most for s in servers]
