"""No interface may accept a well-known default password (JC-STAR S1.1-02, NIST IR 8259A LA-2,
ETSI EN 303 645 5.1-1). Every declared service that logs users in is tried, and so is every
undeclared open port that turns out to speak a login protocol: an attacker does not read the
declaration first (a forgotten service that takes a well-known pair is an exploitable weakness,
S1.1-13, as well as a default password, S1.1-02). Logins are probes of class `auth`, capped per
account name; an accepted pair is recorded as a fact (`default-credential-accepted`) for every
other check to read."""

import pytest

from harness.judgement.inventory import as_service, undeclared_ports
from harness.observation.discovered import undeclared_name
from harness.observation.logins import decided, series_result
from harness.observation.protocols import LOGIN_PROTOCOLS
from harness.record.verdict import CaseEnded, not_applicable

FIX = ("Give every unit its own random password, or make the user set one before the service is "
       "reachable; never ship a pair that is the same on every unit.")


def _judge(result: dict, label: str, findings, observations, unit, case: str) -> None:
    """One service's findings: a FAIL per accepted pair, INCONCLUSIVE when nothing was decided,
    an advisory for pairs left untried to spare the account, PASS otherwise."""
    for a in result["all_accepted"]:
        findings.fail(f"{label} ({result['protocol']}) accepts a well-known default password: "
                      f"{a['username']}/«redacted» (default-credential entry '{a['entry']}', source: {a['source']})",
                      target=label, rule=f"default-credential.{a['entry']}", fix=FIX)
        observations.note("default-credential-accepted", unit.name, case, endpoint=label,
                          protocol=result["protocol"], entry=a["entry"], username=a["username"])
    if result["all_accepted"]:
        return
    if not decided(result):
        findings.inconclusive(f"{label}: no login attempt completed, so nothing can be concluded", target=label)
        return
    findings.passed(f"{label}: no default accepted among {result['tried']} well-known pair(s) tried "
                    f"(list version {result['credential_list_version']})", target=label)
    if result["untried_for_lockout_safety"]:
        findings.advisory(f"{label}: {len(result['untried_for_lockout_safety'])} pair(s) not tried, to stay "
                          f"below lockout thresholds ({result['per_account_cap']} per account); raise "
                          "limits.max_default_attempts_per_account to try them", target=label,
                          rule="default-credential.coverage")


@pytest.mark.requirements("S1.1-02", "LA-2", "5.1-1", "8425-IAC", "PSTI-1")
@pytest.mark.probe_class("auth")
@pytest.mark.protocols(*LOGIN_PROTOCOLS)
def test_default_password(endpoint, profile, guard, observations, evidence, findings, current_case):
    result = series_result(observations.default_logins(endpoint.unit, endpoint.service, endpoint.label))
    evidence.write_json("attempts.json", result)
    _judge(result, endpoint.label, findings, observations, endpoint.unit, current_case)


@pytest.mark.requirements("S1.1-02", "S1.1-13", "LA-2", "5.1-1", "5.6-1", "8425-IAC", "PSTI-1")
@pytest.mark.probe_class("auth")
def test_default_password_on_undeclared_services(unit, profile, guard, observations, evidence, findings,
                                                 device_state, current_case):
    undeclared = undeclared_ports(observations, unit, device_state, None, "")
    results = []
    for port, proto in sorted(undeclared.items()):
        if proto not in LOGIN_PROTOCOLS:
            continue
        svc, label = as_service(unit, port, proto)
        findings.covers(undeclared_name("tcp", port))
        try:
            result = series_result(observations.default_logins(unit, svc, label))
        except CaseEnded as e:  # not applicable / inconclusive for that one port; the others go on
            findings.add(e.verdict, e.reason, target=label)
            results.append({"endpoint": label, "protocol": proto, "not_tried": e.reason})
            continue
        results.append(result)
        _judge(result, label, findings, observations, unit, current_case)
    evidence.write_json("undeclared.json", {"unit": unit.name, "identified": undeclared, "results": results})
    if not results:
        not_applicable(f"undeclared ports {sorted(undeclared)} speak no protocol the harness logs in to "
                       f"(identified: {undeclared})")
