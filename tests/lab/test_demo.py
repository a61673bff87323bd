"""`make demo`'s job: verdict tables for cam and hub, an HTML report sealed in each bundle that renders
offline, and nothing left behind."""

import json
import subprocess

import pytest

from lab import manager
from reports.browser import screenshot
from tests.conftest import harness
from tests.lab.conftest import lab_available
from tests.report_screenshot import verdict_pixels

pytestmark = [pytest.mark.lab, pytest.mark.lab_standalone]


def test_demo_end_to_end_and_clean_teardown(tmp_path):
    ok, why = lab_available()
    if not ok:
        pytest.skip(why)
    r = harness("demo", "--out", str(tmp_path / "demo"))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "S1.1-02  FAIL" in r.stdout and "S1.1-13  PASS" in r.stdout
    assert "cam    expected weak      -> exit 1" in r.stdout
    assert "hub    expected hardened  -> exit 0" in r.stdout
    assert "router expected weak      -> exit 1" in r.stdout
    for dev in ("cam", "hub", "router"):
        assert harness("bundle", "verify", str(tmp_path / "demo" / dev)).returncode == 0
        assert json.loads((tmp_path / "demo" / dev / "manifest.json").read_text())["complete"] is True
        page = tmp_path / "demo" / dev / "reports" / "report.html"
        assert str(page) in r.stdout
        # opened in Chromium with no network at all (an empty namespace): the verdict table shows, with
        # the weak devices' FAIL badges and the hardened hub's PASS badges in the picture
        pixels = verdict_pixels(screenshot(page))
        assert pixels["PASS"] > 1000, pixels
        if dev != "hub":
            assert pixels["FAIL"] > 1000, pixels
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "lab-" not in namespaces
    assert not list(manager.lab_dir().glob("dev/*/pids/*.json"))
