"""`lab up --units N`: N units of a model, each its own namespace and daemons, each with a
one-unit profile of its own, and one fleet command that assesses them all into bundles that
verify, one per unit, each about its own unit."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.record.bundle import verify
from lab import manager
from tests.conftest import ROOT

pytestmark = [pytest.mark.lab, pytest.mark.lab_standalone]


@pytest.fixture(scope="module")
def scaled_lab():
    inv = manager.up(["hub"], units=3)
    try:
        yield inv
    finally:
        manager.down(quiet=True)


def test_three_hub_units_come_up_with_a_profile_each_and_one_fleet_assesses_them(scaled_lab, tmp_path):
    (hub,) = scaled_lab["devices"]
    units = {u["name"]: u["address"] for u in hub["units"]}
    assert units == {"hub": "198.18.0.11", "hub2": "198.18.0.21", "hub3": "198.18.0.30"}
    assert {f"lab-{u}" for u in units} <= set(manager.status()["namespaces"])
    fleet = yaml.safe_load(Path(scaled_lab["fleet"]).read_text())
    assert [d["name"] for d in fleet["devices"]] == ["hub", "hub2", "hub3"]
    third = yaml.safe_load(Path(fleet["devices"][2]["profile"]).read_text())
    assert third["units"][0]["address"] == "198.18.0.30"
    # its own secrets and its own copy of the documents, not the first unit's
    assert third["units"][0]["secrets"]["web_password"]["file"].endswith("/secrets/hub3-web_password")
    assert all("//198.18.0.30/" in url for url in third["urls"].values())
    for d in fleet["devices"]:  # the documents and the communication checks keep it short
        d["suite"] = str(ROOT / "test_suites" / "documents")
    small = tmp_path / "fleet.yaml"
    small.write_text(yaml.safe_dump(fleet))
    r = subprocess.run(manager.tester_command([sys.executable, "-m", "harness.run.cli", "run", "--fleet", str(small),
                                               "--out", str(tmp_path / "out")]),
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    summary = json.loads((tmp_path / "out" / "fleet.json").read_text())
    assert len(summary["devices"]) == 3, r.stderr
    for d in summary["devices"]:
        assert d["verified"] and d["complete"], (d, r.stdout[-3000:])
        assert d["digest"] == verify(tmp_path / "out" / d["name"]).digest
        manifest = json.loads((tmp_path / "out" / d["name"] / "manifest.json").read_text())
        assert [u["name"] for u in manifest["device"]["units"]] == [d["name"]]
        results = json.loads((tmp_path / "out" / d["name"] / "results.json").read_text())
        published = {c["id"]: c["verdict"] for c in results["cases"]}
        assert published["documents.disclosure_policy"] == "PASS", published  # read off that unit itself
