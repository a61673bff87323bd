"""Update integrity against the real lab agents, both ways: the hub's SWUpdate refuses every
malicious image with its own reason, installs the genuine update and refuses the downgrade; the
camera's home-made updater installs whatever it is sent. Afterwards both run a genuine image."""

import json
import subprocess

import pytest
import yaml

from lab import manager
from tests.conftest import LAB_PROFILES, ROOT, evidence_file, harness

HUBS = {"198.18.0.11": "hub", "198.18.0.21": "hub2"}

pytestmark = pytest.mark.lab


def _run(assessments, device: str):
    run = assessments[device]
    return run.out, run.cases, run.reqs


def _running(address: str) -> str:
    """What the unit says it runs, read outside the harness (curl): the hub behind TLS and a password."""
    if address in HUBS:
        secret = (manager.lab_dir() / "secrets" / f"{HUBS[address]}-web_password").read_text().strip()
        url, extra = f"https://{address}:8443/os-release", ["--cacert", str(manager.lab_dir() / "pki/ca.crt"),
                                                          "-u", f"admin:{secret}"]
    else:
        url, extra = f"http://{address}:8080/os-release", []
    r = subprocess.run(["ip", "netns", "exec", "lab-tester", "curl", "-s", "--max-time", "5", *extra, url],
                       capture_output=True, text=True, timeout=10)
    return r.stdout


EXPECTED_REASON = {
    "payload-byte-flipped": "HASH mismatch",
    "payload-changed-hash-updated": "Signature verification failed",
    "signature-removed": "Image invalid or corrupted",
    "rogue-ca-same-names": "Authentication of all signatures failed",
    "self-signed-signer": "Authentication of all signatures failed",
    "expired-signer": "Authentication of all signatures failed",
    "truncated": "HASH mismatch",
}


def test_hub_refuses_every_malicious_image_and_takes_the_genuine_update(assessments):
    out, cases, reqs = _run(assessments, "hub")
    assert reqs["S1.1-08"]["verdict"] == "PASS" and reqs["S1.1-06"]["verdict"] == "PASS"
    assert cases["update.genuine_images_verify_offline"]["verdict"] == "PASS"
    for unit in ("hub", "hub2"):
        for case, reason in EXPECTED_REASON.items():
            c = cases[f"update.malicious_image_refused[{unit}-{case}]"]
            assert c["verdict"] == "PASS", c["reason"]
            upload = evidence_file(out, c, "upload.json")
            assert upload["before"] == upload["after"] and 'VERSION_ID="4.2.0"' in upload["before"]
            assert upload["upload"]["device_result"] == "FAILURE"
            assert any(reason in e for e in upload["upload"]["stream_errors"]), upload["upload"]["stream_errors"]
            image = evidence_file(out, c, "image.json")
            assert image["how"] and len(image["sha256"]) == 64
            assert any(p.endswith(f"/{case}.swu") for p in c["evidence"])
        assert cases[f"update.genuine_update_installs[{unit}]"]["verdict"] == "PASS"
        down = cases[f"update.downgrade_refused[{unit}]"]
        assert down["verdict"] == "PASS"
        errors = evidence_file(out, down, "upload.json")["upload"]["stream_errors"]
        assert any("No downgrading allowed" in e for e in errors)
        pull = cases[f"update.pull_channel_refuses_an_untrusted_server[{unit}]"]
        assert pull["verdict"] == "PASS", pull["reason"]
        server = evidence_file(out, pull, "standin-server.json")
        assert server["connections"] and all(c["handshake"] == "aborted: TLSV1_ALERT_UNKNOWN_CA" and
                                             c["request"] is None for c in server["connections"])
    # left on the genuine newer image (anti-rollback forbids going back further)
    assert 'BUILD_ID="mfr-4.2.1"' in _running("198.18.0.11") and 'BUILD_ID="mfr-4.2.1"' in _running("198.18.0.21")


