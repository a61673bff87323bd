"""Units of one model must not share secrets (JC-STAR S1.1-02, ETSI EN 303 645 5.1-2 and 5.4-4):
the password in force at installation, the SSH host keys and the TLS keys must differ from unit
to unit, and passwords must not follow a pattern an attacker can derive (serial number, MAC
address, a counter). One compromised unit must not open the whole product class."""

import re
from itertools import combinations, pairwise

import pytest

from harness.declaration.profile import Protocol
from harness.observation.probes.login import Unreachable
from harness.observation.probes.ssh import server_info
from harness.observation.probes.tlskey import tls_public_key
from harness.record.verdict import fail, inconclusive, not_evaluated


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def password_patterns(unit, password: str) -> list[str]:
    """Ways a per-unit password gives itself away."""
    found = []
    p = _norm(password)
    for what, value in (("serial number", unit.serial), ("MAC address", unit.mac)):
        v = _norm(value or "")
        if len(v) >= 4 and (v[-6:] in p or p in v):
            found.append(f"derived from the {what}")
    return found


def sequential(values: list[str]) -> bool:
    """Same text with consecutive numbers at the end: pass001, pass002…"""
    parts = [re.fullmatch(r"(.*?)(\d+)", v) for v in values]
    if not all(parts) or len({m.group(1) for m in parts}) != 1:
        return False
    nums = sorted(int(m.group(2)) for m in parts)
    return all(b - a == 1 for a, b in pairwise(nums))


@pytest.mark.requirements("S1.1-02", "LA-2", "5.1-1", "8425-IAC", "PSTI-1")
def test_unique_per_unit(profile, guard, evidence, findings):
    units = profile.units
    declared = str(profile.credentials.kind) if profile.credentials else None
    if declared == "shared-default":  # the manufacturer's own word: one password for the whole class
        what = profile.credentials.description or "no description"
        findings.fail(f"the profile declares credentials.kind shared-default ({what}): the password in force at "
                      "installation is the same on every unit", rule="credentials.declared_shared_default",
                      fix="Give every unit its own random password, or make the user set one at first use.")
    if len(units) < 2:
        evidence.write_json("uniqueness.json", {"declared_kind": declared, "units": [u.name for u in units]})
        if declared == "shared-default":
            return
        not_evaluated("uniqueness across units needs at least two units of the model in the profile; declare a "
                      "second unit to test it")
    shared, report = [], {"passwords": [], "ssh_host_keys": {}, "tls_keys": {}, "declared_kind": declared}
    timeout = profile.limits.connect_timeout_s

    # passwords: the secrets the declared service accounts use
    for secret in sorted({s.account.secret for s in profile.services if s.account and not s.account.uses_key}):
        values = {u.name: u.secrets[secret].reveal() for u in units if secret in u.secrets}
        same = [f"{a}={b}" for a, b in combinations(sorted(values), 2) if values[a] == values[b]]
        patterns = {u.name: password_patterns(u, values[u.name]) for u in units if u.name in values}
        seq = len(values) > 1 and sequential(list(values.values()))
        report["passwords"].append({"secret": secret, "identical_between": same, "patterns": patterns,
                                    "sequential": seq})
        if same:
            shared.append(f"units share the password of secret '{secret}' ({', '.join(same)})")
        for name, pats in patterns.items():
            shared += [f"{name}'s '{secret}' is {p}" for p in pats]
        if seq:
            shared.append(f"the '{secret}' passwords of the units differ only by a counter")

    # keys: what each unit presents on each SSH and TLS service
    for svc in profile.services:
        holders = [u for u in units if svc in profile.services_for(u)]
        keys = {}
        for u in holders:
            try:
                if svc.protocol is Protocol.SSH:
                    keys[u.name] = server_info(guard, u.address, svc.port, timeout).host_key_fingerprint
                elif svc.protocol in (Protocol.HTTPS, Protocol.MQTTS):
                    keys[u.name] = tls_public_key(guard, u.address, svc.port, timeout)["spki_sha256"]
            except Unreachable as e:
                inconclusive(f"{u.name}:{svc.name}/{svc.port}: {e}")
        if not keys:
            continue
        kind = "ssh_host_keys" if svc.protocol is Protocol.SSH else "tls_keys"
        report[kind][svc.name] = keys
        same_key = [f"{a}={b}" for a, b in combinations(sorted(keys), 2) if keys[a] == keys[b]]
        if same_key:
            what = "SSH host key" if kind == "ssh_host_keys" else "TLS private key"
            shared.append(f"units share the {what} of service '{svc.name}' ({', '.join(same_key)})")

    evidence.write_json("uniqueness.json", report)
    if shared:
        fail("secrets are shared across the product class: " + "; ".join(shared) + ". Generate passwords "
             "and keys per unit, at random, during manufacturing or first boot.")
