"""An SNMP agent must not answer a factory community (JC-STAR S1.1-01 and S1.1-02, NIST IR 8259A
LA-2, ETSI EN 303 645 5.1-1). A community is a password, the shipped ones are the same on every
unit, and an agent that answers one lets anyone on the network read the device's management
data without a password: access without credentials and a default password at once. Every SNMP
agent is asked, declared or found answering on UDP 161 by the UDP scan; each well-known
community is tried for a read of sysDescr (class `auth`), v2c, then v1 if no v2c read answered, and the agent's SNMPv3
engine is asked for, which tells an agent that ignores every community from no agent at all;
an SNMPv3 agent is also asked as the users agents ship without authentication (noAuthNoPriv).
Under `--allow intrusive` a community that reads is tried for writing (a MIB-II string object
SET to the value it holds, then a marker, then back, each read back): a writable one is worse.
Clear text (S1.1-12) is judged by the clear-text check."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.observation.communities import default_communities
from harness.observation.discovered import undeclared_name
from harness.observation.logins import parallelism
from harness.observation.probes.portscan import ScanUnavailable
from harness.observation.probes.snmp import SnmpProbe, write_test
from harness.record.verdict import inconclusive, not_applicable

COMMUNITY = {c.id: c.community for c in default_communities().entries}
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


def _writes(guard, probe, accepted: list[dict], label: str, findings) -> list[dict]:
    """Whether each community that reads also writes (class `intrusive`; see `write_test`)."""
    if "intrusive" not in guard.allowed_classes:
        findings.not_evaluated(f"{label}: whether {', '.join(repr(r['entry']) for r in accepted)} also write(s) is "
                               "tried only under --allow intrusive (the value is put back)", target=label,
                               rule="snmp-community-writable")
        return []
    results = []
    with guard.probe_class("intrusive"):
        for r in accepted:
            result = {"entry": r["entry"], **write_test(probe, COMMUNITY[r["entry"]], r["version"])}
            results.append(result)
            row = next((t for t in result["tries"] if t.get("outcome") == "accepted"), None)
            if row is not None:
                proof = "; a marker SET after it was read back" if row.get("took_effect") else ""
                undone = "" if row["restored"] else (f". The original could NOT be proven restored: check "
                                                     f"{row['object']}")
                findings.fail(f"{label}: the factory community '{r['entry']}' also writes: a SET of {row['object']} "
                              f"to the value it held was accepted{proof}{undone}", target=label,
                              rule=f"snmp-community-writable.{r['entry']}", fix=FIX)
            elif result["outcome"] == "undetermined":
                findings.inconclusive(f"{label}: whether '{r['entry']}' writes could not be told: no MIB-II string "
                                      "object took a SET and none refused the community", target=label,
                                      rule="snmp-community-writable")
    return results


@pytest.mark.requirements("S1.1-01", "S1.1-02", "LA-2", "5.1-1", "5.5-4", "8425-IAC", "PSTI-1")
@pytest.mark.probe_class("auth")
@pytest.mark.observes("udp_scan")
def test_snmp_default_community(unit, profile, guard, observations, evidence, findings, device_state):
    agents = _agents(unit, profile, observations, device_state)
    if not agents:
        not_applicable(f"{unit.name} declares no SNMP agent and none answered on UDP 161")
    communities = default_communities()
    cap = profile.limits.max_login_attempts_per_service
    timeout = min(profile.limits.connect_timeout_s, REQUEST_TIMEOUT_S)
    workers = parallelism(profile)  # like logins: each wrong community costs the agent's silence
    records = []
    for port, name in sorted(agents.items()):
        label = f"{unit.name}:{name}/udp/{port}"
        findings.covers(undeclared_name("udp", port) if name.startswith("undeclared-") else name)
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
        v3 = [{"entry": u.id, "source": u.source, "outcome": outcome, "detail": detail}
              for u in communities.v3_users[:max(0, cap - len(rows))]
              for outcome, detail in [probe.v3_user(u.user)]] if engine is not None else []
        record = {"endpoint": label, "declared": not name.startswith("undeclared-"), "tried": rows,
                  "snmpv3_engine_answered": engine is not None, "snmpv3_noauth_users": v3,
                  "community_list_version": communities.version}
        records.append(record)
        accepted = [r for r in rows if r["answered"]]
        for r in accepted:
            findings.fail(f"{label} answers the factory SNMP community '{r['entry']}' ({r['version']}): anyone on "
                          f"the network reads its management data without a password (sysDescr: {r['detail']!r})",
                          target=label, rule=f"snmp-community.{r['entry']}", fix=FIX)
        for u in (u for u in v3 if u["outcome"] == "answered"):
            findings.fail(f"{label} answers the SNMPv3 user '{u['entry']}' with no authentication at all "
                          f"(noAuthNoPriv): anyone on the network reads it without a password ({u['detail']!r})",
                          target=label, rule=f"snmp-v3-noauth.{u['entry']}", fix=FIX)
        if accepted:
            record["writes"] = _writes(guard, probe, accepted, label, findings)
        if accepted or any(u["outcome"] == "answered" for u in v3):
            continue
        if engine is not None:
            findings.passed(f"{label}: none of {len(rows)} factory community reads answered, nor {len(v3)} "
                            "SNMPv3 user(s) without authentication; the agent answers SNMPv3 discovery, so it is "
                            "there and refuses them", target=label)
        else:
            findings.inconclusive(f"{label}: no answer to {len(rows)} factory community reads nor to SNMPv3 "
                                  "discovery: no agent answered, so nothing can be judged", target=label)
    evidence.write_json("snmp-communities.json", {"unit": unit.name, "agents": records})
