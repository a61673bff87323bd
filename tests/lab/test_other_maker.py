"""The second maker's product line (Kairo's NVR, doorbell, plug, gateway and lock), profiles
written from the vendor's declaration only: each class of the 'devices we did not build' issue,
violated by one lab device and satisfied by another, with the evidence asserted and not only the
verdict."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import LAB_PROFILES, evidence_file
from tests.lab.conftest import FULL, assess, narrowed_suite, profile_without

pytestmark = pytest.mark.lab


def _case(run, case_id):
    return run.cases[case_id]


def test_the_doorbells_only_gap_fails_s1_1_02_and_s1_1_13_naming_port_and_entry(assessments):
    """Acceptance: a forgotten stock OpenSSH on 2323 taking admin/password from the Mirai table."""
    bell = assessments["bell"]
    assert bell.code == 1
    for req in ("S1.1-02", "S1.1-13"):
        r = bell.reqs[req]
        assert r["verdict"] == "FAIL", r
        text = " ".join(bell.cases[c]["reason"] for c in r["cases"])
        assert "2323" in text and "admin-password" in text, (req, text[:500])
    case = _case(bell, "credentials.default_password_on_undeclared_services[bell]")
    assert "bell:undeclared-2323/2323" in case["reason"] and "admin-password" in case["reason"]
    report = evidence_file(bell.out, case, "undeclared.json")
    (result,) = report["results"]
    assert result["accepted"]["entry"] == "admin-password" and "mirai" in result["accepted"]["source"]
    # everything the doorbell declares holds: nothing else fails but what that service causes, and
    # what its maker does not publish (no support period, nothing on how updates are applied, no privacy
    # notice or deletion instructions)
    failed = {c["check"] for c in bell.cases.values() if c["verdict"] == "FAIL"}
    assert failed == {"credentials.default_password_on_undeclared_services", "exposure.tcp_ports_declared",
                      "communication.ssh_on_undeclared_ports", "credentials.brute_force_on_undeclared_services",
                      "documents.support_period", "documents.update_procedure", "documents.privacy_information",
                      "documents.data_deletion_instructions"}
    # its policy sits on the maker's site, named by host: never resolved, so not judged either way
    policy = bell.cases["documents.disclosure_policy"]
    assert policy["verdict"] == "INCONCLUSIVE" and "host names are not resolved" in policy["reason"]


def test_class1_generic_pairs_on_every_login_every_accepted_pair_reported(assessments):
    nvr = assessments["nvr"]
    case = _case(nvr, "credentials.default_password_on_undeclared_services[nvr]")
    assert case["verdict"] == "FAIL"
    (result,) = evidence_file(nvr.out, case, "undeclared.json")["results"]
    assert [a["entry"] for a in result["all_accepted"]] == ["support-support"]
    # the declared console refuses every generic pair tried on it, and says how many
    console = _case(nvr, "credentials.default_password[nvr:console/22]")
    attempts = evidence_file(nvr.out, console, "attempts.json")
    assert attempts["all_accepted"] == [] and attempts["tried"] >= 5
    assert {"admin-admin", "root-root", "support-support"} <= {a["entry"] for a in attempts["attempts"]}
    assert any(f["verdict"] == "PASS" and f"among {attempts['tried']}" in f["reason"] for f in console["findings"])


def test_class3_and_5_brute_force_measured_on_undeclared_services_both_ways(assessments):
    """The NVR's debug SSH goes through pam_faillock (locks); the doorbell's stock SSH never locks.
    Both are measured with the pair the default-password case proved there."""
    bell = _case(assessments["bell"], "credentials.brute_force_on_undeclared_services[bell]")
    nvr = _case(assessments["nvr"], "credentials.brute_force_on_undeclared_services[nvr]")
    assert bell["verdict"] == "FAIL" and nvr["verdict"] == "PASS"
    m_bell = evidence_file(assessments["bell"].out, bell, "measurement-2323.json")
    m_nvr = evidence_file(assessments["nvr"].out, nvr, "measurement-2222.json")
    assert "admin-password" in m_bell["known_login"] and m_bell["lockout_threshold"] is None
    assert "support-support" in m_nvr["known_login"] and m_nvr["lockout_threshold"] is not None
    # lockout on one service and not another, on one device
    n = assessments["nvr"]
    assert _case(n, "credentials.brute_force_resistance[nvr:console/22]")["verdict"] == "PASS"
    assert _case(n, "credentials.brute_force_resistance[nvr:admin/443]")["verdict"] == "FAIL"
    assert n.reqs["S1.1-04"]["verdict"] == "FAIL"


def test_class4_public_documents_service_passes_and_missing_inputs_are_not_evaluated(assessments):
    nvr = assessments["nvr"]
    docs = _case(nvr, "credentials.web_access_without_credentials[nvr:docs/8081]")
    assert docs["verdict"] == "PASS"
    access = evidence_file(nvr.out, docs, "web-access.json")
    assert access["public"] is True and any(p["path"] == "/" and p["status"] == 200 for p in access["pages"])
    assert all(t["status"] in (403, 404, 405) for t in access["state_change_tries"])  # limit_except refuses
    for dev in ("nvr", "bell", "router"):
        run = assessments[dev]
        for cid, c in run.cases.items():
            if cid.startswith(("update.", "credentials.password_can_be_changed", "credentials.unique_per_unit")):
                assert c["verdict"] != "NOT_APPLICABLE" or "pull channel" in c["reason"], (dev, cid, c["reason"])


def test_exit_code_3_when_the_update_cases_could_not_run(lab, tmp_path):
    run = assess(LAB_PROFILES / "bell.yaml", tmp_path / "b", *FULL, suite="update")
    assert run.code == 3 and run.results["summary"]["exit_code"] == 3
    assert {c["verdict"] for c in run.cases.values()} == {"NOT_EVALUATED"}
    assert all("update" in c["reason"] for c in run.cases.values())


def test_class6_and_10_legacy_tls_admin_is_reached_and_its_static_rsa_named(assessments):
    nvr = assessments["nvr"]
    tls = _case(nvr, "communication.tls_configuration[nvr:admin/443]")
    rules = {f["rule"] for f in tls["findings"]}
    assert {"tls.protocol.TLSv1.0", "tls.protocol.TLSv1.1", "tls.key_exchange.TLSv1.0"} <= rules
    assert any("TLS_RSA_WITH_AES_128_CBC_SHA" in f["reason"] and "RFC 9325" in f["reason"]
               for f in tls["findings"] if f["rule"] == "tls.key_exchange.TLSv1.0")
    # the logins on that TLS 1.0-only port were decided, not INCONCLUSIVE
    login = _case(nvr, "credentials.default_password[nvr:admin/443]")
    attempts = evidence_file(nvr.out, login, "attempts.json")["attempts"]
    assert attempts and all(a["accepted"] is False and a["outcome"] == "basic login: HTTP 401" for a in attempts)
    assert _case(nvr, "credentials.brute_force_resistance[nvr:admin/443]")["verdict"] == "FAIL"
    # the satisfying side: a modern server has no key-exchange finding
    hub = _case(assessments["hub"], "communication.tls_configuration[hub:web/443]")
    assert not any(f["rule"].startswith("tls.key_exchange") for f in hub["findings"])


def test_class7_identifiers_by_meaning_without_any_declaration(assessments):
    nvr = assessments["nvr"]
    case = _case(nvr, "exposure.web_disclosure[nvr]")
    assert case["verdict"] == "FAIL"
    record = evidence_file(nvr.out, case, "web-disclosure.json")
    admin = next(p for p in record["ports"] if p["endpoint"] == "nvr:admin/443")
    assert "/api/status" in admin["served"]
    kinds = {(d["kind"], d["field"]) for d in admin["disclosures"]}
    assert {("serial-number", "device.serial_no"), ("mac-address", "device.macAddress"),
            ("firmware-version", "fw_version")} <= kinds
    profile = yaml.safe_load((LAB_PROFILES / "nvr.yaml").read_text())
    assert profile["identity"]["firmware_version"] == "unknown" and "serial" not in profile["units"][0]
    bell = _case(assessments["bell"], "exposure.web_disclosure[bell]")
    assert bell["verdict"] == "PASS"
    served = {p for port in evidence_file(assessments["bell"].out, bell, "web-disclosure.json")["ports"]
              for p in port["served"]}
    assert "/.well-known/security.txt" in served or "/" in served


def test_undeclared_web_ports_get_the_same_access_judgement(lab, tmp_path):
    """The camera's upload service and the hub's web admin, each left out of the declaration: found,
    identified as HTTP(S), and judged like a declared one (the upload accepts a POST; the hub refuses)."""
    suite = narrowed_suite(tmp_path, "credentials", "test_web_access.py")  # the one check this is about
    cam = assess(profile_without(tmp_path, "cam", "update"), tmp_path / "cam", *FULL, "--suite", suite)
    case = cam.cases["credentials.web_access_on_undeclared_ports[cam]"]
    assert case["verdict"] == "FAIL", case["reason"]
    assert any(f["rule"] == "web.state_change_without_credentials" and "8080" in f["target"] for f in case["findings"])
    hub = assess(profile_without(tmp_path, "hub", "web"), tmp_path / "hub", *FULL, "--suite", suite)
    case = hub.cases["credentials.web_access_on_undeclared_ports[hub]"]
    assert case["verdict"] == "PASS", case["reason"]
    record = evidence_file(hub.out, case, "web-access-undeclared.json")
    assert record["ports"] == {"443": "https"}
    assert all(t["status"] == 401 for r in record["results"] for t in r["state_change_tries"])


def test_class8_a_vendors_signed_manifest_format_declared_as_data_both_ways(assessments):
    """The maker's own format (tar of manifest.json, manifest.sig, payloads), declared in the
    profile: the plug's updater checks hashes only and installs re-hashed, unsigned, rogue-,
    self- and expired-signed images; the NVR's verifies and refuses all seven variants."""
    plug, nvr = assessments["plug"], assessments["nvr"]
    installed = {"payload-changed-hash-updated", "signature-removed", "rogue-ca-same-names", "self-signed-signer",
                 "expired-signer"}
    for case in installed:
        c = _case(plug, f"update.malicious_image_refused[plug-{case}]")
        assert c["verdict"] == "FAIL", (case, c["reason"])
        upload = evidence_file(plug.out, c, "upload.json")
        assert f"attacker-{case}" in upload["after"] and '"version": "1.4.1"' in upload["after"]
        assert any(p.endswith(f"/{case}.img") for p in c["evidence"])  # the image itself, as sent
    for case in ("payload-byte-flipped", "truncated"):
        assert _case(plug, f"update.malicious_image_refused[plug-{case}]")["verdict"] == "PASS"
    for case in (*installed, "payload-byte-flipped", "truncated"):
        c = _case(nvr, f"update.malicious_image_refused[nvr-{case}]")
        assert c["verdict"] == "PASS", (case, c["reason"])
    assert plug.reqs["S1.1-08"]["verdict"] == "FAIL"
    # the unauthenticated upload is an access-control failure too; the NVR asks for its password
    assert _case(plug, "update.update_refused_without_credentials[plug]")["verdict"] == "FAIL"
    assert plug.reqs["S1.1-01"]["verdict"] == "FAIL"
    assert _case(nvr, "update.update_refused_without_credentials[nvr]")["verdict"] == "PASS"
    # the version read back two ways: the plug's JSON key over HTTP, the NVR's command over SSH
    # (its installer console, the declared account); genuine images verified offline in that format
    genuine = _case(nvr, "update.genuine_update_installs[nvr]")
    assert genuine["verdict"] == "PASS"
    upload = evidence_file(nvr.out, genuine, "upload.json")
    assert 'VERSION_ID="3.1.4"' in upload["before"] and 'VERSION_ID="3.1.5"' in upload["after"]
    plug_genuine = evidence_file(plug.out, _case(plug, "update.genuine_update_installs[plug]"), "upload.json")
    assert '"version": "1.4.1"' in plug_genuine["after"]
    offline = evidence_file(plug.out, _case(plug, "update.genuine_images_verify_offline"), "offline-verification.json")
    assert all(i["ok"] and i["payloads_checked"] == ["os-release", "rootfs.img"] for i in offline["images"].values())


