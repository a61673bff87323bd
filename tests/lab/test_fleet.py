"""A fleet of lab devices in one command: every bundle verifies and fleet.json lists its digest;
a device whose network link is cut as its run gets going ends with a sealed bundle of its own
(cases that could not reach it are not PASS), and the other device's bundle is complete and
untouched by it. The communication checks keep it short: every one of them connects to the unit."""

import json
import subprocess
import sys
import time

import pytest
import yaml

from harness.record.bundle import verify
from tests.conftest import LAB_PROFILES, ROOT

pytestmark = pytest.mark.lab


def _link(unit: str, state: str) -> None:
    subprocess.run(["ip", "netns", "exec", f"lab-{unit}", "ip", "link", "set", "eth0", state], check=True)
    if state == "up":  # the multicast route goes with the link
        subprocess.run(["ip", "netns", "exec", f"lab-{unit}", "ip", "route", "replace", "224.0.0.0/4", "dev", "eth0"],
                       check=False)


def test_a_cut_link_on_one_device_leaves_the_others_bundle_complete(lab, tmp_path):
    out = tmp_path / "fleet"
    plug = yaml.safe_load((LAB_PROFILES / "plug.yaml").read_text())
    plug.setdefault("limits", {})["port_scan_timeout_s"] = 15  # a unit gone silent costs the scan's whole deadline
    (tmp_path / "plug.yaml").write_text(yaml.safe_dump(plug))
    argv = ["ip", "netns", "exec", "lab-tester", sys.executable, "-m", "harness.run.cli", "run",
            "--profile", str(LAB_PROFILES / "bell.yaml"), "--profile", str(tmp_path / "plug.yaml"),
            "--out", str(out), "--parallel", "2", "--suite", str(ROOT / "test_suites" / "communication")]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cut = False
    try:
        started = out / "plug" / "manifest.json"  # written as the plug's run starts, before its first case
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if started.exists():
                _link("plug", "down")  # the plug drops off the network as its run gets going
                cut = True
                break
            time.sleep(0.05)
        stdout, stderr = proc.communicate(timeout=900)
    finally:
        if cut:
            _link("plug", "up")
    assert cut, "the plug's run never started"
    summary = json.loads((out / "fleet.json").read_text())
    by_name = {d["name"]: d for d in summary["devices"]}
    bell, plug = by_name["bell"], by_name["plug"]
    assert bell["verified"] and bell["complete"] and bell["digest"] == verify(out / "bell").digest, stdout + stderr
    assert plug["verified"] and verify(out / "plug").ok, plug  # its own bundle, sealed, whatever it found
    plug_results = json.loads((out / "plug" / "results.json").read_text())
    late = [c for c in plug_results["cases"] if c["verdict"] in ("INCONCLUSIVE", "ERROR")]
    assert late, "cases run after the cut must say they could not reach the plug"
    assert summary["exit_code"] == proc.returncode
