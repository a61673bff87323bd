"""`iot-harness diff` between real sealed bundles of a loopback "device": a TLS server and, in the
second build, one more open port and TLS 1.0 enabled. The runs scan and read the TLS offer with the
real probes (nmap, sslyze) through the observation store, so the diff reads what a run records."""

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from junitparser import Failure, JUnitXml

from tests.conftest import harness
from tests.tls_device import TlsDevice
from tests.unit.report_bundle import PLANTED

ADDRESS = "127.0.0.77"  # this test's own loopback address: no other test's listener shows in its scans

PROFILE = f"""
identity: {{vendor: Acme, model: Diffcam, firmware_version: "{{firmware}}"}}
units: [{{name: u1, address: {ADDRESS}, secrets: {{pw: {{value: "{PLANTED}"}}}}}}]
services: [{{name: web, port: {{port}}, protocol: https, purpose: admin pages, authentication: password}}]
credentials: {{kind: unique-per-unit}}
schemes: [jc-star-1]
"""

# Build 1 and build 2 of the checks: in build 2 the login check regresses (a new violation), the
# update check improves, and the logging check is gone.
SUITE = '''
import pytest

@pytest.mark.requirements("S1.1-12")
def test_offer(unit, observations, findings):
    if {build} == 3:
        findings.passed("checked from the declaration only", target="u1:web/{port}", rule="demo.offer")
        return
    ports = observations.tcp_scan(unit).open_ports
    tls = observations.tls(unit, {port})
    observations.ssh_offer(unit, {ssh})
    findings.passed(f"open: {{ports}}; TLS: {{sorted(v for v, s in tls[0].protocols.items() if s)}}",
                    target="u1:web/{port}", rule="demo.offer")

@pytest.mark.requirements("S1.1-02")
def test_login(unit, findings):
    if {build} == 2:
        findings.fail("the device accepted admin/admin", target="u1:web/{port}", rule="credentials.defaults")
    else:
        findings.passed("no default pair accepted", target="u1:web/{port}", rule="credentials.defaults")

@pytest.mark.requirements("S1.1-08")
def test_update(unit, findings):
    if {build} == 2:
        findings.passed("the unsigned image was refused", target="u1", rule="update.signature")
    else:
        findings.fail("the unsigned image was installed", target="u1", rule="update.signature")
'''
LOGGING = '''
@pytest.mark.requirements("S1.1-13")
def test_logging(unit, findings):
    findings.passed("security events are logged", target="u1", rule="logging.events")
'''


def _run(tmp: Path, device: TlsDevice, name: str, build: int, logging: bool) -> Path:
    folder = tmp / f"suite-{name}" / "checks"
    folder.mkdir(parents=True)
    checks = SUITE.format(port=device.port, ssh=device.ssh_port, build=build) + (LOGGING if logging else "")
    (folder / "test_checks.py").write_text(textwrap.dedent(checks))
    profile = tmp / f"profile-{name}.yaml"
    profile.write_text(PROFILE.replace("{firmware}", f"1.{build}").replace("{port}", str(device.port)))
    out = tmp / name
    r = harness("run", "--profile", str(profile), "--out", str(out), "--suite", str(folder.parent))
    assert (out / "bundle.dsse.json").exists(), r.stdout + r.stderr
    return out


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("diff")
    device = TlsDevice(tmp, ADDRESS)
    device.ssh_port = device.open_ssh()
    try:
        release = _run(tmp, device, "release", build=1, logging=True)
        again = _run(tmp, device, "again", build=1, logging=True)
        device.enable_tls10()
        device.widen_ssh()
        opened = device.open_port()
        build = _run(tmp, device, "build", build=2, logging=False)
        unscanned = _run(tmp, device, "unscanned", build=3, logging=True)
    finally:
        device.close()
    return SimpleNamespace(release=release, again=again, build=build, unscanned=unscanned, tls_port=device.port,
                           ssh_port=device.ssh_port, opened=opened)


def test_two_runs_of_the_same_build_differ_in_nothing(builds):
    r = harness("diff", str(builds.release), str(builds.again))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no change" in r.stdout and "0 regressions" in r.stdout


