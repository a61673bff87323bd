"""Attack surface and secure communication against the real lab devices, each check proven both
ways: the weak camera and the legacy router must FAIL with the evidence, the hardened hub PASS."""

import json

import pytest
import yaml

from tests.conftest import LAB_PROFILES, evidence_file, harness
from tests.lab.conftest import assess

pytestmark = pytest.mark.lab


@pytest.fixture
def runs(assessments):
    return {d: {"code": r.code, "cases": r.cases, "reqs": r.reqs, "dir": r.out} for d, r in assessments.items()}


def _evidence(run, case_id: str, name: str):
    return evidence_file(run["dir"], run["cases"][case_id], name)


def test_cam_fails_s1_1_12_on_tls_ssh_and_cleartext(runs):
    cam = runs["cam"]
    assert cam["reqs"]["S1.1-12"]["verdict"] == "FAIL"
    tls = cam["cases"]["communication.tls_configuration[cam:web-tls/443]"]
    assert tls["verdict"] == "FAIL"
    for rule in ("tls.protocol.TLSv1.0", "tls.protocol.TLSv1.1", "tls.certificate.key_size",
                 "tls.certificate.signature"):
        assert rule in tls["reason"]
    verdict = _evidence(cam, "communication.tls_configuration[cam:web-tls/443]", "tls-verdict.json")
    rules = {v["rule"]: v["source"] for v in verdict["violations"]}
    assert rules["tls.protocol.TLSv1.0"].startswith("CRYPTREC GL-3001-3.0.1 ch. 4")
    assert "RSA key of 1024 bits" in tls["reason"] and "SHA1" in tls["reason"]
    assert verdict["observation"]["chain"][0]["key_bits"] == 1024
    raw = _evidence(cam, "communication.tls_configuration[cam:web-tls/443]", "sslyze.json")
    assert raw["scan_status"] == "COMPLETED"
    clear = cam["cases"]["communication.no_cleartext_interfaces[cam]"]
    assert clear["verdict"] == "FAIL"
    assert "tcp/23 telnet" in clear["reason"] and "tcp/80 HTTP without TLS asks for a password" in clear["reason"]
    assert "tcp/1883 MQTT on a plain port" in clear["reason"]
    ssh = cam["cases"]["communication.ssh_algorithms[cam:ssh/22]"]
    assert ssh["verdict"] == "FAIL" and "ssh.host_key.ssh-rsa" in ssh["reason"]


def test_cam_fails_s1_1_13_on_telnet_snmp_and_discovery(runs):
    cam = runs["cam"]
    assert cam["reqs"]["S1.1-13"]["verdict"] == "FAIL"
    insecure = cam["cases"]["exposure.no_insecure_services[cam]"]
    assert insecure["verdict"] == "FAIL"
    assert "[undeclared-and-insecure] tcp/23 telnet" in insecure["reason"]
    assert "[undeclared-and-insecure] udp/161 snmp-default-community" in insecure["reason"]
    udp = cam["cases"]["exposure.udp_ports_declared[cam]"]
    assert udp["verdict"] == "FAIL"
    assert "UDP port 161 (snmp)" in udp["reason"] and "UDP port 5353 (mdns)" in udp["reason"]
    # one finding per port: a build that opens one more shows as a new finding in `diff`
    assert {f["target"] for f in udp["findings"] if f["verdict"] == "FAIL"} == {"cam:udp/161", "cam:udp/5353"}
    ports = _evidence(cam, "exposure.udp_ports_declared[cam]", "udp-ports.json")
    assert ports["answered"] == [161, 5353] and ports["undeclared_answering"] == [161, 5353]
    disc = cam["cases"]["exposure.discovery_disclosure[cam]"]
    assert disc["verdict"] == "FAIL" and "'1.0.3'" in disc["reason"]


