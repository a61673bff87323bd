"""The loopback fallback: devices on 127.0.10.x without namespaces, saying what it cannot run."""

import json
import subprocess

import pytest

from lab import manager
from tests.conftest import harness

pytestmark = [pytest.mark.lab, pytest.mark.lab_standalone]


@pytest.fixture(scope="module")
def loopback_lab():
    inv = manager.up(mode="loopback")
    try:
        yield inv
    finally:
        manager.down(quiet=True)


def test_loopback_inventory_states_what_cannot_run(loopback_lab):
    inv = loopback_lab
    assert inv["mode"] == "loopback" and inv["tester_namespace"] is None
    assert {u["address"] for d in inv["devices"] for u in d["units"]} == {
        "127.0.10.10", "127.0.10.20", "127.0.10.11", "127.0.10.21", "127.0.10.12", "127.0.10.13", "127.0.10.14",
        "127.0.10.15", "127.0.10.16", "127.0.10.17"}
    missing = {(u["device"], u["daemon"]) for u in inv["unavailable"]}
    assert missing == {("cam", "dropbear"), ("cam", "telnetd"), ("cam", "avahi"), ("cam", "snmpd"),
                       ("cam", "updater"), ("hub", "sshd"), ("hub", "console"), ("hub", "avahi"), ("hub", "updater"),
                       ("hub", "sensors"), ("hub", "resetd"), ("plug", "coap"),
                       ("router", "sshd"), ("router", "miniupnpd"), ("router", "snmpd"), ("router", "updater"),
                       ("router", "tftpd"),
                       ("nvr", "console"), ("nvr", "debugsshd"), ("nvr", "updater"), ("bell", "sshd"),
                       ("plug", "updater"), ("gate", "updater"), ("lock", "console"), ("lock", "updater")}
    assert all(u["reason"] for u in inv["unavailable"])
    assert any("SSH default-password check" in lim for lim in inv["limitations"])
    assert "lab-" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_loopback_run_gives_inconclusive_ssh_and_sees_the_web_services(loopback_lab, tmp_path):
    cam = next(d for d in loopback_lab["devices"] if d["name"] == "cam")
    out = tmp_path / "cam"
    r = harness("run", "--profile", cam["profile"], "--out", str(out))
    assert (out / "results.json").exists(), r.stderr
    res = json.loads((out / "results.json").read_text())
    cases = {c["id"]: c for c in res["cases"]}
    ssh = cases["credentials.default_password[cam:ssh/10022]"]
    assert ssh["verdict"] == "INCONCLUSIVE" and "Connection refused" in ssh["reason"]
    ports = json.loads((out / "evidence/exposure.tcp_ports_declared_cam/ports.json").read_text())
    assert {1883, 10080, 10443} <= set(ports["open"]) and 10023 not in ports["open"]
    assert harness("bundle", "verify", str(out)).returncode == 0


def test_loopback_down_leaves_nothing(tmp_path):
    manager.up(mode="loopback")
    manager.down(quiet=True)
    assert not list(manager.lab_dir().glob("dev/*/pids/*.json"))
    assert "127.0.10." not in subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
