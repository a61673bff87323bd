"""A real sealed bundle for the report tests, made by a real run of a small suite on loopback
(no device is contacted: the checks only record). It holds every verdict a report must show,
evidence files, a fix, a waiver, a not-applicable declaration, a case left out by probe class,
and a planted password that must never reach any output."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.conftest import harness

PLANTED = "Plant3d-Pa55word-7f3e"

PROFILE = f"""
identity: {{vendor: Acme, model: "Cam <b>100</b>", firmware_version: "1.0"}}
units: [{{name: u1, address: 127.0.0.5, secrets: {{pw: {{value: "{PLANTED}"}}}}}}]
services: [{{name: web, port: 8080, protocol: http, purpose: admin pages, authentication: password}}]
credentials: {{kind: unique-per-unit}}
schemes: [jc-star-1, nist-ir-8259a]
not_applicable: [{{requirement: S1.1-16, justification: sold only with a support contract page}}]
waivers: [{{requirement: LA-1, reason: accepted until the next firmware, expires: 2099-01-01, approved_by: QA}}]
"""

SUITE = f'''
import pytest
from harness.record.verdict import inconclusive

@pytest.mark.requirements("S1.1-12")
def test_tls_versions(unit, findings, evidence):
    path = evidence.write_text("offer.txt", "TLSv1.0 offered; login {PLANTED}\\n")
    findings.fail("port 8443 offers TLS 1.0 <script>alert(1)</script>", target="u1:web/8443",
                  rule="tls.protocol.TLSv1.0", policy="mozilla-intermediate 5.7", fix="turn TLS 1.0 off",
                  evidence=[path])

@pytest.mark.requirements("S1.1-02")
def test_default_passwords(unit, findings, evidence):
    path = evidence.write_json("attempts.json", {{"tried": 12, "accepted": []}})
    findings.passed("none of 12 default pairs was accepted", target="u1:web/8080", rule="credentials.defaults",
                    evidence=[path])

@pytest.mark.requirements("S1.1-13")
def test_logging(unit):
    inconclusive("the log endpoint did not answer")

@pytest.mark.requirements("S1.1-04")
@pytest.mark.probe_class("brute")
def test_brute_force(unit):
    pass
'''


def make_bundle(tmp: Path, name: str = "bundle", suite: str = SUITE, env: dict[str, str] | None = None) -> Path:
    folder = tmp / "suites" / "checks"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test_checks.py").write_text(textwrap.dedent(suite))
    (tmp / "profile.yaml").write_text(PROFILE)
    out = tmp / name
    r = harness("run", "--profile", str(tmp / "profile.yaml"), "--out", str(out), "--suite", str(tmp / "suites"),
                env=env)
    assert r.returncode == 1 and (out / "bundle.dsse.json").exists(), r.stderr
    return out