def test_hub_passes_s1_1_12_and_s1_1_13(runs):
    hub = runs["hub"]
    assert hub["reqs"]["S1.1-12"]["verdict"] == "PASS" and hub["reqs"]["S1.1-13"]["verdict"] == "PASS"
    for case in ("communication.tls_configuration[hub:web/443]", "communication.tls_configuration[hub:mqtt/8883]",
                 "communication.ssh_algorithms[hub:ssh/22]", "communication.ssh_algorithms[hub:console/2222]",
                 "communication.no_cleartext_interfaces[hub]", "exposure.udp_ports_declared[hub]",
                 "exposure.no_insecure_services[hub]", "exposure.discovery_disclosure[hub]"):
        assert hub["cases"][case]["verdict"] == "PASS", (case, hub["cases"][case]["reason"])
    verdict = _evidence(hub, "communication.tls_configuration[hub:mqtt/8883]", "tls-verdict.json")
    assert verdict["violations"] == [] and verdict["observation"]["trusted"] is True
    assert set(v for v, suites in verdict["observation"]["protocols"].items() if suites) == {"TLSv1.2", "TLSv1.3"}
    clear = _evidence(hub, "communication.no_cleartext_interfaces[hub]", "cleartext.json")
    port80 = next(p for p in clear["ports"] if p["port"] == 80)
    assert port80["responses"][0]["status"] == 301 and port80["finding"] is None
    disc = _evidence(hub, "exposure.discovery_disclosure[hub]", "discovery.json")
    assert {s["instance"] for s in disc["mdns_services"]} == {"SmartHub-hub._https._tcp.local.",
                                                               "SmartHub-hub._secure-mqtt._tcp.local."}
    assert hub["reqs"]["S1.1-10"]["verdict"] == "PASS"
    model = _evidence(hub, "exposure.model_identifiable[hub]", "model-identification.json")
    assert {a["value"] for a in model["advertised_by_the_unit"]} == {"LabHub2"}


def test_hub_passing_cases_rest_on_their_evidence(runs):
    hub = runs["hub"]
    udp = _evidence(hub, "exposure.udp_ports_declared[hub]", "udp-ports.json")
    assert udp["answered"] == [5353, 5684] and udp["undeclared_answering"] == [] and 161 in udp["closed"]
    insecure = _evidence(hub, "exposure.no_insecure_services[hub]", "insecure-services.json")
    assert insecure["findings"] == [] and insecure["confirmed_by_observation"] == []
    assert {s["port"] for s in insecure["services_seen"]} == {22, 80, 443, 2222, 8443, 8883, 5353, 5684}
    for port in (22, 2222):
        verdict = _evidence(hub, f"communication.ssh_algorithms[hub:{'ssh' if port == 22 else 'console'}/{port}]",
                            "ssh-verdict.json")
        assert verdict["violations"] == [] and verdict["policy"] == "iot-label-ssh-2026.1 v2026.1"
    offer = _evidence(hub, "communication.ssh_algorithms[hub:ssh/22]", "ssh-offer.json")
    assert offer["host_key"] == ["ssh-ed25519"]
    disc = _evidence(hub, "exposure.discovery_disclosure[hub]", "discovery.json")
    assert disc["disclosures"] == [] and any(a["field"] == "TXT model" for a in disc["advertised"])


