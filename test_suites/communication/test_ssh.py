"""SSH algorithm audit: the server's own offer (its KEXINIT, an observation kept in the bundle)
against the SSH policy in force (JC-STAR S1.1-12; ETSI EN 303 645 5.5-1). A golden-device policy
(`iot-harness ssh-policy capture`) holds a product to exactly the offer of a known-good unit."""

import pytest

from harness.judgement.inventory import undeclared_ports
from harness.judgement.policies import PolicyError
from harness.judgement.ssh import evaluate
from harness.observation.discovered import undeclared_name
from harness.observation.probes.sshkex import SshOfferUnavailable
from harness.record.verdict import inconclusive

FIX = ("Offer only modern algorithms: curve25519/sntrup761 key exchange, ed25519 or rsa-sha2 host "
       "keys, chacha20-poly1305/AES-GCM/AES-CTR ciphers and SHA-2 (ETM) MACs.")


@pytest.mark.requirements("S1.1-12", "5.5-1", "5.5-7", "8425-DP")
@pytest.mark.protocols("ssh")
def test_ssh_algorithms(endpoint, observations, policies, evidence, findings):
    try:
        policy = policies.ssh()
    except PolicyError as e:
        inconclusive(f"SSH policy unusable: {e}")
    try:
        offer = observations.ssh_offer(endpoint.unit, endpoint.port)
    except SshOfferUnavailable as e:
        inconclusive(f"{endpoint.label}: {e}")
    violations = evaluate(offer, policy)
    files = [evidence.write_json("ssh-offer.json", offer.as_dict()), evidence.write_json("ssh-verdict.json", {
        "endpoint": endpoint.label, "policy": policy.ref(), "policy_mode": policy.mode,
        "policy_source": policy.source, "violations": [v.as_dict() for v in violations],
    })]
    for v in violations:
        findings.fail(f"{endpoint.label} ({offer.banner}) breaks SSH policy {policy.ref()}: {v.line()}",
                      rule=v.rule, policy=policy.ref(), fix=FIX, evidence=files)
    if not violations:
        findings.passed(f"{endpoint.label} offers only what SSH policy {policy.ref()} allows", rule="ssh.policy",
                        policy=policy.ref(), evidence=files)


@pytest.mark.requirements("S1.1-12", "5.5-1", "5.5-7", "8425-DP")
def test_ssh_on_undeclared_ports(unit, observations, policies, evidence, findings, device_state):
    """An SSH server nobody declared gets the same algorithm audit as a declared one."""

    ports = list(undeclared_ports(observations, unit, device_state, ("ssh",), " that speaks SSH"))
    try:
        policy = policies.ssh()
    except PolicyError as e:
        inconclusive(f"SSH policy unusable: {e}")
    findings.covers(*(undeclared_name("tcp", p) for p in ports))
    for port in ports:  # every port judged; trouble on one never hides a finding on another
        label = f"{unit.name}:undeclared/{port}"
        try:
            offer = observations.ssh_offer(unit, port)
        except SshOfferUnavailable as e:
            findings.inconclusive(f"{label}: {e}", target=label, rule="ssh.offer")
            continue
        violations = evaluate(offer, policy)
        files = [evidence.write_json(f"port{port}-ssh-offer.json", offer.as_dict()),
                 evidence.write_json(f"port{port}-ssh-verdict.json", {
                     "endpoint": label, "policy": policy.ref(), "violations": [v.as_dict() for v in violations]})]
        for v in violations:
            findings.fail(f"{label} ({offer.banner}) breaks SSH policy {policy.ref()}: {v.line()}", target=label,
                          rule=v.rule, policy=policy.ref(), fix=FIX, evidence=files)
        if not violations:
            findings.passed(f"{label} offers only what SSH policy {policy.ref()} allows", target=label,
                            rule="ssh.policy", policy=policy.ref(), evidence=files)