def test_a_new_port_tls10_and_worse_verdicts_are_named_and_exit_1(builds, tmp_path):
    release, build, tls_port, opened = builds.release, builds.build, builds.tls_port, builds.opened
    r = harness("diff", str(release), str(build), "--format", "json", "--out", str(tmp_path / "diff.json"))
    assert r.returncode == 1, r.stdout + r.stderr
    diff = json.loads((tmp_path / "diff.json").read_text())
    changes = {(c["aspect"], c["subject"], c["change"], c["after"] or c["before"]): c for c in diff["changes"]}

    def regressed(*key) -> bool:
        assert key in changes, f"{key} not in {sorted(changes)}"
        return changes[key]["regression"]

    assert regressed("port", f"u1:tcp/{opened}", "added", "open")
    assert regressed("tls", f"u1:{tls_port}", "added", "TLSv1.0")  # older than TLSv1.3, offered before
    assert regressed("case", "checks.login[u1]", "changed", "FAIL")
    assert regressed("finding", f"u1:web/{tls_port} [credentials.defaults]", "added", "FAIL")
    assert regressed("requirement", "jc-star-1 S1.1-02", "changed", "FAIL")
    assert regressed("service", f"u1:tcp/{opened}", "added", f"undeclared-tcp-{opened} (other, undeclared)")
    # the vanished logging case was evaluated before: losing it is a regression, not a silence
    assert regressed("case", "checks.logging[u1]", "removed", "PASS")
    assert regressed("requirement", "jc-star-1 S1.1-13", "changed", "NOT_EVALUATED")
    # an algorithm added to the SSH offer is listed; its policy judgement is the run's (a finding)
    assert not regressed("ssh", f"u1:{builds.ssh_port} kex", "added", "diffie-hellman-group14-sha256")
    # improvements are listed and do not regress
    assert not regressed("finding", "u1 [update.signature]", "removed", "FAIL")
    assert not regressed("case", "checks.update[u1]", "changed", "PASS")
    assert changes[("case", "checks.update[u1]", "changed", "PASS")]["before"] == "FAIL"
    # the text summary on standard output names the same changes
    assert f"u1:tcp/{opened}: + open" in r.stdout and "TLSv1.0" in r.stdout and "REGRESSION" in r.stdout
    assert diff["old"]["firmware"] == "1.1" and diff["new"]["firmware"] == "1.2"


def test_a_build_that_scanned_nothing_cannot_show_that_no_port_opened(builds):
    r = harness("diff", str(builds.release), str(builds.unscanned), "--format", "json")
    assert r.returncode == 1, r.stdout + r.stderr
    changes = json.loads(r.stdout)["changes"]
    port = next(c for c in changes if c["aspect"] == "port")
    assert port["subject"] == "u1:tcp" and port["after"] == "not scanned" and port["regression"]
    assert "no TCP scan" in port["detail"]
    # the offer itself vanished: listed, and left to the port and case changes to judge
    tls = next(c for c in changes if c["aspect"] == "tls")
    assert tls["change"] == "removed" and not tls["regression"]


def test_the_junit_diff_fails_exactly_the_aspects_that_regressed(builds):
    release, build = builds.release, builds.build
    r = harness("diff", str(release), str(build), "--format", "junit")
    assert r.returncode == 1
    suite = next(iter(JUnitXml.fromstring(r.stdout.encode())))  # a real JUnit reader
    cases = {tc.name: tc for tc in suite}
    failed = {name for name, tc in cases.items() if any(isinstance(x, Failure) for x in tc.result)}
    assert failed == {"requirements", "cases", "open ports", "services", "TLS offers",
                      "policy violations (FAIL findings)"}
    assert suite.failures == len(failed) and suite.tests == len(cases)
    tls = next(x for x in cases["TLS offers"].result if isinstance(x, Failure))
    assert "TLSv1.0" in tls.text and tls.type == "REGRESSION"
    assert not cases["SSH offers"].result  # nothing regressed there: the testcase passes


def test_no_format_of_the_diff_carries_a_secret(builds):
    release, build = builds.release, builds.build
    for fmt in ("text", "json", "junit"):
        r = harness("diff", str(release), str(build), "--format", fmt)
        assert r.stdout and PLANTED not in r.stdout + r.stderr


def test_a_changed_byte_in_either_bundle_refuses_the_comparison(builds, tmp_path):
    import shutil

    release, build = builds.release, builds.build
    copy = tmp_path / "tampered"
    shutil.copytree(build, copy)
    results = copy / "results.json"
    data = bytearray(results.read_bytes())
    data[data.index(b"FAIL")] = ord("P")
    results.write_bytes(bytes(data))
    for old, new in ((release, copy), (copy, release)):
        r = harness("diff", str(old), str(new))
        assert r.returncode == 2, r.stdout
        assert "refusing to compare" in r.stderr and "results.json" in r.stderr
        assert not r.stdout