def test_class9_hostile_answers_are_no_verdict_where_real_daemons_give_one(assessments):
    """The plug's telnet port sends random bytes and its MQTT port a reserved CONNACK code: no
    prompt, no refusal, so INCONCLUSIVE with what was seen; the cam's telnetd and mosquitto and
    the hub's mosquitto, real daemons, give verdicts."""
    plug = assessments["plug"]
    for case_id in ("credentials.default_password[plug:console/23]",
                    "credentials.no_unauthenticated_access[plug:console/23]",
                    "credentials.default_password[plug:events/1883]",
                    "credentials.no_unauthenticated_access[plug:events/1883]"):
        c = _case(plug, case_id)
        assert c["verdict"] == "INCONCLUSIVE", (case_id, c["verdict"], c["reason"])
    mqtt = _case(plug, "credentials.no_unauthenticated_access[plug:events/1883]")
    assert "reserves" in mqtt["reason"]
    assert "Unspecified error" in evidence_file(plug.out, mqtt, "access.json")["observations"][0]["connack"]
    cam, hub = assessments["cam"], assessments["hub"]
    assert _case(cam, "credentials.no_unauthenticated_access[cam:mqtt/1883]")["verdict"] == "FAIL"
    assert _case(hub, "credentials.no_unauthenticated_access[hub:mqtt/8883]")["verdict"] == "PASS"
    assert _case(cam, "credentials.default_password_on_undeclared_services[cam]")["verdict"] == "FAIL"  # telnetd


