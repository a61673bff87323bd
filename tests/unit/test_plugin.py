"""Outcome-to-verdict mapping, probe-class gating, redaction and interrupted runs, through the
real CLI on a synthetic suite that touches no network."""

import json
import textwrap

import pytest

from tests.conftest import harness

PROFILE = """
identity: {vendor: V, model: M, firmware_version: "1"}
units: [{name: u1, address: 127.0.0.5, secrets: {pw: {value: "Sup3r-Secret"}}}]
services: [{name: web, port: 8080, protocol: http, purpose: admin pages, authentication: password}]
credentials: {kind: unique-per-unit}
schemes: [jc-star-1, nist-ir-8259a]
not_applicable: [{requirement: S1.1-16, justification: sold only with a support contract page}]
waivers: [{requirement: LA-1, reason: accepted until the next firmware, expires: 2020-01-01, approved_by: QA}]
"""

SUITE = '''
import os, signal
import pytest
from harness.record.verdict import fail, inconclusive, not_applicable

@pytest.mark.requirements("S1.1-02")
def test_passes(unit, guard, profile):
    assert unit.address == "127.0.0.5"

@pytest.mark.requirements("S1.1-13")
def test_fails(unit, evidence):
    evidence.write_text("note.txt", "device printed Sup3r-Secret in its banner")
    fail("banner leaks Sup3r-Secret")

@pytest.mark.requirements("LA-1")
def test_na():
    not_applicable("nothing to look at")

@pytest.mark.requirements("LA-2")
def test_inconclusive():
    inconclusive("device stopped answering")

@pytest.mark.requirements("LA-2")
def test_plain_skip():
    pytest.skip("somebody skipped this")

@pytest.mark.requirements("LA-1")
def test_crash():
    raise RuntimeError("boom")

@pytest.mark.requirements("S1.1-02")
@pytest.mark.probe_class("brute")
def test_brute():
    pass

@pytest.mark.requirements("S1.1-02")
@pytest.mark.protocols("telnet")
def test_no_telnet(endpoint):
    pass

@pytest.mark.requirements("S1.1-02")
@pytest.mark.protocols("http")
def test_http_endpoint(endpoint):
    assert endpoint.label == "u1:web/8080"
'''


def make_suite(tmp_path, name: str, code: str):
    """A one-file suite folder `suites/<name>` and the profile, under tmp_path."""
    d = tmp_path / "suites" / name
    d.mkdir(parents=True)
    (d / f"test_{name}.py").write_text(code)
    (tmp_path / "profile.yaml").write_text(PROFILE)
    return tmp_path


@pytest.fixture
def suite(tmp_path):
    return make_suite(tmp_path, "synthetic", SUITE)


def run(suite, *extra):
    out = suite / ("out" + "".join(extra).replace(",", "-"))
    r = harness("run", "--profile", str(suite / "profile.yaml"), "--out", str(out),
                "--suite", str(suite / "suites"), *extra)
    return r, out


def verdicts(out):
    res = json.loads((out / "results.json").read_text())
    return res, {c["id"]: c for c in res["cases"]}, {r["id"]: r for r in res["requirements"]}