def test_router_fails_ssh_policy_tls_expiry_and_discovery_serial(runs):
    router = runs["router"]
    ssh = router["cases"]["communication.ssh_algorithms[router:ssh/22]"]
    assert ssh["verdict"] == "FAIL"
    for rule in ("ssh.kex.diffie-hellman-group1-sha1", "ssh.kex.diffie-hellman-group14-sha1", "ssh.host_key.ssh-rsa",
                 "ssh.cipher.3des-cbc", "ssh.mac.hmac-md5"):
        assert rule in ssh["reason"]
    assert "RFC 9142 §4 (MUST NOT)" in ssh["reason"]
    offer = _evidence(router, "communication.ssh_algorithms[router:ssh/22]", "ssh-offer.json")
    assert "diffie-hellman-group1-sha1" in offer["kex"]
    tls = router["cases"]["communication.tls_configuration[router:web-tls/443]"]
    assert tls["verdict"] == "FAIL" and "tls.certificate.expired" in tls["reason"]
    assert "tls.protocol" not in tls["reason"]  # modern settings otherwise: the expiry alone fails it
    disc = router["cases"]["exposure.discovery_disclosure[router]"]
    assert disc["verdict"] == "FAIL"
    assert disc["reason"].index("the serial number") < disc["reason"].index("'LAB0001'")
    assert "(upnp-description serialNumber)" in disc["reason"]
    xml = _evidence(router, "exposure.discovery_disclosure[router]", "upnp-description-1.xml")
    assert "<serialNumber>LAB0001</serialNumber>" in xml
    insecure = router["cases"]["exposure.no_insecure_services[router]"]
    assert insecure["verdict"] == "FAIL" and "[declared-but-insecure] tcp/5000 upnp-igd" in insecure["reason"]
    assert "[undeclared-and-insecure] udp/69 tftp" in insecure["reason"]  # the recovery TFTP left on
    udp = router["cases"]["exposure.udp_ports_declared[router]"]
    assert udp["verdict"] == "FAIL" and "69 (tftp)" in udp["reason"]


def _one_hub(tmp_path):
    """The hub profile with its first unit only: the tests below are about one listener on it."""
    data = yaml.safe_load((LAB_PROFILES / "hub.yaml").read_text())
    data["units"] = data["units"][:1]
    (tmp_path / "hub-one-unit.yaml").write_text(yaml.safe_dump(data))
    return tmp_path / "hub-one-unit.yaml"


def test_golden_ssh_policy_holds_the_hub_and_catches_the_router(lab, tmp_path):
    golden = tmp_path / "hub-golden.yaml"
    r = harness("ssh-policy", "capture", "--address", "198.18.0.11", "--id", "hub-golden",
                "--out", str(golden), tester=True)
    assert r.returncode == 0, r.stderr
    for device, expected in (("hub", "PASS"), ("router", "FAIL")):
        data = yaml.safe_load((LAB_PROFILES / f"{device}.yaml").read_text())
        data["units"] = data["units"][:1]
        data.setdefault("communication", {})["ssh_policy"] = str(golden)
        profile = tmp_path / f"{device}.yaml"
        profile.write_text(yaml.safe_dump(data))
        out = tmp_path / f"out-{device}"
        cases = assess(profile, out, suite="communication").cases
        case = cases[f"communication.ssh_algorithms[{device}:ssh/22]"]
        assert case["verdict"] == expected, case["reason"]
        if expected == "FAIL":
            assert "not in the golden offer" in case["reason"] and "hub-golden" in case["reason"]


@pytest.mark.parametrize(("cert_of", "expected"), [("hub", "PASS"), ("cam", "FAIL")])
def test_tls_on_an_undeclared_port_is_judged_too(lab, tmp_path, cert_of, expected):
    """An undeclared debug listener speaking TLS (openssl s_server) is found and audited: with the
    hub's own certificate and settings it passes the TLS audit, with the camera's it fails."""
    from lab import manager

    pki = manager.lab_dir() / ("dev/hub/pki" if cert_of == "hub" else "model/cam/pki")
    settings = (["-no_tls1", "-no_tls1_1", "-groups", "X25519:P-256:P-384", "-cipher",
                 "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305"]
                if cert_of == "hub" else ["-cipher", "ALL:@SECLEVEL=0"])
    rogue = ["openssl", "s_server", "-quiet", "-www", "-accept", "198.18.0.11:9443",
             "-cert", str(pki / "web.crt"), "-key", str(pki / "web.key"), *settings]
    manager.start_daemon("hub", "rogue-tls", rogue)
    try:
        manager.wait_listening("hub", "rogue-tls", "tcp", 9443)
        _, _, cases, _ = assess(_one_hub(tmp_path), tmp_path / "b", suite="communication")
    finally:
        manager.stop_daemon("hub", "rogue-tls")
    case = cases["communication.tls_on_undeclared_ports[hub]"]
    assert case["verdict"] == expected, case["reason"]
    assert any(p.endswith("port9443-sslyze.json") for p in case["evidence"])
    if expected == "FAIL":
        assert "hub:undeclared/9443" in case["reason"] and "tls.certificate.key_size" in case["reason"]


