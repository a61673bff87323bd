import json
import subprocess
import sys
import textwrap

import pytest

from harness.declaration.catalog import check_markers, load_catalogs
from tests.conftest import LAB_PROFILES, ROOT, harness


def test_jc_star_has_all_sixteen_requirements():
    reqs = load_catalogs().by_scheme["jc-star-1"].requirements
    assert [r.id for r in reqs] == [f"S1.1-{i:02d}" for i in range(1, 17)]
    assert {r.id for r in reqs if r.provisional} == {"S1.1-09", "S1.1-14", "S1.1-15"}
    for r in reqs:
        assert r.crosswalk.etsi_en_303_645 and r.crosswalk.nistir_8425, r.id
        assert len(r.explanation) > 60 and r.source, r.id


def test_nist_catalogs():
    cats = load_catalogs().by_scheme
    caps = {r.capability for r in cats["nist-ir-8259a"].requirements}
    assert caps == {
        "Device Identification", "Device Configuration", "Data Protection",
        "Logical Access to Interfaces", "Software Update", "Cybersecurity State Awareness",
    }
    assert "DI-1" in {r.id for r in cats["nist-ir-8259a"].requirements}
    assert len(cats["nist-ir-8259b"].requirements) == 4


@pytest.mark.parametrize("scheme", ["jc-star-1", "nist-ir-8259a", "nist-ir-8259b"])
def test_catalog_list_json(scheme):
    r = harness("catalog", "list", "--scheme", scheme, "--json")
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)
    assert items and all({"id", "title", "method", "provisional"} <= set(i) for i in items)


def test_unknown_scheme_is_a_usage_error():
    r = harness("catalog", "list", "--scheme", "jc-star-9")
    assert r.returncode == 2 and "unknown scheme" in r.stderr


def test_marker_check_both_directions():
    cats = load_catalogs()
    problems = check_markers({"t.py::test_a": ["S1.1-02", "S1.1-99"], "t.py::test_b": ["S1.1-11"]}, cats)
    text = "\n".join(problems)
    assert "unknown requirement 'S1.1-99'" in text
    assert "evaluates S1.1-11, but catalog jc-star-1 does not mark it automated" in text
    assert "S1.1-13 is marked automated but no test evaluates it" in text


def collect(suite_dir, out_dir):
    """Collect a suite with the harness plugin active; collection sends no packet."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(suite_dir), "--collect-only", "-q", "-p", "no:cacheprovider",
         "-c", str(ROOT / "test_suites" / "pytest.ini"), "--rootdir", str(suite_dir.parent),
         "--iot-profile", str(LAB_PROFILES / "hub.yaml"), "--iot-out", str(out_dir)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )


def test_shipped_suites_are_consistent_with_catalogs(tmp_path):
    r = collect(ROOT / "test_suites", tmp_path / "out")
    assert r.returncode == 0, r.stdout + r.stderr


def test_marker_naming_unknown_requirement_fails_collection(tmp_path):
    suite = tmp_path / "test_suites" / "broken"
    suite.mkdir(parents=True)
    (suite / "test_x.py").write_text(textwrap.dedent("""
        import pytest
        @pytest.mark.requirements("S1.1-02", "S1.1-13", "LA-1", "LA-2", "S1.1-77")
        def test_x():
            pass
    """))
    r = collect(tmp_path / "test_suites", tmp_path / "out")
    assert r.returncode == 4
    assert "marker names unknown requirement 'S1.1-77'" in r.stdout + r.stderr


def test_malformed_data_files_name_file_and_entry(tmp_path):
    from harness.declaration.catalog import CatalogError, load_catalog_file
    from harness.observation.credentials import CredentialDataError, load_credential_file

    bad = tmp_path / "creds.yaml"
    good = "{id: a, protocols: [ssh], username: u, password: p, source: mirai}"
    entry = "{id: b, protocols: [gopher], username: u, password: p, source: mirai}"
    bad.write_text(f"version: 2\nsuccess_criteria: {{}}\nentries:\n  - {good}\n  - {entry}\n")
    with pytest.raises(CredentialDataError, match=r"creds.yaml: invalid credential list\n  - line 5, entries\[1\]"):
        load_credential_file(bad)
    bad.write_text("scheme: x\n  bad: [\n")
    with pytest.raises(CatalogError, match="line 2, column 6: not valid YAML"):
        load_catalog_file(bad)
