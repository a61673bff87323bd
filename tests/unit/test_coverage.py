"""The coverage matrix: a requirement never PASSes on the interfaces the harness speaks while an
interface it bears on went unjudged (a declared RTSP service no probe speaks, a UDP service the
clear-text check never heard). No network: results built from case records, as a run builds them."""

from datetime import date

import yaml

from harness.declaration.catalog import load_catalogs
from harness.declaration.profile import load_profile
from harness.judgement.coverage import coverage_matrix, unprobed_services
from harness.record.results import CaseResult, exit_code, incomplete_requirements, requirement_results
from harness.record.verdict import Verdict
from tests.conftest import harness

PROFILE = {
    "identity": {"vendor": "V", "model": "Sensor-1", "firmware_version": "1"},
    "units": [{"name": "s1", "address": "127.0.0.5"}],
    "services": [
        {"name": "ssh", "port": 22, "protocol": "ssh", "purpose": "maintenance", "authentication": "password"},
        {"name": "rtsp", "port": 554, "protocol": "rtsp", "purpose": "video stream", "authentication": "none"},
        {"name": "mdns", "port": 5353, "transport": "udp", "protocol": "mdns", "purpose": "discovery",
         "authentication": "none"},
    ],
    "credentials": {"kind": "unique-per-unit"},
    "schemes": ["jc-star-1", "nist-ir-8259a"],
}


def _profile(tmp_path, services=None):
    data = dict(PROFILE, services=services if services is not None else PROFILE["services"])
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_profile(path), path


def _cases() -> list[CaseResult]:
    """What the shipped checks give for this unit: per-service login cases on SSH, and the
    unit-wide clear-text case, which covers the TCP services it scanned."""
    def case(cid, reqs, service=None, covers=()):
        return CaseResult(id=cid, check=cid.split("[")[0], verdict=Verdict.PASS, requirements=reqs, unit="s1",
                          service=service, covers=list(covers))
    return [
        case("credentials.no_unauthenticated_access[s1:ssh/22]", ["S1.1-01", "LA-2"], "ssh"),
        case("credentials.default_password[s1:ssh/22]", ["S1.1-02", "LA-2"], "ssh"),
        case("communication.no_cleartext_interfaces[s1]", ["S1.1-12"], covers=["ssh"]),
        case("communication.ssh_algorithms[s1:ssh/22]", ["S1.1-12"], "ssh"),
    ]


def _judge(profile):
    catalogs = load_catalogs()
    cases = _cases()
    coverage = coverage_matrix(cases, catalogs, profile, profile.schemes)
    reqs = requirement_results(cases, catalogs, profile, profile.schemes, date(2026, 12, 1), coverage)
    return coverage, {r.id: r for r in reqs}, cases, reqs


def test_a_declared_service_no_probe_speaks_keeps_its_requirements_from_pass(tmp_path):
    profile, _ = _profile(tmp_path)
    coverage, reqs, cases, all_reqs = _judge(profile)
    for rid in ("S1.1-01", "S1.1-12", "LA-2"):
        assert reqs[rid].verdict is Verdict.NOT_EVALUATED, (rid, reqs[rid])
        assert reqs[rid].unjudged == ["s1:rtsp/tcp/554"]
        assert any("no probe of this harness speaks rtsp" in n for n in reqs[rid].notes), reqs[rid].notes
    gap = next(r for r in coverage if r.requirement == "S1.1-01" and r.service == "rtsp")
    assert gap.cases == [] and gap.verdict is Verdict.NOT_EVALUATED and "speaks rtsp" in gap.reason
    judged = next(r for r in coverage if r.requirement == "S1.1-12" and r.service == "ssh")
    assert judged.cases == ["communication.no_cleartext_interfaces[s1]", "communication.ssh_algorithms[s1:ssh/22]"]
    # S1.1-02 bears on password logins only: the SSH one was judged, so it PASSes
    assert reqs["S1.1-02"].verdict is Verdict.PASS and not reqs["S1.1-02"].unjudged
    # discovery-only mDNS bears on neither access control nor clear text: no row at all
    assert not [r for r in coverage if r.service == "mdns"]
    # incomplete, so the run exits 3, not 0
    assert {"S1.1-01", "S1.1-12", "LA-2"} <= set(incomplete_requirements(all_reqs, cases))
    assert exit_code(all_reqs, cases, complete=True) == 3