@pytest.mark.parametrize(("device", "service", "port", "expected"),
                         [("hub", "console", 2222, "PASS"), ("cam", "ssh", 22, "FAIL")])
def test_an_undeclared_ssh_server_gets_the_same_algorithm_audit(lab, tmp_path, device, service, port, expected):
    """Both sides of the undeclared-SSH audit: the hub's installer console and the camera's dropbear,
    each left out of a (varied, one-unit) declaration, are found and judged by the SSH policy."""
    data = yaml.safe_load((LAB_PROFILES / f"{device}.yaml").read_text())
    data["units"] = data["units"][:1]
    data["services"] = [s for s in data["services"] if s["name"] != service]
    for key in ("credential_change", "factory_reset"):  # they go through the service left out
        data.pop(key, None)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    run = assess(tmp_path / "p.yaml", tmp_path / "b", suite="communication")
    case = run.cases[f"communication.ssh_on_undeclared_ports[{device}]"]
    assert case["verdict"] == expected, case["reason"]
    (finding, *more) = case["findings"]
    assert finding["target"] == f"{device}:undeclared/{port}"
    offer = json.loads((run.out / next(p for p in case["evidence"] if p.endswith(f"port{port}-ssh-offer.json")))
                       .read_text())
    if expected == "FAIL":
        assert offer["banner"].startswith("SSH-2.0-dropbear") and "ssh.host_key.ssh-rsa" in case["reason"]
    else:
        assert finding["rule"] == "ssh.policy" and not more and "ssh-rsa" not in offer["host_key"]


def test_a_unit_that_answers_nothing_is_never_passed_on_its_silence(lab, tmp_path):
    """The lock's link goes down before its exposure is scanned: with -Pn every host is "up", so a
    scan of a silent unit used to read as "nothing undeclared open" and PASS. Now no port answering
    (none open, none refused) ends every scan-based case INCONCLUSIVE, naming it."""
    import subprocess

    profile = yaml.safe_load((LAB_PROFILES / "lock.yaml").read_text())
    profile["limits"] = {"port_scan_timeout_s": 20, "connect_timeout_s": 2}
    path = tmp_path / "lock.yaml"
    path.write_text(yaml.safe_dump(profile))
    link = ["ip", "netns", "exec", "lab-tester", "ip", "link", "set", "v-lock"]
    subprocess.run([*link, "down"], check=True)
    try:
        run = assess(path, tmp_path / "b", suite="exposure")
    finally:
        subprocess.run([*link, "up"], check=True)
    for case_id in ("exposure.tcp_ports_declared[lock]", "exposure.udp_ports_declared[lock]",
                    "exposure.no_insecure_services[lock]"):
        c = run.cases[case_id]
        assert c["verdict"] == "INCONCLUSIVE", (case_id, c["verdict"], c["reason"])
        assert "answered on none" in c["reason"] or "no result" in c["reason"], c["reason"]
    assert not [c["id"] for c in run.cases.values() if c["verdict"] == "PASS"], "a PASS built on silence"
    assert run.code == 3 and harness("bundle", "verify", str(run.out)).returncode == 0


