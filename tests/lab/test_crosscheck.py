"""Independent second opinions on the same lab devices: ssh-audit for SSH, testssl.sh for TLS.

They share no code with our probes (ssh-audit parses the KEXINIT itself; testssl.sh speaks TLS
through bash sockets and the system OpenSSL), so agreement means our readings and verdicts are
not an artefact of our own parsing. Where the tools' *policies* differ on purpose, the
difference is listed here with its reason rather than hidden.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.judgement.policies import load_ssh_policy, load_tls_policy
from tests.conftest import ROOT

pytestmark = pytest.mark.lab

SSH_ENDPOINTS = [("cam", "198.18.0.10", 22), ("hub", "198.18.0.11", 22), ("hub", "198.18.0.11", 2222),
                 ("router", "198.18.0.12", 22)]
# ssh-audit fails the NIST P-curves on suspicion of a backdoor; RFC 9142 and NIST SP 800-186
# allow them, and our policy follows those. Everything else ssh-audit fails, we must fail too.
ACCEPTED_DIFFERENCES = {
    "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
    "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
}
CATEGORIES = {"kex": "kex", "key": "host_key", "enc": "cipher", "mac": "mac"}


def _tester(*argv: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", "lab-tester", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def _our_ssh_offer(address: str, port: int) -> dict:
    code = ("import json, sys\nfrom harness.observation.scope import Scope, ScopeGuard\n"
            "from harness.observation.probes.sshkex import read_offer\n"
            f"o = read_offer(ScopeGuard(Scope.build(['{address}'])), '{address}', {port})\n"
            "print(json.dumps(o.as_dict()))")
    r = _tester(sys.executable, "-c", code)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def ssh_runs(lab):
    ssh_audit = Path(sys.executable).parent / "ssh-audit"
    assert ssh_audit.exists(), "ssh-audit is a dev dependency: pip install -e '.[dev]'"
    out = {}
    for _device, address, port in SSH_ENDPOINTS:
        r = _tester(str(ssh_audit), "-j", "--skip-rate-test", "-t", "5", "-p", str(port), address)
        assert r.stdout.strip(), r.stderr
        out[(address, port)] = (json.loads(r.stdout), r.returncode, _our_ssh_offer(address, port))
    return out


@pytest.mark.parametrize(("device", "address", "port"), SSH_ENDPOINTS)
def test_ssh_offer_and_verdict_agree_with_ssh_audit(ssh_runs, device, address, port):
    from harness.judgement.ssh import evaluate
    from harness.observation.probes.sshkex import SshOffer

    theirs, code, ours = ssh_runs[(address, port)]
    policy = load_ssh_policy()
    pseudo = set(policy.pseudo_algorithms)
    for their_key, our_key in CATEGORIES.items():
        their_names = [a["algorithm"] for a in theirs[their_key] if a["algorithm"] not in pseudo]
        our_names = [a for a in ours[our_key] if a not in pseudo]
        if their_key == "key":  # ssh-audit lists the host keys it verified; each is one we saw offered
            assert set(their_names) <= set(our_names), (their_key, their_names, our_names)
        else:
            assert set(their_names) == set(our_names), (their_key, their_names, our_names)
    violations = evaluate(SshOffer(**ours), policy)
    flagged = {v.rule.split(".", 2)[2] for v in violations}
    their_fail = {a["algorithm"] for k in CATEGORIES for a in theirs[k] if a.get("notes", {}).get("fail")}
    their_flag = their_fail | {a["algorithm"] for k in CATEGORIES for a in theirs[k] if a.get("notes", {}).get("warn")}
    assert their_fail - ACCEPTED_DIFFERENCES <= flagged, "ssh-audit fails algorithms our policy accepts"
    assert {f for f in flagged if f in policy.forbidden} <= their_flag, "we forbid what ssh-audit finds fine"
    # overall: ssh-audit's exit 3 (failures) is our FAIL; its exit 0/2 (clean or warnings) our PASS
    assert (code == 3) == bool(violations), (device, code, [v.rule for v in violations])


TLS_ENDPOINTS = [("cam", "198.18.0.10", 443), ("hub", "198.18.0.11", 443), ("hub", "198.18.0.11", 8883),
                 ("router", "198.18.0.12", 443)]
TESTSSL_VERSIONS = {"SSLv2": "SSLv2", "SSLv3": "SSLv3", "TLS1": "TLSv1.0", "TLS1_1": "TLSv1.1",
                    "TLS1_2": "TLSv1.2", "TLS1_3": "TLSv1.3"}


@pytest.fixture(scope="module")
def testssl_reports(lab, tmp_path_factory):
    """testssl.sh on every TLS endpoint, all at once (each takes 20-30 s, mostly waiting)."""
    from concurrent.futures import ThreadPoolExecutor

    testssl = shutil.which("testssl") or shutil.which("testssl.sh")
    assert testssl, "testssl.sh is installed by scripts/setup.sh (Debian package testssl.sh)"
    ca = Path(lab["devices"][0]["ca"])
    base = tmp_path_factory.mktemp("testssl")

    def one(endpoint):
        _device, address, port = endpoint
        report = base / f"{address}-{port}.json"
        r = _tester(testssl, "--quiet", "--warnings", "off", "--nodns", "none", "--color", "0", "-p", "-S",
                    "--add-ca", str(ca), "--jsonfile", str(report), f"{address}:{port}", timeout=300)
        assert report.exists(), r.stdout[-2000:] + r.stderr[-2000:]
        return {f["id"]: f["finding"] for f in json.loads(report.read_text())}

    with ThreadPoolExecutor(len(TLS_ENDPOINTS)) as pool:
        return dict(zip(TLS_ENDPOINTS, pool.map(one, TLS_ENDPOINTS), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize(("device", "address", "port"), TLS_ENDPOINTS)
def test_tls_readings_and_verdict_agree_with_testssl(testssl_reports, assessments, device, address, port):
    findings = testssl_reports[(device, address, port)]
    theirs = {ours for tid, ours in TESTSSL_VERSIONS.items()
              if findings.get(tid, "").startswith("offered")}
    run = assessments[device]  # our reading and verdict of the same endpoint, from the session's run
    case = next(c for c in run.cases.values()
                if c["id"].startswith("communication.tls_configuration[") and c["id"].endswith(f"/{port}]")
                and c["unit"] == device)
    verdict = json.loads((run.out / next(p for p in case["evidence"] if p.endswith("tls-verdict.json"))).read_text())
    obs = verdict["observation"]
    ours = {v for v, suites in obs["protocols"].items() if suites}
    assert ours == theirs, (findings, obs["protocols"])
    leaf = obs["chain"][0]
    assert str(leaf["key_bits"]) in findings["cert_keySize"], findings["cert_keySize"]
    assert leaf["signature_hash"].upper() in findings["cert_signatureAlgorithm"].upper()
    expired = "expired" in findings.get("cert_expirationStatus", "").lower()
    assert expired == any(v["rule"] == "tls.certificate.expired" for v in verdict["violations"])
    # their deprecated-protocol findings are our protocol violations, one for one
    policy = load_tls_policy()
    assert {v for v in theirs if v not in policy.protocols.allowed} == {
        v["rule"].removeprefix("tls.protocol.") for v in verdict["violations"] if v["rule"].startswith("tls.protocol.")}