def test_class8_rauc_bundles_on_a_real_rauc_agent(assessments):
    """The gateway runs RAUC 1.8 from Debian: the seven variants derived from its plain bundle
    (squashfs rebuilt with squashfs-tools, signatures made like RAUC's) are all refused, the
    genuine newer bundle installs and the older one is refused; the version is read back as JSON."""
    gate = assessments["gate"]
    for case in ("payload-byte-flipped", "payload-changed-hash-updated", "signature-removed", "rogue-ca-same-names",
                 "self-signed-signer", "expired-signer", "truncated"):
        c = _case(gate, f"update.malicious_image_refused[gate-{case}]")
        assert c["verdict"] == "PASS", (case, c["reason"])
        upload = evidence_file(gate.out, c, "upload.json")
        assert '"version": "5.0.0"' in upload["after"] or '"version": "5.0.1"' in upload["after"]
        assert "attacker" not in upload["after"]
        assert any(p.endswith(f"/{case}.raucb") for p in c["evidence"])
    genuine = _case(gate, "update.genuine_update_installs[gate]")
    assert genuine["verdict"] == "PASS"
    assert '"version": "5.0.1"' in evidence_file(gate.out, genuine, "upload.json")["after"]
    assert _case(gate, "update.downgrade_refused[gate]")["verdict"] == "PASS"
    assert _case(gate, "update.update_refused_without_credentials[gate]")["verdict"] == "PASS"
    offline = evidence_file(gate.out, _case(gate, "update.genuine_images_verify_offline"), "offline-verification.json")
    assert all(i["ok"] for i in offline["images"].values()) and gate.reqs["S1.1-08"]["verdict"] == "PASS"


