"""Re-judging with no network and no lab: a bundle whose recorded observations show two
undeclared TLS ports, one offering TLS 1.0 and one whose scan stalled. The real check
(`communication.tls_on_undeclared_ports`) must end FAIL with both findings: the regression test
for the FAIL that the INCONCLUSIVE on the next port used to hide."""

import json
import shutil
import subprocess
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.record.bundle import seal
from harness.record.signing import Signer
from tests.conftest import ROOT, harness

PROFILE = """
identity: {vendor: V, model: M, firmware_version: "1"}
units: [{name: u1, address: 127.0.0.5}]
credentials: {kind: unique-per-unit}
schemes: [jc-star-1]
"""
SUITE = '''
import pytest
@pytest.mark.requirements("S1.1-02")
def test_placeholder(unit):
    pass
'''
LEAF = {"subject": "CN=127.0.0.5", "issuer": "CN=Lab CA", "key_type": "RSA", "key_bits": 2048,
        "signature_hash": "sha256", "not_before": "2026-01-01T00:00:00+00:00",
        "not_after": "2036-01-01T00:00:00+00:00", "san_dns": [], "san_ip": ["127.0.0.5"], "self_signed": False,
        "sha256": "00" * 32}
TLS_4443 = {"address": "127.0.0.5", "port": 4443, "groups": ["X25519"], "chain": [LEAF], "trust_anchor": "lab CA",
            "trusted": True, "validation_error": None, "incomplete": [], "scan_seconds": 0.4,
            "protocols": {"TLSv1.0": ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"],
                          "TLSv1.2": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"], "TLSv1.3": []},
            "vulnerabilities": {"heartbleed": False, "ccs_injection": False, "robot": False,
                                "insecure_renegotiation": False, "client_renegotiation_dos": False,
                                "compression": False, "fallback_scsv": False}}
SCAN = {"address": "127.0.0.5", "open_ports": [4443, 4444], "command": "nmap -sT", "xml": "<nmaprun/>",
        "elapsed_s": 0.1, "states": {"4443": "open", "4444": "open"}, "scripts": {}}


def _bundle_with_observations(tmp_path):
    (tmp_path / "suites" / "s").mkdir(parents=True)
    (tmp_path / "suites" / "s" / "test_s.py").write_text(SUITE)
    (tmp_path / "profile.yaml").write_text(PROFILE)
    b = tmp_path / "original"
    harness("run", "--profile", str(tmp_path / "profile.yaml"), "--out", str(b), "--suite", str(tmp_path / "suites"))
    obs = b / "observations" / "u1"
    obs.mkdir(parents=True)
    (obs / "tcp-scan.json").write_text(json.dumps({"observation": SCAN}))
    for port in (4443, 4444):
        (obs / f"speaks-{port}.json").write_text(json.dumps({"observation": "tls"}))
    (obs / "tls-4443.json").write_text(json.dumps({"observation": {"summary": TLS_4443, "sslyze": "{}"}}))
    (obs / "tls-4444.json").write_text(json.dumps({"error": {
        "type": "TlsUnavailable", "text": "no TLS handshake with 127.0.0.5:4444: it accepted the connection but "
                                         "did not answer a ClientHello within 5s (stalled handshake)"}}))
    shutil.rmtree(b / "reports")  # rendered from the run's own seal, which this re-seal replaces
    seal(b, Signer(Ed25519PrivateKey.generate(), "test"), {"result": "PASSED", "configuration": []})
    return b


def test_a_fail_on_one_undeclared_tls_port_survives_an_inconclusive_on_the_next(tmp_path):
    original = _bundle_with_observations(tmp_path)
    out = tmp_path / "rejudged"
    prefix = ["unshare", "--net"] if subprocess.run(["unshare", "--net", "true"]).returncode == 0 else []
    r = subprocess.run([*prefix, sys.executable, "-m", "harness.run.cli", "rejudge", str(original), "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    res = json.loads((out / "results.json").read_text())
    case = next(c for c in res["cases"] if c["id"] == "communication.tls_on_undeclared_ports[u1]")
    assert case["verdict"] == "FAIL", (case, r.stderr[-2000:])
    assert case["judged"] == "rejudged"
    got = [(f["target"], f["verdict"], f["rule"]) for f in case["findings"]]
    assert got == [("u1:undeclared/4443", "FAIL", "tls.protocol.TLSv1.0"),
                   ("u1:undeclared/4444", "INCONCLUSIVE", "tls.scan")]
    assert "stalled handshake" in case["findings"][1]["reason"]
    # the findings rest on the recorded observations, copied into the new bundle
    assert "observations/u1/tls-4443.json" in case["evidence"]
    assert (out / "observations" / "u1" / "tls-4444.json").is_file()
    # an observation the original never made means the device is needed: carried, never guessed
    udp = next(c for c in res["cases"] if c["id"] == "exposure.udp_ports_declared[u1]")
    assert udp["judged"] == "carried" and udp["verdict"] == "NOT_EVALUATED"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["connections"] == {} and manifest["scope"]["targets"] == []
    assert r.returncode == 1