def test_a_declared_service_no_probe_speaks_is_never_passed_over(assessments, tmp_path):
    """The hub's declaration with one more service: RTSP on TCP 554, which no probe of this
    harness speaks (and the hub does not even run). Its access-control requirements would pass on
    the other services alone; the coverage matrix lists the RTSP interface as unjudged for them,
    S1.1-01 and LA-2 stay NOT_EVALUATED, and the run exits 3. (Clear text, S1.1-12, is judged for
    it: the TCP scan saw every port, and nothing answers on 554.)"""
    profile = yaml.safe_load((LAB_PROFILES / "hub.yaml").read_text())
    profile["units"] = profile["units"][:1]
    profile.pop("update", None)
    profile["services"].append({"name": "sensor", "port": 554, "protocol": "rtsp",
                                "purpose": "camera stream for the app", "authentication": "none"})
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(profile))
    warned = harness("profile", "validate", str(path))
    assert warned.returncode == 0 and "no probe of this harness speaks rtsp" in warned.stderr, warned.stderr
    run = assess(path, tmp_path / "b")
    rows = {r["requirement"]: r for r in run.results["coverage"] if r["service"] == "sensor"}
    assert set(rows) == {"S1.1-01", "S1.1-12", "LA-2"}
    assert rows["S1.1-12"]["cases"] == ["communication.no_cleartext_interfaces[hub]"]
    for rid in ("S1.1-01", "LA-2"):
        assert not rows[rid]["cases"] and rows[rid]["verdict"] == "NOT_EVALUATED"
        assert "speaks rtsp" in rows[rid]["reason"]
        req = run.reqs[rid]
        assert req["verdict"] == "NOT_EVALUATED" and req["unjudged"] == ["hub:sensor/tcp/554"], req
        # every other interface it bears on was judged, and passed
        judged = [r for r in run.results["coverage"] if r["requirement"] == rid and r["service"] != "sensor"]
        assert judged and all(r["cases"] and r["verdict"] in ("PASS", "ADVISORY") for r in judged), judged
    assert run.code == 3 and "not judged: hub:sensor/tcp/554" in harness("report", str(run.out)).stdout
    junit = harness("report", str(run.out), "--format", "junit").stdout
    assert 'name="S1.1-01 hub:sensor/tcp/554"' in junit and "no probe of this harness speaks rtsp" in junit


def test_the_public_snmp_read_fails_the_camera_with_its_answer_and_finds_nothing_on_the_v3_only_router(runs):
    """The UDP scan asks an agent on 161 for sysDescr with the community public (SNMPv1): the
    camera's Net-SNMP answers (clear text and a firmware disclosure, with the answer as evidence);
    the router's answers SNMPv3 with privacy only, so nothing is read and clear text stays unknown."""
    cam, router = runs["cam"], runs["router"]
    scan = json.loads((cam["dir"] / "observations/cam/udp-scan.json").read_text())["observation"]
    assert scan["sysdescr"] == {"161": "LabCam100 firmware 1.0.3 (Linux 5.10 armv7l)"} and not scan["scripts"]
    assert "--script" not in scan["command"]
    clear = _evidence(cam, "communication.no_cleartext_interfaces[cam]", "cleartext.json")
    (snmp,) = [u for u in clear["udp_ports"] if u["port"] == 161]
    assert snmp["outcome"] == "fail" and snmp["snmp_v1_public_answer"].startswith("LabCam100 firmware 1.0.3")
    assert "udp/161 SNMPv1 with the community 'public' answered" in cam["cases"][
        "communication.no_cleartext_interfaces[cam]"]["reason"]
    seen = _evidence(cam, "exposure.discovery_disclosure[cam]", "discovery.json")
    assert any(a["protocol"] == "snmp" and a["value"].startswith("LabCam100 firmware") for a in seen["advertised"])
    scan = json.loads((router["dir"] / "observations/router/udp-scan.json").read_text())["observation"]
    assert scan["sysdescr"] == {} and scan["states"]["161"] in ("open", "open|filtered")
    clear = _evidence(router, "communication.no_cleartext_interfaces[router]", "cleartext.json")
    (snmp,) = [u for u in clear["udp_ports"] if u["port"] == 161]
    assert snmp["outcome"] == "unknown" and snmp["snmp_v1_public_answer"] is None
