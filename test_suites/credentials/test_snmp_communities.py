"""An SNMP agent must not answer a factory community (JC-STAR S1.1-01 and S1.1-02, NIST IR 8259A
LA-2, ETSI EN 303 645 5.1-1). A community is a password, the shipped ones are the same on every
unit, and an agent that answers one lets anyone on the network read the device's management
data without a password: access without credentials and a default password at once. Every SNMP
agent is asked, declared or found answering on UDP 161 by the UDP scan; each well-known
community is tried for a read of sysDescr (class `auth`), v2c, then v1 if no v2c read answered, and the agent's SNMPv3
engine is asked for, which tells an agent that ignores every community from no agent at all.
Clear text (S1.1-12) is not judged here: a v3 agent may still run without privacy."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.observation.communities import default_communities
from harness.observation.probes.portscan import ScanUnavailable
from harness.observation.probes.snmp import SnmpProbe
from harness.record.verdict import inconclusive, not_applicable

FIX = ("Switch SNMP off, or use SNMPv3 only, with per-unit credentials and privacy (authPriv); never ship an "
       "agent that answers a factory community such as 'public'.")
VERSIONS = ("v2c", "v1")
REQUEST_TIMEOUT_S = 1.0  # an agent answers in milliseconds; silence costs this per request


def _agents(unit, profile, observations, device_state) -> dict[int, str]:
    """SNMP agent port -> service name: the declared ones, and UDP 161 when it answered the scan."""
    agents = {s.port: s.name for s in profile.services_for(unit, device_state) if str(s.protocol) == "snmp"}
    try:
        scan = observations.udp_scan(unit)
    except ScanUnavailable as e:
        if not agents:
            inconclusive(f"the UDP scan of {unit.address} did not complete, so an undeclared SNMP agent cannot be "
                         f"ruled out: {e}")
        return agents
    if 161 in scan.open_ports and 161 not in agents:
        agents[161] = "undeclared-161"
    return agents


@pytest.mark.requirements("S1.1-01", "S1.1-02", "LA-2")
@pytest.mark.probe_class("auth")
def test_snmp_default_community(unit, profile, guard, observations, evidence, findings, device_state):
    agents = _agents(unit, profile, observations, device_state)
    if not agents:
        not_applicable(f"{unit.name} declares no SNMP agent and none answered on UDP 161")
    communities = default_communities()
    cap = profile.limits.max_login_attempts_per_service
    timeout = min(profile.limits.connect_timeout_s, REQUEST_TIMEOUT_S)
    workers = max(1, min(4, profile.limits.max_connections_per_unit // 2))
    records = []
    for port, name in sorted(agents.items()):
        label = f"{unit.name}:{name}/udp/{port}"
        if not name.startswith("undeclared-"):
            findings.covers(name)
        probe = SnmpProbe(guard, unit.address, port, timeout)
        rows: list[dict] = []
        for version in VERSIONS:  # v1 only for an agent that answered no v2c read: it would add nothing
            tries = communities.entries[:max(0, cap - len(rows))]
            with ThreadPoolExecutor(workers, thread_name_prefix="snmp") as pool:
                answers = list(pool.map(lambda c, probe=probe, v=version: probe.read(c.community, v), tries))
            rows += [{"entry": c.id, "source": c.source, "version": version, "answered": ok, "detail": detail}
                     for c, (ok, detail) in zip(tries, answers, strict=True)]
            if any(r["answered"] for r in rows):
                break
        engine = probe.v3_engine()
        records.append({"endpoint": label, "declared": not name.startswith("undeclared-"), "tried": rows,
                        "snmpv3_engine_answered": engine is not None,
                        "community_list_version": communities.version})
        accepted = [r for r in rows if r["answered"]]
        for r in accepted:
            findings.fail(f"{label} answers the factory SNMP community '{r['entry']}' ({r['version']}): anyone on "
                          f"the network reads its management data without a password (sysDescr: {r['detail']!r})",
                          target=label, rule=f"snmp-community.{r['entry']}", fix=FIX)
        if accepted:
            continue
        if engine is not None:
            findings.passed(f"{label}: none of {len(rows)} factory community reads answered; the agent answers "
                            "SNMPv3 discovery, so it is there and refuses them", target=label)
        else:
            findings.inconclusive(f"{label}: no answer to {len(rows)} factory community reads nor to SNMPv3 "
                                  "discovery: no agent answered, so nothing can be judged", target=label)
    evidence.write_json("snmp-communities.json", {"unit": unit.name, "agents": records})
