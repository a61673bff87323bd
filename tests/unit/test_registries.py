"""One entry per extension: a scheme is one catalog file, a report format one module, a protocol
one table entry; nothing else is edited. Proven here in temporary folders."""

import json
import os
import textwrap

from harness.observation.protocols import LOGIN_PROTOCOLS, PROTOCOLS, by_greeting
from harness.record.results import schema_documents
from tests.conftest import ROOT, harness

CATALOG = """
scheme: acme-label
title: ACME consumer label
edition: "2026"
source: ACME label scheme, edition 2026
requirements:
  - id: ACME-1
    title: No universal default passwords
    explanation: Every unit must have its own password, or make the user set one.
    method: document
    automated: false
    evidence: the manufacturer's statement on password generation
    source: ACME label 2026, clause 1
"""

REPORT = '''
"""Requirement ids and verdicts, one per line."""
FORMAT = "ids"

def render(bundle):
    return "".join(f"{r.id} {r.verdict}\\n" for r in bundle.results.requirements)
'''

PROFILE = """
identity: {vendor: V, model: M, firmware_version: "1"}
units: [{name: u1, address: 127.0.0.5}]
credentials: {kind: unique-per-unit}
schemes: [acme-label]
"""

SUITE = '''
import pytest
@pytest.mark.requirements("S1.1-02")
def test_nothing(unit):
    pass
'''


def test_a_scheme_file_and_a_report_module_need_no_other_edit(tmp_path):
    cats, reps, suite = tmp_path / "catalogs", tmp_path / "reports", tmp_path / "suites" / "s"
    for d in (cats, reps, suite):
        d.mkdir(parents=True)
    (cats / "acme-label.yaml").write_text(CATALOG)
    (reps / "ids.py").write_text(REPORT)
    (suite / "test_s.py").write_text(SUITE)
    (tmp_path / "profile.yaml").write_text(PROFILE)
    env = {**os.environ, "IOT_HARNESS_CATALOGS": str(cats), "IOT_HARNESS_REPORTS": str(reps)}
    listed = harness("catalog", "list", "--scheme", "acme-label", env=env)
    assert listed.returncode == 0 and "ACME-1" in listed.stdout
    assert "ids" in harness("report", "--help", env=env).stdout
    run = harness("run", "--profile", str(tmp_path / "profile.yaml"), "--out", str(tmp_path / "b"),
                  "--suite", str(tmp_path / "suites"), "--scheme", "acme-label", "--scheme", "jc-star-1", env=env)
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert results["schemes"] == ["acme-label", "jc-star-1"], run.stderr
    acme = next(r for r in results["requirements"] if r["id"] == "ACME-1")
    assert acme["scheme"] == "acme-label" and acme["verdict"] == "NOT_EVALUATED"
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["catalogs"]["acme-label"]["edition"] == "2026"
    report = harness("report", str(tmp_path / "b"), "--format", "ids", env=env)
    assert report.returncode == 0 and "ACME-1 NOT_EVALUATED" in report.stdout
    # without the folders, neither exists (and the profile no longer validates)
    assert harness("catalog", "list", "--scheme", "acme-label").returncode == 2
    bad = harness("profile", "validate", str(tmp_path / "profile.yaml"))
    assert bad.returncode == 1 and "unknown scheme" in bad.stderr


def test_report_refuses_a_tampered_bundle_naming_the_file(tmp_path):
    (tmp_path / "suites" / "s").mkdir(parents=True)
    (tmp_path / "suites" / "s" / "test_s.py").write_text(SUITE)
    (tmp_path / "profile.yaml").write_text(PROFILE.replace("[acme-label]", "[jc-star-1]"))
    harness("run", "--profile", str(tmp_path / "profile.yaml"), "--out", str(tmp_path / "b"),
            "--suite", str(tmp_path / "suites"))
    assert harness("report", str(tmp_path / "b"), "--format", "json").returncode == 0
    results = tmp_path / "b" / "results.json"
    data = bytearray(results.read_bytes())
    data[10] ^= 0x01
    results.write_bytes(bytes(data))
    for fmt in ("text", "junit", "json"):
        r = harness("report", str(tmp_path / "b"), "--format", fmt)
        assert r.returncode == 1 and "changed: results.json" in r.stderr and not r.stdout
    r = harness("rejudge", str(tmp_path / "b"), "--out", str(tmp_path / "again"))
    assert r.returncode == 2 and "changed: results.json" in r.stderr and not (tmp_path / "again").exists()


def test_the_protocol_table_drives_profile_identification_and_logins():
    from harness.declaration.profile import Protocol

    assert {p.value for p in Protocol} == set(PROTOCOLS)
    assert set(LOGIN_PROTOCOLS) == {"ssh", "telnet", "http", "https", "mqtt", "mqtts", "ftp"}
    assert by_greeting(b"SSH-2.0-dropbear\r\n") == "ssh"
    assert by_greeting(b"220 ProFTPD ready\r\n") == "ftp"
    assert by_greeting(b"\xff\xfd\x18") == "telnet" and by_greeting(b"cam login: ") == "telnet"
    assert by_greeting(b"hello") is None


def test_exported_result_schemas_are_current():
    for name, schema in schema_documents().items():
        on_disk = json.loads((ROOT / "harness" / "record" / "schemas" / name).read_text())
        assert on_disk == schema, (f"harness/record/schemas/{name} is stale: run "
                                   "`iot-harness results schema --write harness/record/schemas`")


def test_the_verdict_model_does_not_import_pytest():
    import subprocess
    import sys

    code = textwrap.dedent("""
        import sys
        import harness.record.verdict, harness.record.results, harness.record.reader, harness.record.findings
        assert "pytest" not in sys.modules, "pytest imported"
    """)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_built_in_checks_end_with_verdicts_not_bare_asserts():
    """`run` gives the built-in suites --assert=plain (rewriting every module's asserts cost each
    run a second of CPU): a bare assert there would FAIL a case with no message, so none may be."""
    import ast

    offenders = [f"{path.relative_to(ROOT)}:{node.lineno}"
                 for path in sorted((ROOT / "test_suites").rglob("*.py"))
                 for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.Assert)]
    assert not offenders, f"use fail()/inconclusive() with a reason instead of assert: {offenders}"


def test_an_extra_suites_assert_keeps_its_message(tmp_path):
    """A suite of the operator's own still has pytest's assertion rewriting: a bare assert's FAIL
    says what was compared."""
    suite = tmp_path / "mine"
    suite.mkdir()
    (suite / "test_mine.py").write_text(textwrap.dedent('''
        import pytest

        @pytest.mark.requirements("S1.1-13")
        def test_banner(unit):
            seen = "dropbear_2019.78"
            assert seen == "dropbear_2022.83"
    '''))
    profile = tmp_path / "p.yaml"
    profile.write_text(PROFILE.replace("schemes: [acme-label]", "schemes: [jc-star-1]"))
    harness("run", "--profile", str(profile), "--out", str(tmp_path / "b"), "--suite", str(suite))
    cases = {c["id"]: c for c in json.loads((tmp_path / "b" / "results.json").read_text())["cases"]}
    (case,) = [c for c in cases.values() if "banner" in c["id"]]
    assert case["verdict"] == "FAIL" and "'dropbear_2019.78' == 'dropbear_2022.83'" in case["reason"], case
