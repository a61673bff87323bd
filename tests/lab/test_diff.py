"""`iot-harness diff` around deliberate changes to a lab device: the second maker's gateway runs its
own daemons, and beside them a TLS listener its sheet never mentions. Two runs of the same state
differ in nothing (exit 0); after the "new build" enables TLS 1.0 there and opens a silent port,
the diff names both and exits 1. The runs use the built-in port-scan and TLS checks, unchanged."""

import json
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import LAB_PROFILES, ROOT, harness
from tests.lab.conftest import assess, narrowed_suite

GATE_NS, GATE = "lab-gate", "198.18.0.16"
TLS_PORT, OPENED = 8443, 2323  # free on the gateway: it listens on 8080 only


@contextmanager
def beside_the_gateway(certs: Path, *extra: str):
    """The stand-in TLS listener inside the gateway's namespace, until the block ends."""
    proc = subprocess.Popen(["ip", "netns", "exec", GATE_NS, str(ROOT / ".venv/bin/python"), "-m", "tests.tls_device",
                             GATE, str(TLS_PORT), "--certs", str(certs), "--lifetime", "300", *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read() if proc.poll() is not None else line
        yield
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def gate_builds(lab, tmp_path_factory):
    if GATE_NS not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout:
        pytest.skip("the lab runs without network namespaces (loopback fallback)")
    tmp = tmp_path_factory.mktemp("gate-diff")
    narrowed_suite(tmp, "exposure", "test_tcp_services.py")
    suite = narrowed_suite(tmp, "communication", "test_tls.py")
    certs = tmp / "certs"
    certs.mkdir()
    profile = LAB_PROFILES / "gate.yaml"
    with beside_the_gateway(certs):
        release = assess(profile, tmp / "release", "--suite", suite)
        again = assess(profile, tmp / "again", "--suite", suite)
    with beside_the_gateway(certs, "--legacy", "--open", str(OPENED)):
        build = assess(profile, tmp / "build", "--suite", suite)
    return release.out, again.out, build.out


def test_two_runs_of_the_same_gateway_state_differ_in_nothing(gate_builds):
    release, again, _ = gate_builds
    r = harness("diff", str(release), str(again))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no change" in r.stdout


def test_a_port_opened_and_tls10_enabled_are_named_and_exit_1(gate_builds):
    release, _, build = gate_builds
    r = harness("diff", str(release), str(build), "--format", "json")
    assert r.returncode == 1, r.stdout + r.stderr
    changes = json.loads(r.stdout)["changes"]
    regressions = {(c["aspect"], c["subject"], c["after"]) for c in changes if c["regression"]}
    assert ("port", f"gate:tcp/{OPENED}", "open") in regressions
    assert ("tls", f"gate:{TLS_PORT}", "TLSv1.0") in regressions
    # the built-in TLS check judged the new offer by its policy: the violation is new, by rule
    added = {c["subject"] for c in changes if c["aspect"] == "finding" and c["change"] == "added"}
    assert any(s.startswith("gate:") and "TLSv1.0" in s for s in added), added
    assert f"gate:tcp/{OPENED} [exposure.tcp_ports_declared]" in added, added  # one finding per port