def test_outcomes_map_to_verdicts(suite):
    r, out = run(suite)
    assert r.returncode == 1, r.stderr  # S1.1-13 FAILs
    res, cases, reqs = verdicts(out)
    v = {k: c["verdict"] for k, c in cases.items()}
    assert v["synthetic.passes[u1]"] == "PASS"
    assert v["synthetic.fails[u1]"] == "FAIL"
    assert v["synthetic.na"] == "NOT_APPLICABLE"
    assert v["synthetic.inconclusive"] == "INCONCLUSIVE"
    assert v["synthetic.plain_skip"] == "INCONCLUSIVE"  # a skip is never a PASS
    assert cases["synthetic.plain_skip"]["reason"] == "skipped without a verdict: somebody skipped this"
    assert v["synthetic.crash"] == "ERROR" and "RuntimeError: boom" in cases["synthetic.crash"]["reason"]
    assert v["synthetic.brute"] == "NOT_EVALUATED" and "--allow brute" in cases["synthetic.brute"]["reason"]
    assert v["synthetic.no_telnet[none-declared]"] == "NOT_APPLICABLE"
    assert cases["synthetic.no_telnet[none-declared]"]["reason"] == "the profile declares no telnet service"
    assert v["synthetic.http_endpoint[u1:web/8080]"] == "PASS"
    # requirement aggregation, declarations and waivers
    assert reqs["S1.1-13"]["verdict"] == "FAIL"
    assert reqs["S1.1-02"]["verdict"] == "NOT_EVALUATED"  # the brute case did not run
    assert reqs["LA-1"]["verdict"] == "ERROR"
    assert reqs["LA-2"]["verdict"] == "INCONCLUSIVE"
    assert reqs["S1.1-16"]["verdict"] == "NOT_APPLICABLE"
    assert reqs["S1.1-05"]["verdict"] == "NOT_EVALUATED" and "document evidence" in reqs["S1.1-05"]["notes"][0]
    assert reqs["LA-1"]["waiver"]["active"] is False
    assert res["complete"] is True and res["summary"]["blocking_failures"] == ["S1.1-13"]
    # the profile's secret is nowhere in the bundle, not even from a test that printed it
    for f in out.rglob("*"):
        if f.is_file():
            assert b"Sup3r-Secret" not in f.read_bytes(), f
    assert "Sup3r-Secret" not in r.stdout + r.stderr
    assert harness("bundle", "verify", str(out)).returncode == 0


def test_allow_brute_runs_the_gated_case(suite):
    _r, out = run(suite, "--allow", "brute")
    _, cases, reqs = verdicts(out)
    assert cases["synthetic.brute"]["verdict"] == "PASS"
    assert reqs["S1.1-02"]["verdict"] == "PASS"


def test_junit_and_json_outputs(suite):
    junit = suite / "junit.xml"
    r, _out = run(suite, "--json", "--junit", str(junit))
    assert json.loads(r.stdout)["summary"]["blocking_failures"] == ["S1.1-13"]
    xml = junit.read_text()
    assert '<failure message="banner leaks «redacted»"' in xml
    assert "skipped without a verdict" in xml