def test_weak_updater_installs_tampered_and_unsigned_images_and_is_put_back(assessments):
    out, cases, reqs = _run(assessments, "cam")
    assert reqs["S1.1-08"]["verdict"] == "FAIL"
    for case in ("payload-byte-flipped", "signature-removed", "rogue-ca-same-names"):
        c = cases[f"update.malicious_image_refused[cam-{case}]"]
        assert c["verdict"] == "FAIL" and "the running version read back changed from 1.0.3 to 1.0.4" in c["reason"]
        upload = evidence_file(out, c, "upload.json")
        assert 'VERSION_ID="1.0.3"' in upload["before"] and 'VERSION_ID="1.0.4"' in upload["after"]
        # the attacker's payload, not the genuine one, is what the camera now serves
        assert 'BUILD_ID="attacker-' in upload["after"] or 'BUILD_ID="mfr-1.0.4#' in upload["after"]
        assert upload["after"].splitlines()[-1] in c["reason"]
        restore = evidence_file(out, c, "restore.json")
        assert restore["ok"] and restore["restored_with"] == "cam-1.0.3.swu"
    assert cases["update.genuine_update_installs[cam]"]["verdict"] == "PASS"
    down = cases["update.downgrade_refused[cam]"]
    assert down["verdict"] == "ADVISORY" and down["reason"].startswith("cam installed the older")
    assert reqs["S1.1-08"]["verdict"] == "FAIL"  # for the tampered images, not for the downgrade
    # an image installed through an endpoint reached without credentials is a fact for every check
    facts = [json.loads(line) for line in (out / "observations" / "facts.jsonl").read_text().splitlines()]
    unauth = [f for f in facts if f["kind"] == "installed-without-credentials" and f["unit"] == "cam"]
    assert unauth and all(f["endpoint"] == "http://198.18.0.10:8080/cgi-bin/upload" for f in unauth)
    for address in ("198.18.0.10", "198.18.0.20"):
        assert 'BUILD_ID="mfr-1.0.4"' in _running(address)


def test_update_cases_are_gated_as_intrusive(lab, tmp_path):
    before = _running("198.18.0.11")
    out = tmp_path / "safe"
    harness("run", "--profile", str(LAB_PROFILES / "hub.yaml"), "--out", str(out), "--suite",
            str(ROOT / "test_suites" / "update"), tester=True)
    cases = {c["id"]: c for c in json.loads((out / "results.json").read_text())["cases"]}
    assert cases["update.genuine_images_verify_offline"]["verdict"] == "PASS"
    gated = [c for c in cases.values() if c["probe_class"] == "intrusive"]
    assert gated and all(c["verdict"] == "NOT_EVALUATED" and "--allow intrusive" in c["reason"] for c in gated)
    assert _running("198.18.0.11") == before  # nothing was sent


def test_router_pull_client_talks_to_a_man_in_the_middle(assessments):
    out, cases, reqs = _run(assessments, "router")
    assert reqs["S1.1-08"]["verdict"] == "FAIL"
    assert cases["update.genuine_images_verify_offline"]["verdict"] == "PASS"
    pull = cases["update.pull_channel_refuses_an_untrusted_server[router]"]
    server = evidence_file(out, pull, "standin-server.json")
    assert pull["verdict"] == "FAIL" and "GET /router/update.swu" in json.dumps(server)
    assert server["listen"] == "198.18.0.1:8444"
    assert all(c["handshake"] == "completed" and c["peer"] == "198.18.0.12" for c in server["connections"])
    # the hubs poll the same address: they are turned away, only the unit under test is answered
    assert set(server["refused_peers"]) <= {"198.18.0.11", "198.18.0.21"}
    truncated = cases["update.malicious_image_refused[router-truncated]"]  # a pull-only updater: images not sent
    assert truncated["verdict"] == "NOT_EVALUATED" and "pulls its updates" in truncated["reason"]


def _hub_variant(tmp_path, **update) -> str:
    """The hub profile, one unit, with some update declarations changed."""
    data = yaml.safe_load((LAB_PROFILES / "hub.yaml").read_text())
    data["units"] = data["units"][:1]
    data["update"].update(update)
    path = tmp_path / "hub-variant.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_image_the_device_would_refuse_fails_offline_verification(lab, tmp_path):
    # the manufacturer declares a trust anchor its signer does not chain to: its own images fail
    profile = _hub_variant(tmp_path, trust_anchor=str(manager.lab_dir() / "pki" / "ca.crt"))
    out = tmp_path / "b"
    harness("run", "--profile", profile, "--out", str(out), "--suite", str(ROOT / "test_suites" / "update"),
            tester=True)
    case = next(c for c in json.loads((out / "results.json").read_text())["cases"]
                if c["id"] == "update.genuine_images_verify_offline")
    assert case["verdict"] == "FAIL" and "would be refused by a device trusting the declared anchor" in case["reason"]
    report = evidence_file(out, case, "offline-verification.json")
    assert {r["ok"] for r in report["images"].values()} == {False}
    assert all("signature does not verify against the trust anchor" in r["reason"] for r in report["images"].values())


