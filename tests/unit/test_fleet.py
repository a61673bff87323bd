"""Several devices in one command: each in its own `run` (its own guard, budget, bundle), a few at a
time; fleet.json lists every bundle's verified digest and the worst exit code; a Ctrl-C reaches
every run, each seals its bundle incomplete, and none is corrupted; a fleet that would assess one
unit twice at once, or write two bundles into one folder, is refused before anything is sent."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from harness.record.bundle import verify
from tests.conftest import ROOT, harness

PROFILE = """
identity: {{vendor: Acme, model: {model}, firmware_version: "1.0"}}
units: [{{name: u1, address: {address}}}]
services: []
credentials: {{kind: unique-per-unit}}
schemes: [uk-psti]
"""
SLOW_SUITE = '''
import time

import pytest


@pytest.mark.requirements("PSTI-2")
def test_slow(profile):
    time.sleep(60)
'''


def profiles(tmp_path, n: int) -> list[str]:
    out = []
    for i in range(n):
        p = tmp_path / f"dev{i}.yaml"
        p.write_text(PROFILE.format(model=f"M{i}", address=f"127.0.0.{90 + i}"))
        out.append(str(p))
    return out


def test_a_fleet_assesses_every_device_and_lists_verified_digests(tmp_path):
    paths = profiles(tmp_path, 3)
    (tmp_path / "answers.yaml").write_text("answered_by: QA\nanswers:\n  statement-of-compliance:\n"
                                           "    answer: FAIL\n    note: no statement of compliance exists yet\n")
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(textwrap.dedent(f"""
        parallel: 2
        devices:
          - {{profile: {paths[0]}, suite: {ROOT}/test_suites/attestations}}
          - {{profile: {paths[1]}, name: second, suite: {ROOT}/test_suites/attestations}}
          - {{profile: {paths[2]}, suite: {ROOT}/test_suites/attestations, answers: answers.yaml}}
    """))
    r = harness("run", "--fleet", str(fleet), "--out", str(tmp_path / "out"), timeout=600)
    summary = json.loads((tmp_path / "out" / "fleet.json").read_text())
    assert [d["name"] for d in summary["devices"]] == ["dev0", "second", "dev2"]
    for d in summary["devices"]:
        assert d["verified"] and d["complete"] and d["digest"] == verify(tmp_path / "out" / d["name"]).digest
    # the third device's FAIL answer makes it exit 1, the worst of the fleet
    assert [d["exit_code"] for d in summary["devices"]] == [0, 0, 1]
    assert summary["exit_code"] == r.returncode == 1
    assert "fleet exit code: 1" in r.stdout and "verified " in r.stdout


def test_repeated_profiles_run_as_a_fleet_and_a_bad_fleet_is_refused(tmp_path):
    paths = profiles(tmp_path, 2)
    r = harness("run", "--profile", paths[0], "--profile", paths[1], "--out", str(tmp_path / "out"),
                "--suite", str(ROOT / "test_suites" / "attestations"), "--parallel", "2", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(json.loads((tmp_path / "out" / "fleet.json").read_text())["devices"]) == 2
    twice = harness("run", "--profile", paths[0], "--profile", paths[0], "--out", str(tmp_path / "o2"))
    assert twice.returncode == 2 and "would write to 'dev0'" in twice.stderr
    (tmp_path / "copy.yaml").write_text((tmp_path / "dev0.yaml").read_text())
    same_unit = harness("run", "--profile", paths[0], "--profile", str(tmp_path / "copy.yaml"),
                        "--out", str(tmp_path / "o3"))
    assert same_unit.returncode == 2 and "assessed twice at once" in same_unit.stderr
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()
    (tmp_path / "bad.yaml").write_text("devices: []\n")
    bad = harness("run", "--fleet", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "o4"))
    assert bad.returncode == 2 and "fleet file" in bad.stderr and "Traceback" not in bad.stderr


def test_ctrl_c_seals_every_bundle_incomplete_and_none_is_corrupted(tmp_path):
    (tmp_path / "slow" / "checks").mkdir(parents=True)
    (tmp_path / "slow" / "checks" / "test_slow.py").write_text(SLOW_SUITE)
    paths = profiles(tmp_path, 2)
    proc = subprocess.Popen([sys.executable, "-m", "harness.run.cli", "run", "--profile", paths[0], "--profile",
                             paths[1], "--out", str(tmp_path / "out"), "--suite", str(tmp_path / "slow")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all((tmp_path / "out" / n / "manifest.json").exists()
                                                  for n in ("dev0", "dev1")):
        time.sleep(0.2)
    time.sleep(2)
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=120)
    summary = json.loads((tmp_path / "out" / "fleet.json").read_text())
    assert summary["interrupted"] and summary["exit_code"] == proc.returncode == 2
    for d in summary["devices"]:
        assert d["verified"] and not d["complete"], d  # sealed, signed, and marked incomplete
        assert verify(tmp_path / "out" / d["name"]).ok


def test_a_scaled_lab_keeps_every_defined_address_and_names_new_units_after_the_model():
    from lab import manager

    defs = manager.scaled(manager.definitions(["cam", "bell"]), 4)  # in file order: bell, then cam
    by = {d.name: [(u.name, u.octet) for u in d.units] for d in defs}
    assert by["bell"] == [("bell", 14), ("bell2", 30), ("bell3", 31), ("bell4", 32)]
    assert by["cam"] == [("cam", 10), ("cam2", 20), ("cam3", 33), ("cam4", 34)]
    # a model not brought up keeps its addresses free: a later full lab never collides
    defined = {u.octet for d in manager.definitions() for u in d.units}
    assert not defined & {o for _, o in by["bell"][1:] + by["cam"][2:]}
    with pytest.raises(manager.LabError, match="no address left"):
        manager.scaled(manager.definitions(), 40)


def _what_a_forked_run_finds(queue) -> None:
    try:
        import gc
        import sys

        from harness.declaration.catalog import _load_catalogs
        from harness.observation.probes import snmp

        queue.put({"catalogs_loaded": _load_catalogs.cache_info().currsize, "spare_engines": len(snmp._client.spare),
                   "frozen": gc.get_freeze_count(),
                   "checks_imported": "test_suites.credentials.test_snmp_communities" in sys.modules})
    except Exception as e:  # the test shows it, rather than waiting for an answer that never comes
        queue.put({"error": repr(e)})


def test_a_run_forked_for_a_fleet_finds_the_shipped_data_loaded_and_the_checks_imported():
    """The fork server imports the built-in checks (pytest finds them by the same names) and fills
    the caches every run fills the same way; what it made is frozen out of the collector's walks."""
    from harness.run import launcher

    context = launcher._warm()
    queue = context.Queue()
    child = context.Process(target=_what_a_forked_run_finds, args=(queue,))
    child.start()
    found = queue.get(timeout=120)
    child.join(30)
    assert "error" not in found, found
    assert found["catalogs_loaded"] == 1 and found["spare_engines"] == 1 and found["checks_imported"]
    assert found["frozen"] > 10_000