def test_without_the_unprobed_service_the_same_cases_pass(tmp_path):
    profile, _ = _profile(tmp_path, [s for s in PROFILE["services"] if s["name"] != "rtsp"])
    coverage, reqs, _, _ = _judge(profile)
    assert all(r.cases for r in coverage if r.requirement != "S1.1-04")
    (brute,) = [r for r in coverage if r.requirement == "S1.1-04"]  # no brute-force case in this list
    assert brute.reason == "no case of this run's suite evaluates the requirement"
    for rid in ("S1.1-01", "S1.1-02", "S1.1-12", "LA-2"):
        assert reqs[rid].verdict is Verdict.PASS and not reqs[rid].unjudged, reqs[rid]


def test_a_failure_elsewhere_still_fails_and_the_gap_is_still_named(tmp_path):
    profile, _ = _profile(tmp_path)
    catalogs = load_catalogs()
    cases = _cases()
    cases[0] = cases[0].model_copy(update={"verdict": Verdict.FAIL})
    coverage = coverage_matrix(cases, catalogs, profile, profile.schemes)
    reqs = {r.id: r for r in requirement_results(cases, catalogs, profile, profile.schemes, date(2026, 12, 1),
                                                 coverage)}
    assert reqs["S1.1-01"].verdict is Verdict.FAIL and reqs["S1.1-01"].unjudged == ["s1:rtsp/tcp/554"]


def test_validate_warns_about_services_no_probe_speaks(tmp_path):
    profile, path = _profile(tmp_path)
    (warning,) = unprobed_services(profile, load_catalogs())
    assert "'rtsp'" in warning and "no probe of this harness speaks rtsp" in warning
    assert "LA-2, S1.1-01, S1.1-12" in warning
    r = harness("profile", "validate", "--schema-only", str(path))
    assert r.returncode == 0 and "warning: service 'rtsp'" in r.stderr, r.stderr


def test_interfaces_the_scans_found_undeclared_are_rows_too(tmp_path):
    """An attacker reaches an undeclared port as easily as a declared one: each one the run found
    answering is a row for every requirement that bears on it, judged by the checks of undeclared
    ports (which name it in `covers`), and one nothing recognised keeps its requirements from PASS."""
    from harness.observation.discovered import DiscoveredInterface, undeclared_name

    profile, _ = _profile(tmp_path, [s for s in PROFILE["services"] if s["name"] != "rtsp"])
    catalogs = load_catalogs()
    found = [DiscoveredInterface("s1", 23, "tcp", "telnet"), DiscoveredInterface("s1", 9999, "tcp", None),
             DiscoveredInterface("s1", 1900, "udp", "ssdp")]
    telnet = undeclared_name("tcp", 23)
    cases = [
        *_cases(),
        CaseResult(id="credentials.no_unauthenticated_access_on_undeclared_services[s1]",
                   check="credentials.no_unauthenticated_access_on_undeclared_services", verdict=Verdict.FAIL,
                   requirements=["S1.1-01", "LA-2"], unit="s1", covers=[telnet]),
    ]
    cases[2] = cases[2].model_copy(update={"covers": ["ssh", telnet]})  # clear text judged the telnet port
    coverage = coverage_matrix(cases, catalogs, profile, profile.schemes, discovered=found)
    rows = {(r.requirement, r.service): r for r in coverage}
    judged = rows[("S1.1-01", telnet)]
    assert judged.declared is False and judged.interface == "s1:undeclared-23/tcp/23"
    assert judged.verdict is Verdict.FAIL and judged.cases == ["credentials.no_unauthenticated_access_on_undeclared_"
                                                               "services[s1]"]
    assert rows[("S1.1-12", telnet)].verdict is Verdict.PASS
    # a login protocol counts as a password login: default passwords and brute force bear on it
    assert rows[("S1.1-02", telnet)].verdict is Verdict.NOT_EVALUATED
    unknown = rows[("S1.1-01", undeclared_name("tcp", 9999))]
    assert unknown.verdict is Verdict.NOT_EVALUATED and "nothing recognised what it speaks" in unknown.reason
    assert not [r for r in coverage if r.service == undeclared_name("udp", 1900)]  # discovery only
    reqs = {r.id: r for r in requirement_results(cases, catalogs, profile, profile.schemes, date(2026, 12, 1),
                                                 coverage)}
    assert reqs["S1.1-12"].verdict is Verdict.NOT_EVALUATED
    assert reqs["S1.1-12"].unjudged == ["s1:undeclared-9999/tcp/9999"]
