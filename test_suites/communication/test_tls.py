"""TLS on every declared and discovered TLS port, judged against the TLS policy in force
(JC-STAR S1.1-12: TLS 1.2/1.3 with algorithms from the CRYPTREC list; ETSI EN 303 645 5.5-1).

sslyze's reading of each port is an observation (made once, kept in the bundle); the policy is
applied here, so a revised policy re-judges the same reading without touching the device. Each
violated rule is its own finding, naming the rule and the clause of the policy's source.
"""

import pytest

from harness.judgement.inventory import undeclared_ports
from harness.judgement.policies import PolicyError
from harness.judgement.tls import evaluate
from harness.observation.discovered import undeclared_name
from harness.observation.probes.tls import TlsUnavailable
from harness.record.verdict import inconclusive

FIX = ("Enable only TLS 1.2 and 1.3 with forward-secret AEAD suites, and use a certificate with a "
       "2048-bit RSA or P-256 key, signed with SHA-256, issued for the device's address, within its "
       "validity period, chaining to the declared trust anchor.")


def _judge(observations, policies, profile, evidence, findings, unit, port, label, prefix=""):
    """Judge one TLS port, adding its findings; returns nothing so a loop can go on to the next."""
    try:
        policy = policies.tls()
    except PolicyError as e:
        inconclusive(f"TLS policy unusable: {e}")
    try:
        obs, raw = observations.tls(unit, port)
    except TlsUnavailable as e:
        findings.inconclusive(f"{label}: {e}", target=label, rule="tls.scan")
        return
    sslyze = evidence.write_text(f"{prefix}sslyze.json", raw)
    violations = evaluate(obs, policy, profile.communication.tls_server_names)
    verdict = evidence.write_json(f"{prefix}tls-verdict.json", {
        "endpoint": label, "policy": policy.ref(), "policy_source": policy.source,
        "observation": obs.summary(), "violations": [v.as_dict() for v in violations],
    })
    files = [sslyze, verdict]
    for v in violations:
        findings.fail(f"{label} breaks TLS policy {policy.ref()}: {v.line()}", target=label, rule=v.rule,
                      policy=policy.ref(), fix=FIX, evidence=files)
    if obs.incomplete:
        findings.inconclusive(f"{label}: sslyze could not complete: {'; '.join(obs.incomplete)}", target=label,
                              rule="tls.scan", evidence=files)
    if not violations and not obs.incomplete:
        findings.passed(f"{label} meets TLS policy {policy.ref()}", target=label, rule="tls.policy",
                        policy=policy.ref(), evidence=files)


@pytest.mark.requirements("S1.1-12", "5.5-1", "5.5-7", "5.8-1", "5.8-2", "8425-DP")
@pytest.mark.protocols("https", "mqtts", "tls")
def test_tls_configuration(endpoint, profile, observations, policies, evidence, findings):
    _judge(observations, policies, profile, evidence, findings, endpoint.unit, endpoint.port, endpoint.label)


@pytest.mark.requirements("S1.1-12", "5.5-1", "5.5-7", "5.8-1", "5.8-2", "8425-DP")
def test_tls_on_undeclared_ports(unit, profile, observations, policies, evidence, findings, device_state):
    ports = list(undeclared_ports(observations, unit, device_state, ("https", "tls", "mqtts"), " that speaks TLS"))
    findings.covers(*(undeclared_name("tcp", p) for p in ports))
    for port in ports:  # every port is judged; a FAIL on one is never hidden by trouble on another
        _judge(observations, policies, profile, evidence, findings, unit, port,
               f"{unit.name}:undeclared/{port}", f"port{port}-")
