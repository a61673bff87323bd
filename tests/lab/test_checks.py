"""The first checks against real lab devices, each proven both ways (a violating and a satisfying
device), run exactly as an operator runs them: the CLI inside the tester namespace."""

import json
import shutil

import pytest

from lab import manager
from tests.conftest import LAB_PROFILES, harness
from tests.lab.conftest import assess

pytestmark = pytest.mark.lab


def test_cam_fails_default_ssh_password_and_undeclared_telnet(assessments, tmp_path):
    run = assessments["cam"]
    code, res, cases, reqs = run.code, run.results, run.cases, run.reqs
    tmp_path = run.out.parent
    assert code == 1
    ssh = cases["credentials.default_password[cam:ssh/22]"]
    assert ssh["verdict"] == "FAIL"
    assert "admin/«redacted» (default-credential entry 'admin-admin'" in ssh["reason"]
    attempts = json.loads((tmp_path / "cam" / ssh["evidence"][0]).read_text())
    assert attempts["accepted"]["entry"] == "admin-admin" and attempts["accepted"]["username"] == "admin"
    assert attempts["tried"] <= attempts["cap"]
    assert attempts["fingerprint"]["banner"].startswith("SSH-2.0-dropbear")
    assert "password" in attempts["fingerprint"]["methods"]
    assert reqs["S1.1-02"]["verdict"] == "FAIL" and reqs["LA-2"]["verdict"] == "FAIL"

    exposure = cases["exposure.tcp_ports_declared[cam]"]
    assert exposure["verdict"] == "FAIL" and "23" in exposure["reason"]
    ports = json.loads((tmp_path / "cam" / "evidence/exposure.tcp_ports_declared_cam/ports.json").read_text())
    assert ports["open"] == [22, 23, 80, 443, 1883, 8080] and ports["undeclared_open"] == [23]
    assert "<nmaprun" in (tmp_path / "cam" / "evidence/exposure.tcp_ports_declared_cam/nmap.xml").read_text()
    assert reqs["S1.1-13"]["verdict"] == "FAIL"
    # S1.1-05, -07 and -16 from what the maker publishes: a policy without contact, nothing else
    # S1.1-14/-15 (DC-3, DP-2): its "factory reset" keeps the user's settings and its shared default password
    assert res["summary"]["blocking_failures"] == [
        "S1.1-01", "S1.1-02", "S1.1-04", "S1.1-05", "S1.1-07", "S1.1-08", "S1.1-12", "S1.1-13", "S1.1-14",
        "S1.1-15", "S1.1-16", "DC-3", "DP-2", "LA-1", "LA-2", "SU-2", "SU-4"]


def test_hub_passes_exposure_and_ssh_check_is_not_applicable(assessments):
    run = assessments["hub"]
    res, cases, reqs, tmp_path = run.results, run.cases, run.reqs, run.out.parent
    # with brute enabled the hub FAILs S1.1-04 on its web and MQTT logins (no lockout): a true finding
    assert res["summary"]["blocking_failures"] == ["S1.1-04"], res["summary"]
    ssh = cases["credentials.default_password[hub:ssh/22]"]
    assert ssh["verdict"] == "NOT_APPLICABLE"
    assert ssh["reason"] == "hub:ssh/22: the service does not offer password authentication (offers: publickey)"
    assert cases["exposure.tcp_ports_declared[hub]"]["verdict"] == "PASS"
    assert reqs["S1.1-13"]["verdict"] == "PASS"
    # its factory reset erases the planted setting and the changed password, back to the label password
    assert reqs["S1.1-14"]["verdict"] == reqs["S1.1-15"]["verdict"] == reqs["DC-3"]["verdict"] == "PASS"
    assert reqs["S1.1-02"]["verdict"] == "ADVISORY"  # no pair accepted; some left untried to spare lockouts
    ports = json.loads((tmp_path / "hub" / "evidence/exposure.tcp_ports_declared_hub/ports.json").read_text())
    assert ports["open"] == [22, 80, 443, 2222, 8443, 8883] and ports["undeclared_open"] == []
    assert "<nmaprun" in (tmp_path / "hub" / "evidence/exposure.tcp_ports_declared_hub/nmap.xml").read_text()
    # the hub's per-unit MQTT password (a profile secret) is in no file of the bundle
    secret = (manager.lab_dir() / "secrets" / "hub-mqtt_password").read_bytes().strip()
    for f in (tmp_path / "hub").rglob("*"):
        if f.is_file():
            assert secret not in f.read_bytes(), f


