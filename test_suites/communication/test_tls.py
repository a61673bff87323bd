"""TLS on every declared and discovered TLS port, judged against the profile's TLS policy
(JC-STAR S1.1-12: TLS 1.2/1.3 with algorithms from the CRYPTREC list; ETSI EN 303 645 5.5-1).

sslyze does the scanning; each violated rule becomes one line naming the rule and the clause of
the policy's source document. sslyze's own JSON is kept as the raw evidence.
"""

import pytest

from harness.policies import PolicyError, load_tls_policy
from harness.probes.tls import TlsUnavailable, scan
from harness.tlsaudit import evaluate
from harness.verdict import fail, inconclusive, not_applicable
from test_suites.exposure.observe import tcp_protocols

FIX = ("Enable only TLS 1.2 and 1.3 with forward-secret AEAD suites, and use a certificate with a "
       "2048-bit RSA or P-256 key, signed with SHA-256, issued for the device's address, within its "
       "validity period, chaining to the declared trust anchor.")


def _policy(profile):
    try:
        return load_tls_policy(profile.communication.tls_policy)
    except PolicyError as e:
        inconclusive(f"TLS policy unusable: {e}")


def _judge(guard, profile, evidence, address, port, label, prefix=""):
    policy = _policy(profile)
    comm = profile.communication
    try:
        obs, raw = scan(guard, address, port, comm.trust_anchor, timeout=profile.limits.connect_timeout_s)
    except TlsUnavailable as e:
        inconclusive(f"{label}: {e}")
    evidence.write_text(f"{prefix}sslyze.json", raw)
    violations = evaluate(obs, policy, comm.tls_server_names)
    evidence.write_json(f"{prefix}tls-verdict.json", {
        "endpoint": label, "policy": policy.ref(), "policy_source": policy.source,
        "observation": obs.summary(), "violations": [v.as_dict() for v in violations],
    })
    if violations:
        fail(f"{label} breaks TLS policy {policy.ref()} ({len(violations)} rule(s)): "
             + "; ".join(v.line() for v in violations) + f". {FIX}")
    if obs.incomplete:
        inconclusive(f"{label}: no violation found, but sslyze could not complete: {'; '.join(obs.incomplete)}")


@pytest.mark.requirements("S1.1-12")
@pytest.mark.protocols("https", "mqtts", "tls")
def test_tls_configuration(endpoint, profile, guard, evidence):
    _judge(guard, profile, evidence, endpoint.address, endpoint.port, endpoint.label)


@pytest.mark.requirements("S1.1-12")
def test_tls_on_undeclared_ports(unit, profile, guard, evidence, run_cache, device_state):
    ports = [p for p, (proto, declared) in tcp_protocols(run_cache, guard, profile, unit, device_state).items()
             if not declared and proto in ("https", "tls")]
    if not ports:
        not_applicable(f"{unit.name} has no undeclared open port that speaks TLS")
    problems = []
    for port in ports:
        try:
            _judge(guard, profile, evidence, unit.address, port, f"{unit.name}:undeclared/{port}", f"port{port}-")
        except AssertionError as e:  # a finding on one port; the others are still judged
            problems.append(str(e))
    if problems:
        fail(" | ".join(problems))