@pytest.mark.parametrize("sboms, needed", [
    (["http://198.18.0.10/sbom.spdx.json", "docs/firmware.spdx"], False),  # SPDX, JSON or tag-value
    (["https://198.18.0.11/docs/sbom.cdx.json"], True),
    (["http://198.18.0.10/sbom.spdx.json", "https://198.18.0.11/bom.json"], True),  # one that may be is enough
    (["http://198.18.0.12/spdx/bom.json"], True),  # the file's name decides, not a folder's
    (["bom.xml", None], False),  # XML is validated without jsonschema; no SBOM declared needs nothing
    ([], False),
])
def test_the_fork_server_imports_cyclonedx_json_validation_only_for_a_fleet_that_may_meet_it(sboms, needed):
    """Importing it costs one core 2.3 s (jsonschema builds an IRI grammar) before any run can be
    forked; a run that meets CycloneDX JSON without it imports it itself and judges the same."""
    from harness.run import launcher

    assert launcher.may_need_cyclonedx_json(sboms) is needed


def test_the_fork_server_imports_what_runs_use_and_the_optional_libraries_only_when_asked():
    """What a run never imports (the report command's own formats) is not imported for it, and an
    optional library only for a fleet that may use it; the check modules and the warm-up come last."""
    from harness.run import launcher

    bare, full = launcher.preload(()), launcher.preload(("cyclonedx-json", "labgrid"))
    for optional in ("cyclonedx.validation.json", "labgrid.remote.client"):
        assert optional not in bare and optional in full
    assert launcher.preload(("labgrid",)).count("labgrid.remote.client") == 1
    assert "reports.html" in bare and "reports.junit" in bare and "harness.run.plugin" in bare
    assert not {"reports.oscal", "trestle.oscal.assessment_results", "allure_commons"} & set(full)
    assert bare[-1] == launcher.WARMUP and "test_suites.credentials.test_snmp_communities" in bare


def test_a_fleet_on_labgrid_places_has_the_labgrid_client_imported_for_its_runs(tmp_path, monkeypatch):
    """cmd_fleet asks for the optional imports its devices may use: places, CycloneDX JSON."""
    from harness.run import cli, launcher

    asked: list[set[str]] = []
    monkeypatch.setattr(launcher, "start_early", lambda optional: asked.append(set(optional)) or 1 / 0)
    profile = ROOT / "device_profiles" / "lab" / "hub.yaml"  # its SBOM is CycloneDX JSON
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(f"devices:\n  - {{profile: {profile}, lg_place: [hub]}}\n")
    with pytest.raises(ZeroDivisionError):  # stopped where the server would start: nothing else runs
        cli.main(["run", "--fleet", str(fleet), "--out", str(tmp_path / "out")])
    fleet.write_text(f"devices:\n  - {{profile: {ROOT / 'device_profiles' / 'lab' / 'cam.yaml'}}}\n")  # SPDX
    with pytest.raises(ZeroDivisionError):
        cli.main(["run", "--fleet", str(fleet), "--out", str(tmp_path / "out2")])
    assert asked == [{"cyclonedx-json", "labgrid"}, set()]


def test_a_fleet_check_reads_each_devices_declared_sbom(tmp_path):
    from harness.run.fleet import FleetDevice, check_fleet

    profile = ROOT / "device_profiles" / "lab" / "cam.yaml"
    checked = check_fleet([FleetDevice(profile=profile), FleetDevice(profile=tmp_path / "missing.yaml", name="m")])
    assert checked.sboms == ["http://198.18.0.10/sbom.spdx.json"]
    assert len(checked.problems) == 1 and "missing.yaml" in checked.problems[0]
