"""The lab as a labgrid farm (a real labgrid coordinator and exporter, `lab.farm`): a run takes
its unit from a place found by tag, holds the place's lock for the whole run, names the place
and its resources in the manifest, and lets go on every exit, Ctrl-C included. A second run on
the held place is refused at once, or waits (--lg-wait) and gets it when the first lets go; a
place that holds no unit of the profile is refused before anything is sent. Pytest's own
`--lg-env` route (labgrid's plugin and a RemotePlace) is taken too."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.record.bundle import verify
from lab import farm
from tests.conftest import LAB_PROFILES, ROOT, harness

pytestmark = pytest.mark.lab

HOLD_SUITE = ROOT / "tests" / "lab" / "hold_suite"


@pytest.fixture(scope="module")
def places(lab):
    info = farm.up(lab, {"hub": "installer", "cam": "admin"})
    try:
        yield info
    finally:
        farm.down()


def _client(*args: str) -> str:
    env = {**os.environ, "LG_COORDINATOR": farm.COORDINATOR}
    return subprocess.run(["ip", "netns", "exec", "lab-tester", sys.executable, "-m", "labgrid.remote.client", *args],
                          capture_output=True, text=True, env=env, timeout=60).stdout


def _holder(place: str) -> str:
    shown = _client("-p", place, "show")
    return next(line.split(":", 1)[1].strip() for line in shown.splitlines() if line.strip().startswith("acquired:"))


def _run(out, *args: str, hold_dir=None) -> subprocess.Popen:
    env = {**os.environ, "IOT_TEST_HOLD_DIR": str(hold_dir or out.parent)}
    argv = ["ip", "netns", "exec", "lab-tester", sys.executable, "-m", "harness.run.cli", "run",
            "--profile", str(LAB_PROFILES / "hub.yaml"), "--out", str(out), "--suite", str(HOLD_SUITE), *args]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(path, proc, seconds=60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_held_place_refuses_or_waits_and_is_free_after_ctrl_c(places, tmp_path):
    first = _run(tmp_path / "first", "--lg-tags", "model=LabHub2,unit=hub")
    waiting = None
    try:
        _wait_for(tmp_path / "started-hub", first)  # its case runs: the place is held
        assert _holder("lab-hub") != "None"
        # a second run on the same place, asking by name: refused at once, nothing sent
        second = harness("run", "--profile", str(LAB_PROFILES / "hub.yaml"), "--lg-place", "lab-hub",
                         "--out", str(tmp_path / "second"), "--suite", str(HOLD_SUITE), tester=True, timeout=60)
        assert second.returncode == 2, second.stderr
        assert "labgrid place lab-hub is held by" in second.stderr and "nothing was sent" in second.stderr
        assert not (tmp_path / "second" / "manifest.json").exists()
        # ...or it waits, within its bound
        waiting = _run(tmp_path / "third", "--lg-place", "lab-hub", "--lg-wait", "120")
        time.sleep(3)
        assert waiting.poll() is None and not (tmp_path / "third" / "manifest.json").exists()
        # asked by model only, a run gets the model's other unit, which is free
        released = tmp_path / "other-hold"
        released.mkdir()
        (released / "release").write_text("")  # this one's check lets go at once
        other = harness("run", "--profile", str(LAB_PROFILES / "hub.yaml"), "--lg-tags", "model=LabHub2",
                        "--out", str(tmp_path / "other"), "--suite", str(HOLD_SUITE), tester=True, timeout=120,
                        env={**os.environ, "IOT_TEST_HOLD_DIR": str(released)})
        assert other.returncode != 2, other.stderr
        other_manifest = json.loads((tmp_path / "other" / "manifest.json").read_text())
        assert [p["name"] for p in other_manifest["labgrid"]["places"]] == ["lab-hub2"]
        assert [u["name"] for u in other_manifest["device"]["units"]] == ["hub2"]
    finally:
        first.send_signal(signal.SIGINT)  # Ctrl-C: the run seals what it has and lets the place go
        _, stderr = first.communicate(timeout=120)
    assert first.returncode == 2, stderr  # interrupted: no verdict on the device
    assert verify(tmp_path / "first").ok
    manifest = json.loads((tmp_path / "first" / "manifest.json").read_text())
    assert manifest["status"] == "incomplete"
    (place,) = manifest["labgrid"]["places"]
    assert place["name"] == "lab-hub" and place["tags"]["model"] == "LabHub2" and place["reservation"]
    assert manifest["labgrid"]["coordinator"] == farm.COORDINATOR
    assert {r["address"] for r in place["resources"]} == {"198.18.0.11"}
    assert {("NetworkService", 2222), ("NetworkService", 443)} <= {(r["cls"], r["port"]) for r in place["resources"]}
    assert all(r["exporter"] == farm.EXPORTER and r["group"] == "hub" for r in place["resources"])
    assert [u["name"] for u in manifest["device"]["units"]] == ["hub"]
    # the waiting run gets the place once the first let go, and runs to the end
    (tmp_path / "release").write_text("")
    _, err = waiting.communicate(timeout=300)
    assert (tmp_path / "third" / "manifest.json").exists(), err
    third = json.loads((tmp_path / "third" / "manifest.json").read_text())
    assert third["status"] == "complete" and verify(tmp_path / "third").ok
    assert third["labgrid"]["places"][0]["name"] == "lab-hub" and third["labgrid"]["waited_s"] > 2
    assert _holder("lab-hub") == "None" and _holder("lab-hub2") == "None"


def test_a_place_holding_no_declared_unit_is_refused_and_released(places, tmp_path):
    r = harness("run", "--profile", str(LAB_PROFILES / "cam.yaml"), "--lg-place", "lab-hub",
                "--out", str(tmp_path / "b"), tester=True, timeout=60)
    assert r.returncode == 2
    assert "place lab-hub holds 198.18.0.11, which the profile declares for no unit" in r.stderr, r.stderr
    assert "nothing was sent" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "b").exists()
    assert _holder("lab-hub") == "None"


def test_pytest_with_labgrids_env_file_takes_the_unit_from_the_acquired_place(places, tmp_path):
    env_file = tmp_path / "env.yaml"
    env_file.write_text("targets:\n  main:\n    resources:\n      RemotePlace:\n        name: lab-cam2\n")
    assert "acquired place lab-cam2" in _client("-p", "lab-cam2", "acquire")
    try:
        argv = ["ip", "netns", "exec", "lab-tester", sys.executable, "-m", "pytest", str(HOLD_SUITE), "-q",
                "-c", str(ROOT / "test_suites" / "pytest.ini"), "--rootdir", str(ROOT), "--import-mode=importlib",
                "--iot-profile", str(LAB_PROFILES / "cam.yaml"), "--iot-out", str(tmp_path / "b"),
                "--iot-extra-suite", "--lg-env", str(env_file)]
        (tmp_path / "release").write_text("")
        r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "LG_COORDINATOR": farm.COORDINATOR, "IOT_TEST_HOLD_DIR": str(tmp_path)})
    finally:
        _client("-p", "lab-cam2", "release")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [u["name"] for u in manifest["device"]["units"]] == ["cam2"], r.stdout + r.stderr
    assert manifest["labgrid"]["places"][0]["name"] == "lab-cam2"
    assert {x["address"] for x in manifest["labgrid"]["places"][0]["resources"]} == {"198.18.0.20"}
    assert (tmp_path / "started-cam2").exists() and not (tmp_path / "started-cam").exists()