def test_interrupted_run_leaves_a_marked_incomplete_bundle(suite):
    (suite / "suites" / "synthetic" / "test_zz_interrupt.py").write_text(textwrap.dedent('''
        import os, signal
        import pytest
        @pytest.mark.requirements("S1.1-02")
        def test_operator_presses_ctrl_c(evidence):
            evidence.write_text("before.txt", "evidence written before the interrupt")
            os.kill(os.getpid(), signal.SIGINT)
    '''))
    r, out = run(suite)
    assert r.returncode == 2
    res, cases, _ = verdicts(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert res["complete"] is False and manifest["status"] == "incomplete"
    assert "interrupted" in manifest["incomplete_reason"]
    interrupted = next(c for c in cases.values() if "operator_presses_ctrl_c" in c["id"])
    assert interrupted["verdict"] == "ERROR" and interrupted["evidence"]
    assert (out / interrupted["evidence"][0]).read_text() == "evidence written before the interrupt"
    assert (out / "results.partial.jsonl").exists()
    check = harness("bundle", "verify", str(out))
    assert check.returncode == 0 and "INCOMPLETE" in check.stdout


def test_a_second_interrupt_while_sealing_waits_for_the_seal(suite):
    """Ctrl-C stops the run; Ctrl-C and SIGTERM again while the bundle is being sealed (an
    impatient operator, a CI runner escalating) must not leave a half-sealed folder."""
    (suite / "suites" / "synthetic" / "test_zz_interrupt.py").write_text(textwrap.dedent('''
        import os, signal
        import pytest
        import harness.run.embedded_reports as assessment

        real_seal = assessment.seal

        def impatient_seal(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
            return real_seal(*args, **kwargs)

        assessment.seal = impatient_seal

        @pytest.mark.requirements("S1.1-02")
        def test_operator_presses_ctrl_c(evidence):
            os.kill(os.getpid(), signal.SIGINT)
    '''))
    r, out = run(suite)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "the seal is finished first" in r.stderr
    check = harness("bundle", "verify", str(out))
    assert check.returncode == 0 and "INCOMPLETE" in check.stdout, check.stdout + check.stderr


FINDINGS_SUITE = '''
import pytest
from harness.observation.update.device import UpdateEndpoint
from harness.record.verdict import Verdict, advisory, inconclusive

@pytest.mark.requirements("S1.1-12")
def test_loops_over_targets(unit, findings):
    findings.fail("port 4443 offers TLS 1.0", target="u1:undeclared/4443", rule="tls.protocol.TLSv1.0",
                  policy="p v1", fix="turn TLS 1.0 off")
    inconclusive("port 4444: the scan stalled", target="u1:undeclared/4444", rule="tls.scan")

@pytest.mark.requirements("S1.1-13")
def test_only_an_advisory(unit):
    advisory("worth knowing, not a violation")

@pytest.mark.requirements("S1.1-01")
def test_safe_check_that_uploads(unit, guard):
    UpdateEndpoint(guard, unit.address, 8080).upload(b"image", "x.swu")

@pytest.mark.requirements("S1.1-02")
@pytest.mark.probe_class("auth")
def test_default_logins(unit):
    pass
'''


@pytest.fixture
def findings_suite(tmp_path):
    return make_suite(tmp_path, "multi", FINDINGS_SUITE)


def test_a_fail_on_one_target_is_never_lost_to_an_inconclusive_on_the_next(findings_suite):
    r, out = run(findings_suite)
    _, cases, reqs = verdicts(out)
    case = cases["multi.loops_over_targets[u1]"]
    assert case["verdict"] == "FAIL", case
    assert [(f["target"], f["verdict"], f["rule"]) for f in case["findings"]] == [
        ("u1:undeclared/4443", "FAIL", "tls.protocol.TLSv1.0"), ("u1:undeclared/4444", "INCONCLUSIVE", "tls.scan")]
    assert case["findings"][0]["fix"] == "turn TLS 1.0 off" and case["findings"][0]["policy"] == "p v1"
    assert case["reason"] == "port 4443 offers TLS 1.0"
    assert reqs["S1.1-12"]["verdict"] == "FAIL" and r.returncode == 1


def test_an_advisory_is_its_own_outcome_and_does_not_block(findings_suite):
    _r, out = run(findings_suite)
    _, cases, reqs = verdicts(out)
    assert cases["multi.only_an_advisory[u1]"]["verdict"] == "ADVISORY"
    assert reqs["S1.1-13"]["verdict"] == "ADVISORY"
    assert "S1.1-13" not in verdicts(out)[0]["summary"]["blocking_failures"]


def test_an_intrusive_probe_in_a_run_without_allow_intrusive_is_refused_by_the_guard(findings_suite):
    _r, out = run(findings_suite)
    _, cases, _ = verdicts(out)
    case = cases["multi.safe_check_that_uploads[u1]"]
    assert case["verdict"] == "ERROR"
    assert "probe of class 'intrusive' was refused before any packet" in case["reason"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert any("'intrusive' was refused" in r for r in manifest["refused_by_scope"])
    assert manifest["connections"] == {}  # nothing was sent


def test_auth_is_on_by_default_and_deny_auth_turns_it_off(findings_suite):
    _r, out = run(findings_suite)
    assert verdicts(out)[1]["multi.default_logins[u1]"]["verdict"] == "PASS"
    _r, out = run(findings_suite, "--deny", "auth")
    case = verdicts(out)[1]["multi.default_logins[u1]"]
    assert case["verdict"] == "NOT_EVALUATED" and "--deny auth" in case["reason"]
    r = harness("run", "--profile", str(findings_suite / "profile.yaml"), "--out", str(findings_suite / "x"),
                "--deny", "safe")
    assert r.returncode == 2 and "only 'auth'" in r.stderr


def test_exit_code_3_for_an_incomplete_assessment_and_the_predicate_agrees(tmp_path):
    make_suite(tmp_path, "s", textwrap.dedent('''
        import pytest
        from harness.record.verdict import inconclusive
        @pytest.mark.requirements("S1.1-13")
        def test_cannot_decide(unit):
            inconclusive("the port scan did not finish")
        @pytest.mark.requirements("S1.1-02")
        @pytest.mark.probe_class("brute")
        def test_left_out_on_purpose(unit):
            pass
    '''))
    r = harness("run", "--profile", str(tmp_path / "profile.yaml"), "--out", str(tmp_path / "b"),
                "--suite", str(tmp_path / "suites"))
    assert r.returncode == 3, r.stderr
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    # S1.1-02 is NOT_EVALUATED only because the operator left brute out: that is not "incomplete"
    assert res["summary"]["incomplete_requirements"] == ["S1.1-13"] and res["summary"]["exit_code"] == 3
    gated = next(c for c in res["cases"] if c["id"] == "s.left_out_on_purpose[u1]")
    assert gated["gated_by"] == "brute" and gated["verdict"] == "NOT_EVALUATED"
    envelope = json.loads((tmp_path / "b" / "bundle.dsse.json").read_text())
    import base64
    predicate = json.loads(base64.b64decode(envelope["payload"]))["predicate"]
    assert predicate["exitCode"] == 3 and predicate["result"] == "WARNED"


def test_two_runs_into_one_folder_exactly_one_proceeds(tmp_path):
    """Started together into one --out: one run proceeds, the other is refused (exit 2) before it
    writes anything, and the bundle holds one device only."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    make_suite(tmp_path, "slow", textwrap.dedent('''
        import time
        import pytest
        @pytest.mark.requirements("S1.1-13")
        def test_takes_a_while(unit, evidence):
            evidence.write_text("unit.txt", unit.name)
            time.sleep(2)
    '''))
    other = PROFILE.replace("model: M", "model: OtherModel").replace("name: u1, address: 127.0.0.5", "name: x9, "
                                                                     "address: 127.0.0.6")
    (tmp_path / "other.yaml").write_text(other)
    out = tmp_path / "shared-out"
    procs = [subprocess.Popen([sys.executable, "-m", "harness.run.cli", "run", "--profile", str(tmp_path / p),
                               "--out", str(out), "--suite", str(tmp_path / "suites")], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in ("profile.yaml", "other.yaml")]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes[0] != 2 and codes[1] == 2, results
    refused = next(err for code, err in results if code == 2)
    assert "in use by another run" in refused or "is not empty" in refused
    manifest = json.loads((out / "manifest.json").read_text())
    res = json.loads((out / "results.json").read_text())
    units = {u["name"] for u in manifest["device"]["units"]}
    assert units in ({"u1"}, {"x9"}) and {c["unit"] for c in res["cases"]} == units
    assert json.loads((out / "profile.json").read_text())["units"][0]["name"] in units
    assert harness("bundle", "verify", str(out)).returncode == 0


def test_a_failed_set_up_leaves_no_output_folder_behind(tmp_path):
    make_suite(tmp_path, "s", SUITE)
    key = tmp_path / "not-a-key.pem"
    key.write_text("garbage")
    r = harness("run", "--profile", str(tmp_path / "profile.yaml"), "--out", str(tmp_path / "b"),
                "--suite", str(tmp_path / "suites"), "--signing-key", str(key))
    assert r.returncode == 2 and not (tmp_path / "b").exists()
    (tmp_path / "file").write_text("x")
    r = harness("run", "--profile", str(tmp_path / "profile.yaml"), "--out", str(tmp_path / "file"),
                "--suite", str(tmp_path / "suites"))
    assert r.returncode == 2 and "is not a folder" in r.stderr and "Traceback" not in r.stderr


def test_what_the_profile_names_is_resolved_before_the_run_sends_anything(tmp_path):
    bad = PROFILE.replace('secrets: {pw: {value: "Sup3r-Secret"}}', 'secrets: {pw: {env: IOT_TEST_UNSET_VAR}, '
                          'zero: {file: /dev/zero}}')
    bad += "communication: {tls_policy: no-such-policy, trust_anchor: /nonexistent/ca.pem}\n"
    make_suite(tmp_path, "s", SUITE)
    (tmp_path / "profile.yaml").write_text(bad)
    r = harness("run", "--profile", str(tmp_path / "profile.yaml"), "--out", str(tmp_path / "b"),
                "--suite", str(tmp_path / "suites"))
    assert r.returncode == 2 and not (tmp_path / "b").exists(), r.stderr
    for says in ("units[0].secrets.pw: environment variable IOT_TEST_UNSET_VAR is not set",
                 "units[0].secrets.zero: secret file /dev/zero is not a regular file",
                 "communication.tls_policy: TLS policy 'no-such-policy' not found",
                 "communication.trust_anchor: /nonexistent/ca.pem is not a readable file"):
        assert says in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


BUDGET_SUITE = '''
import time
import pytest

@pytest.mark.requirements("S1.1-13")
def test_a_sleeping_check(unit, evidence):
    evidence.write_text("before.txt", "written before the wait")
    time.sleep(120)

@pytest.mark.requirements("S1.1-13")
def test_a_spinning_check_that_swallows_exceptions(unit):
    while True:
        try:
            sum(range(10_000))
        except Exception:
            pass

@pytest.mark.requirements("S1.1-02")
def test_quick(unit):
    pass
'''

BUDGET_LIMITS = "limits: {case_budget_s: 12, run_budget_s: %s, port_scan_timeout_s: 1, brute_force_max_seconds: 1, " \
                "lockout_recovery_wait_s: 1}\n"


def _budget_run(tmp_path, run_budget: int):
    import time

    suite = make_suite(tmp_path, "budget", BUDGET_SUITE)
    (suite / "profile.yaml").write_text(PROFILE + BUDGET_LIMITS % run_budget)
    t0 = time.monotonic()
    r, out = run(suite)
    return r, out, time.monotonic() - t0


@pytest.fixture(scope="module")
def budget_runs(tmp_path_factory):
    """Both runs side by side: each spends its time waiting on the clock, not on the CPU."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        futures = {b: pool.submit(_budget_run, tmp_path_factory.mktemp(f"budget{b}"), b) for b in (3600, 20)}
        return {b: f.result() for b, f in futures.items()}


@pytest.mark.parametrize("run_budget", [3600, 20])
def test_a_case_past_its_budget_is_inconclusive_and_the_run_deadline_stops_the_rest(budget_runs, run_budget):
    r, out, elapsed = budget_runs[run_budget]
    res, cases, _ = verdicts(out)
    sleeping = cases["budget.a_sleeping_check[u1]"]
    assert sleeping["verdict"] == "INCONCLUSIVE" and "its budget of 12 s (limits.case_budget_s)" in sleeping["reason"]
    assert 11 < sleeping["duration_s"] < 13.5 and any(p.endswith("before.txt") for p in sleeping["evidence"])
    if run_budget == 3600:  # both over-budget cases stopped at 12 s, the quick one ran, the run is complete
        spinning = cases["budget.a_spinning_check_that_swallows_exceptions[u1]"]
        assert spinning["verdict"] == "INCONCLUSIVE" and spinning["duration_s"] < 13.5
        assert cases["budget.quick[u1]"]["verdict"] == "PASS" and res["complete"] and elapsed < 60
    else:  # the run's deadline (20 s) cut the second case at about 8 s and no case started after it
        spinning = cases["budget.a_spinning_check_that_swallows_exceptions[u1]"]
        assert spinning["verdict"] == "INCONCLUSIVE" and "the run's deadline (20 s" in spinning["reason"]
        manifest = json.loads((out / "manifest.json").read_text())
        assert "budget.quick[u1]" not in cases and not res["complete"]
        assert "deadline passed" in manifest["incomplete_reason"] and r.returncode == 2  # did not finish
    assert harness("bundle", "verify", str(out)).returncode == 0


FILLING_SUITE = '''
import pytest

@pytest.mark.requirements("S1.1-13")
def test_writes_a_lot(unit, evidence):
    for i in range(200):
        evidence.write_bytes(f"chunk{i}.bin", b"x" * 40000)

@pytest.mark.requirements("S1.1-02")
def test_never_started(unit):
    pass
'''


@pytest.fixture
def small_disk(tmp_path):
    """A 6 MiB file system of its own for --out (root: a tmpfs mount, taken down afterwards)."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root (CI runs as root)")
    where = tmp_path / "small-disk"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_disk_that_fills_while_writing_evidence_leaves_a_sealed_incomplete_bundle(tmp_path, small_disk):
    suite = make_suite(tmp_path, "filling", FILLING_SUITE)
    out = small_disk / "bundle"
    r = harness("run", "--profile", str(suite / "profile.yaml"), "--out", str(out), "--suite", str(suite / "suites"))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    _, cases, _ = verdicts(out)
    case = cases["filling.writes_a_lot[u1]"]
    assert case["verdict"] == "ERROR" and "filled up while writing chunk" in case["reason"]
    assert "filling.never_started[u1]" not in cases  # no case starts without room for its evidence
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "incomplete" and "filled up" in manifest["incomplete_reason"]
    assert not (out / ".space-reserve").exists()
    written = sorted(p.name for p in (out / "evidence" / "filling.writes_a_lot_u1").iterdir())
    assert all((out / "evidence" / "filling.writes_a_lot_u1" / n).stat().st_size == 40000 for n in written)
    assert harness("bundle", "verify", str(out)).returncode == 0


def test_a_disk_without_room_for_the_seal_is_refused_before_the_run(tmp_path, small_disk):
    import subprocess

    subprocess.run(["dd", "if=/dev/zero", f"of={small_disk / 'filler'}", "bs=1M", "count=5"], capture_output=True)
    suite = make_suite(tmp_path, "filling", FILLING_SUITE)
    r = harness("run", "--profile", str(suite / "profile.yaml"), "--out", str(small_disk / "bundle"),
                "--suite", str(suite / "suites"))
    assert r.returncode == 2 and "MiB free for the bundle" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (small_disk / "bundle").exists()


def test_observations_a_check_names_are_begun_as_the_run_starts(tmp_path):
    """@pytest.mark.observes("discovery"): the run begins the unit's discovery before any case
    asks for it (the check waits without asking, and finds it made), and the case that reads it
    still has it as its evidence."""
    make_suite(tmp_path, "s", textwrap.dedent('''
        import time
        import pytest
        from harness.record.verdict import fail

        @pytest.mark.requirements("S1.1-13")
        @pytest.mark.observes("discovery")
        def test_reads_discovery(unit, observations):
            key = f"observations/{unit.name}/discovery.json"
            deadline = time.monotonic() + 20
            while key not in observations._memo and time.monotonic() < deadline:
                time.sleep(0.05)
            if key not in observations._memo:
                fail("discovery was not begun before the case asked for it")
            try:
                observations.discovery(unit)
            except Exception:
                pass  # nothing answers on loopback: what matters is who made it, and when
    '''))
    r, out = run(tmp_path)
    _, cases, _ = verdicts(out)
    (case,) = cases.values()
    assert case["verdict"] != "FAIL", (case["reason"], r.stderr)
    assert any(p.endswith("discovery.json") for p in case["evidence"]), case["evidence"]


def test_an_observation_no_run_begins_early_is_refused_naming_the_ones_that_are(tmp_path):
    make_suite(tmp_path, "s", textwrap.dedent('''
        import pytest

        @pytest.mark.requirements("S1.1-13")
        @pytest.mark.observes("tcp_scan")
        def test_reads_the_scan(unit):
            pass
    '''))
    r, _ = run(tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "@pytest.mark.observes names ['tcp_scan']" in r.stderr and "'discovery', 'udp_scan'" in r.stderr, r.stderr


def test_a_verdict_is_reported_by_its_reason_and_a_crash_by_its_traceback():
    """pytest formats no traceback for a case that ended with a verdict (its reason is the result);
    a check that crashes is left to pytest, whose report keeps the traceback."""
    from types import SimpleNamespace

    from harness.record.verdict import not_applicable
    from harness.run.plugin import pytest_runtest_makereport

    item = SimpleNamespace(nodeid="suite.py::test_x", location=("suite.py", 3, "test_x"), keywords={"test_x": 1},
                           user_properties=[])
    ended = pytest.CallInfo.from_call(lambda: not_applicable("nothing to look at"), "call")
    report = pytest_runtest_makereport(item, ended)
    assert report.outcome == "failed" and report.when == "call" and report.duration == ended.duration
    assert report.longreprtext == "NotApplicable (NOT_APPLICABLE): nothing to look at"
    crashed = pytest.CallInfo.from_call(lambda: 1 / 0, "call")
    assert pytest_runtest_makereport(item, crashed) is None
    assert pytest_runtest_makereport(item, pytest.CallInfo.from_call(lambda: None, "call")) is None
