"""Judging an SSH server's algorithm offer against a policy, and writing golden-device policies.

Golden mode follows ssh-audit's `-M`: capture the offer of a unit known to be good, then hold
every later build to exactly that offer, so a manufacturer's CI notices when a firmware change
quietly re-enables an algorithm (or drops one).
"""

from __future__ import annotations

import datetime as dt

import yaml

from harness.judgement.policies import SshPolicy, Violation
from harness.observation.probes.sshkex import SshOffer

CATEGORY_NAMES = {"kex": "key exchange", "host_key": "host key", "cipher": "cipher", "mac": "MAC"}


def evaluate(offer: SshOffer, policy: SshPolicy) -> list[Violation]:
    violations: list[Violation] = []
    pseudo = set(policy.pseudo_algorithms)
    allowed = policy.allowed.model_dump()
    for category, offered in offer.by_category().items():
        ok = set(allowed[category])
        what = CATEGORY_NAMES[category]
        for name in offered:
            if name in pseudo or name in ok:
                continue
            if name in policy.forbidden:
                f = policy.forbidden[name]
                violations.append(Violation(f"ssh.{category}.{name}", f"{what} {name} offered: {f.reason}", f.source))
            else:
                verb = "is not in the golden offer" if policy.mode == "exact" else "is not on the policy's allow-list"
                violations.append(
                    Violation(f"ssh.{category}.{name}", f"{what} {name} offered; it {verb}", policy.allowed.source)
                )
        if policy.mode == "exact":
            for name in sorted(ok - set(offered)):
                violations.append(
                    Violation(
                        f"ssh.{category}.{name}.missing",
                        f"{what} {name} is in the golden offer but no longer offered",
                        policy.allowed.source,
                    )
                )
    return violations


def golden_policy(offer: SshOffer, policy_id: str, captured_from: str) -> str:
    """A policy (YAML text) that accepts exactly this offer: for a known-good unit."""
    today = dt.date.today().isoformat()
    pseudo = [
        "ext-info-s", "ext-info-c", "kex-strict-s-v00@openssh.com", "kex-strict-c-v00@openssh.com",
        "kexguess2@matt.ucc.asn.au",
    ]
    allowed = {k: [a for a in v if a not in pseudo] for k, v in offer.by_category().items()}
    data = {
        "id": policy_id,
        "version": today,
        "title": f"golden SSH offer captured from {captured_from}",
        "source": f"golden device {captured_from} ({offer.banner}), captured {today}",
        "mode": "exact",
        "allowed": {**allowed, "source": f"golden offer of {captured_from}, captured {today}"},
        "pseudo_algorithms": pseudo,
    }
    header = (
        "# Golden-device SSH policy written by `iot-harness ssh-policy capture`. Point a profile's\n"
        "# communication.ssh_policy at this file to hold later builds to exactly this offer.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, width=120)
