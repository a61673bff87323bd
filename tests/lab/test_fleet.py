"""A fleet of lab devices in one command: every bundle verifies and fleet.json lists its digest;
a device whose network link is cut mid-run ends with a sealed bundle of its own (cases that could
not reach it are not PASS), and the other device's bundle is complete and untouched by it."""

import json
import subprocess
import sys
import time

import pytest

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
    argv = ["ip", "netns", "exec", "lab-tester", sys.executable, "-m", "harness.run.cli", "run",
            "--profile", str(LAB_PROFILES / "bell.yaml"), "--profile", str(LAB_PROFILES / "plug.yaml"),
            "--out", str(out), "--parallel", "2"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cut = False
    try:
        partial = out / "plug" / "results.partial.jsonl"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if partial.exists() and len(partial.read_text().splitlines()) >= 3:
                _link("plug", "down")  # the plug drops off the network, three cases into its run
                cut = True
                break
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=900)
    finally:
        if cut:
            _link("plug", "up")
    assert cut, "the plug's run never got three cases in"
    summary = json.loads((out / "fleet.json").read_text())
    by_name = {d["name"]: d for d in summary["devices"]}
    bell, plug = by_name["bell"], by_name["plug"]
    assert bell["verified"] and bell["complete"] and bell["digest"] == verify(out / "bell").digest, stdout + stderr
    assert plug["verified"] and verify(out / "plug").ok, plug  # its own bundle, sealed, whatever it found
    plug_results = json.loads((out / "plug" / "results.json").read_text())
    late = [c for c in plug_results["cases"] if c["verdict"] in ("INCONCLUSIVE", "ERROR")]
    assert late, "cases run after the cut must say they could not reach the plug"
    assert summary["exit_code"] == proc.returncode