def test_update_the_device_does_not_take_fails_updatable(lab, tmp_path):
    # a "newer" image the hub will not install (another model's hardware, a lower version)
    cam_image = manager.lab_dir() / "firmware" / "cam" / "cam-1.0.4.swu"
    running = _running("198.18.0.11").split('VERSION_ID="')[1].split('"')[0]  # 4.2.0, or 4.2.1 after earlier tests
    genuine = manager.lab_dir() / "firmware" / "hub" / f"hub-{running}.swu"  # to put it back: declared, or no run
    profile = _hub_variant(tmp_path, newer_image=str(cam_image), current_image=str(genuine), settle_s=6)
    out = tmp_path / "b"
    harness("run", "--profile", profile, "--out", str(out), "--allow", "intrusive", "--suite",
            str(ROOT / "test_suites" / "update"), tester=True)
    case = next(c for c in json.loads((out / "results.json").read_text())["cases"]
                if c["id"] == "update.genuine_update_installs[hub]")
    upload = evidence_file(out, case, "upload.json")
    running = upload["before"].split('VERSION_ID="')[1].split('"')[0]  # 4.2.0, or 4.2.1 after earlier tests
    assert case["verdict"] == "FAIL"
    assert f"did not install the genuine update 1.0.4: it reads {running}" in case["reason"]
    assert upload["before"] == upload["after"] and upload["upload"]["device_result"] == "FAILURE"
    assert upload["upload"]["stream_errors"]


def test_a_claimed_rollback_protection_that_does_not_hold_fails(lab, tmp_path):
    """The FAIL side of the downgrade check: the camera installs the older image although its
    (varied) declaration claims rollback protection."""
    data = yaml.safe_load((LAB_PROFILES / "cam.yaml").read_text())
    data["units"] = data["units"][:1]
    data["update"]["rollback_protection"] = True
    (tmp_path / "cam-claims-rollback.yaml").write_text(yaml.safe_dump(data))
    before = _running("198.18.0.10")
    out = tmp_path / "b"
    harness("run", "--profile", str(tmp_path / "cam-claims-rollback.yaml"), "--out", str(out), "--allow",
            "intrusive", "--suite", str(ROOT / "test_suites" / "update"), tester=True)
    cases = {c["id"]: c for c in json.loads((out / "results.json").read_text())["cases"]}
    down = cases["update.downgrade_refused[cam]"]
    assert down["verdict"] == "FAIL" and "claims rollback protection but installed" in down["reason"]
    assert evidence_file(out, down, "upload.json")["rollback_protection_claimed"] is True
    assert _running("198.18.0.10") == before  # put back on the genuine image it ran


def test_a_unit_that_could_not_be_put_back_is_said_so_before_any_image_is_sent(lab, tmp_path):
    """No declared genuine image has the version the hub runs: every intrusive update case is
    NOT_EVALUATED, naming what to declare, and nothing was uploaded (the hub still runs it)."""
    before = _running("198.18.0.11")
    other = manager.lab_dir() / "firmware" / "cam"
    profile = _hub_variant(tmp_path, current_image=str(other / "cam-1.0.3.swu"),
                           older_image=str(other / "cam-1.0.2.swu"), newer_image=str(other / "cam-1.0.4.swu"))
    out = tmp_path / "b"
    harness("run", "--profile", profile, "--out", str(out), "--allow", "intrusive", "--suite",
            str(ROOT / "test_suites" / "update"), tester=True)
    cases = {c["id"]: c for c in json.loads((out / "results.json").read_text())["cases"]}
    live = [c for cid, c in cases.items() if cid.startswith(("update.malicious", "update.genuine_update",
                                                             "update.downgrade", "update.update_refused"))]
    assert live and all(c["verdict"] == "NOT_EVALUATED" and "could not be put back" in c["reason"] for c in live)
    assert _running("198.18.0.11") == before
