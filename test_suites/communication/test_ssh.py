"""SSH algorithm audit: the server's own offer (its KEXINIT) against the profile's SSH policy
(JC-STAR S1.1-12; ETSI EN 303 645 5.5-1). A golden-device policy (`iot-harness ssh-policy
capture`) holds a product to exactly the offer of a known-good unit."""

import pytest

from harness.policies import PolicyError, load_ssh_policy
from harness.probes.sshkex import SshOfferUnavailable, read_offer
from harness.sshaudit import evaluate
from harness.verdict import fail, inconclusive

FIX = ("Offer only modern algorithms: curve25519/sntrup761 key exchange, ed25519 or rsa-sha2 host "
       "keys, chacha20-poly1305/AES-GCM/AES-CTR ciphers and SHA-2 (ETM) MACs.")


@pytest.mark.requirements("S1.1-12")
@pytest.mark.protocols("ssh")
def test_ssh_algorithms(endpoint, profile, guard, evidence):
    try:
        policy = load_ssh_policy(profile.communication.ssh_policy)
    except PolicyError as e:
        inconclusive(f"SSH policy unusable: {e}")
    try:
        offer = read_offer(guard, endpoint.address, endpoint.port, profile.limits.connect_timeout_s)
    except SshOfferUnavailable as e:
        inconclusive(f"{endpoint.label}: {e}")
    violations = evaluate(offer, policy)
    evidence.write_json("ssh-offer.json", offer.as_dict())
    evidence.write_json("ssh-verdict.json", {
        "endpoint": endpoint.label, "policy": policy.ref(), "policy_mode": policy.mode,
        "policy_source": policy.source, "violations": [v.as_dict() for v in violations],
    })
    if violations:
        fail(f"{endpoint.label} ({offer.banner}) breaks SSH policy {policy.ref()} ({len(violations)} "
             "algorithm(s)): " + "; ".join(v.line() for v in violations) + f". {FIX}")
