"""No interface may accept a well-known default password (JC-STAR S1.1-02, NIST IR 8259A LA-2,
ETSI EN 303 645 5.1-1). Every declared service that logs users in is tried, and so is every
undeclared open port that turns out to speak a login protocol: an attacker does not read the
declaration first."""

import pytest

from harness.probes.identify import identify
from harness.probes.registry import LOGIN_PROTOCOLS
from harness.profile import Authentication, Service, Transport
from harness.verdict import fail, inconclusive, not_applicable
from test_suites.credentials.logins import decided, parallelism, probe_for, try_defaults
from test_suites.exposure.observe import tcp_inventory

FIX = ("Give every unit its own random password, or make the user set one before the service is "
       "reachable; never ship a pair that is the same on every unit.")


@pytest.mark.requirements("S1.1-02", "LA-2")
@pytest.mark.protocols(*LOGIN_PROTOCOLS)
def test_default_password(endpoint, profile, guard, evidence):
    probe = probe_for(guard, endpoint.address, endpoint.service, profile, endpoint.label)
    result = try_defaults(probe, endpoint.label, profile.limits.max_login_attempts_per_service, parallelism(profile))
    evidence.write_json("attempts.json", result)
    if result["accepted"]:
        a = result["accepted"]
        fail(f"{endpoint.label} ({probe.protocol}) accepts a well-known default password: "
             f"{a['username']}/«redacted» (default-credential entry '{a['entry']}'). {FIX}")
    if not decided(result):
        inconclusive(f"{endpoint.label}: no login attempt completed, so nothing can be concluded")


@pytest.mark.requirements("S1.1-02", "LA-2")
def test_default_password_on_undeclared_services(unit, profile, guard, evidence, run_cache):
    scan = tcp_inventory(run_cache, guard, profile, unit)
    declared = {s.port for s in profile.services_for(unit) if s.transport is Transport.TCP}
    undeclared = [p for p in scan.open_ports if p not in declared]
    if not undeclared:
        not_applicable(f"{unit.name} has no undeclared open TCP port")
    results, spoken = [], {}
    for port in undeclared:
        proto = identify(guard, unit.address, port, timeout=2.0)
        spoken[port] = proto
        if proto not in LOGIN_PROTOCOLS:
            continue
        svc = Service(name=f"undeclared-{port}", port=port, protocol=proto, purpose="not declared",
                      authentication=Authentication.PASSWORD)
        label = f"{unit.name}:{svc.name}/{port}"
        probe = probe_for(guard, unit.address, svc, profile, label)
        try:
            results.append(try_defaults(probe, label, profile.limits.max_login_attempts_per_service,
                                        parallelism(profile)))
        except pytest.skip.Exception as e:  # not applicable / inconclusive for that one port
            results.append({"endpoint": label, "protocol": proto, "not_tried": str(e)})
    evidence.write_json("undeclared.json", {"unit": unit.name, "identified": spoken, "results": results})
    accepted = [r for r in results if r.get("accepted")]
    if accepted:
        fail("undeclared service(s) accept a well-known default password: " + "; ".join(
            f"{r['endpoint']} ({r['protocol']}) {r['accepted']['username']}/«redacted» "
            f"(entry '{r['accepted']['entry']}')" for r in accepted) + f". {FIX}")
    if not any("attempts" in r for r in results):
        not_applicable(f"undeclared ports {undeclared} speak no protocol the harness logs in to "
                       f"(identified: {spoken})")
    undecided = [r["endpoint"] for r in results if "attempts" in r and not decided(r)]
    if undecided:
        inconclusive(f"no login attempt completed on {', '.join(undecided)}, so nothing can be concluded")