def test_undeclared_listener_turns_exposure_to_fail(lab, tmp_path):
    www = manager.lab_dir() / "dev" / "hub" / "www"
    rogue = ["/bin/busybox", "httpd", "-f", "-p", "198.18.0.11:8081", "-h", str(www)]
    manager.start_daemon("hub", "rogue-debug", rogue)
    try:
        manager.wait_listening("hub", "rogue-debug", "tcp", 8081)
        _, code, cases, reqs = assess(LAB_PROFILES / "hub.yaml", tmp_path / "with-rogue", suite="exposure")
        assert code == 1
        case = cases["exposure.tcp_ports_declared[hub]"]
        assert case["verdict"] == "FAIL" and "8081" in case["reason"]
        assert reqs["S1.1-13"]["verdict"] == "FAIL" and reqs["LA-1"]["verdict"] == "FAIL"
    finally:
        manager.stop_daemon("hub", "rogue-debug")
    _, code, cases, _ = assess(LAB_PROFILES / "hub.yaml", tmp_path / "without-rogue", suite="exposure")
    assert cases["exposure.tcp_ports_declared[hub]"]["verdict"] == "PASS"


def test_real_bundle_detects_change_addition_removal(assessments, tmp_path):
    shutil.copytree(assessments["cam"].out, tmp_path / "orig")
    assert harness("bundle", "verify", str(tmp_path / "orig")).returncode == 0
    evidence = "evidence/exposure.tcp_ports_declared_cam/nmap.xml"
    for kind in ("changed", "added", "removed"):
        b = tmp_path / kind
        shutil.copytree(tmp_path / "orig", b)
        if kind == "changed":
            data = bytearray((b / evidence).read_bytes())
            data[-2] ^= 0x20
            (b / evidence).write_bytes(bytes(data))
        elif kind == "added":
            (b / "evidence" / "planted.txt").write_text("x")
        else:
            (b / evidence).unlink()
        r = harness("bundle", "verify", str(b))
        assert r.returncode == 1
        expected = {"changed": evidence, "added": "evidence/planted.txt", "removed": evidence}[kind]
        assert f"{kind}: {expected}" in r.stderr
        # every reader refuses it too, naming the file: no report from a tampered bundle
        rep = harness("report", str(b), "--format", "text")
        assert rep.returncode == 1 and f"{kind}: {expected}" in rep.stderr and not rep.stdout


def test_lab_status_reports_every_daemon(lab):
    r = harness("lab", "status", "--json")
    st = json.loads(r.stdout)
    assert st["up"] and {"lab-tester", "lab-cam", "lab-cam2", "lab-hub", "lab-hub2", "lab-router"} <= set(
        st["namespaces"])
    assert {(d["device"], d["name"]) for d in st["daemons"]} >= {
        ("cam", "dropbear"), ("cam", "telnetd"), ("cam", "nginx"), ("cam", "mosquitto"),
        ("cam2", "dropbear"), ("hub", "sshd"), ("hub", "console"), ("hub", "nginx"), ("hub", "mosquitto"),
        ("hub2", "console"), ("router", "sshd"), ("router", "httpd"), ("router", "miniupnpd"),
        ("cam", "avahi"), ("cam", "snmpd"), ("hub", "avahi"), ("router", "nginx"), ("cam", "updater"),
        ("hub", "updater"), ("hub2", "updater"), ("router", "updater"),
    }


def test_an_undeclared_login_service_that_refuses_every_default_passes(lab, tmp_path):
    """The other side of the undeclared-login check: the hub's web admin left out of the declaration
    is found, identified as HTTPS, and refuses every well-known pair (all of them tried here)."""
    import yaml

    data = yaml.safe_load((LAB_PROFILES / "hub.yaml").read_text())
    data["units"] = data["units"][:1]
    data["services"] = [s for s in data["services"] if s["name"] != "web"]
    data.setdefault("limits", {})["max_default_attempts_per_account"] = 20  # nginx has no lockout to spare
    (tmp_path / "hub-web-undeclared.yaml").write_text(yaml.safe_dump(data))
    run = assess(tmp_path / "hub-web-undeclared.yaml", tmp_path / "b", suite="credentials")
    case = run.cases["credentials.default_password_on_undeclared_services[hub]"]
    assert case["verdict"] == "PASS", case["reason"]
    report = json.loads((run.out / next(p for p in case["evidence"] if p.endswith("undeclared.json"))).read_text())
    assert report["identified"] == {"443": "https"}
    (result,) = report["results"]
    assert result["accepted"] is None and result["tried"] >= 5 and result["untried_for_lockout_safety"] == []
    assert all(a["accepted"] is False for a in result["attempts"])