def test_class8_a_raw_image_with_a_detached_signature_both_ways(assessments):
    """The lock's updater takes a raw image and its detached CMS signature in one form. It verifies
    a signature that is sent (rogue, self-signed, expired, tampered, truncated: all refused, each
    with its signature sent beside the image) and installs an image sent without one: the
    signature-removed variant FAILs S1.1-08, on the device's own version read back."""
    lock = assessments["lock"]
    stripped = _case(lock, "update.malicious_image_refused[lock-signature-removed]")
    assert stripped["verdict"] == "FAIL", stripped["reason"]
    assert "changed from 2.2.0 to 2.3.0" in stripped["reason"]
    assert evidence_file(lock.out, stripped, "image.json")["sent_beside"] is None
    assert not any(p.endswith(".sig") for p in stripped["evidence"])
    upload = evidence_file(lock.out, stripped, "upload.json")
    assert 'VERSION_ID="2.2.0"' in upload["before"] and 'VERSION_ID="2.3.0"' in upload["after"]
    for case in ("payload-byte-flipped", "payload-changed-hash-updated", "rogue-ca-same-names", "self-signed-signer",
                 "expired-signer", "truncated"):
        c = _case(lock, f"update.malicious_image_refused[lock-{case}]")
        assert c["verdict"] == "PASS", (case, c["reason"])
        assert evidence_file(lock.out, c, "image.json")["sent_beside"] == f"{case}.bin.sig"
        assert any(p.endswith(f"/{case}.bin.sig") for p in c["evidence"])  # the signature itself, as sent
        assert evidence_file(lock.out, c, "upload.json")["upload"]["http_status"] == 422
    assert lock.reqs["S1.1-08"]["verdict"] == "FAIL"
    assert _case(lock, "update.genuine_update_installs[lock]")["verdict"] == "PASS"
    offline = evidence_file(lock.out, _case(lock, "update.genuine_images_verify_offline"), "offline-verification.json")
    assert all(i["ok"] and "whole image" in i["reason"] for i in offline["images"].values())
    assert _case(lock, "update.downgrade_refused[lock]")["verdict"] == "ADVISORY"  # rollback protection not claimed


def test_a_key_based_test_account_reads_the_version_and_proves_nothing_about_passwords(assessments):
    """The lock's console takes keys only; its declared account logs in with a key file. The
    update cases read the running version through it, and the password checks on that console
    are NOT_APPLICABLE for the right reason (no password login offered), not for want of input."""
    lock = assessments["lock"]
    genuine = _case(lock, "update.genuine_update_installs[lock]")
    upload = evidence_file(lock.out, genuine, "upload.json")
    assert 'NAME="KairoLock-3 firmware"' in upload["before"] and 'VERSION_ID="2.3.0"' in upload["after"]
    for check in ("default_password", "brute_force_resistance"):
        c = _case(lock, f"credentials.{check}[lock:console/22]")
        assert c["verdict"] == "NOT_APPLICABLE" and "offers: publickey" in c["reason"], c["reason"]
    profile = yaml.safe_load((LAB_PROFILES / "lock.yaml").read_text())
    key_lines = Path(profile["services"][0]["account"]["key_file"]).read_text().splitlines()[1:-1]
    text = "".join(p.read_text(errors="replace") for p in lock.out.rglob("*") if p.is_file())
    assert "PRIVATE KEY" not in text and not any(line in text for line in key_lines)  # the key never enters it
