"""Shared steps of the credential checks (not a test module): pick the protocol's login probe,
try the default-credential list on it, and write what happened as evidence."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.credentials import candidates, default_credentials
from harness.probes.login import LoginProbe, Unreachable
from harness.probes.registry import login_probe
from harness.profile import Service
from harness.verdict import inconclusive, not_applicable


def probe_for(guard, address: str, service: Service, profile, label: str) -> LoginProbe:
    probe = login_probe(guard, address, service, profile.limits.connect_timeout_s)
    if probe is None:
        not_applicable(f"{label}: the harness has no login probe for protocol {service.protocol}")
    return probe


def try_defaults(probe: LoginProbe, label: str, cap: int, parallel: int = 1) -> dict[str, Any]:
    """Fingerprint, then try matching vendor pairs and the generic ones, stopping after the batch
    in which a pair is accepted (one is proof enough, and fragile devices are spared the rest).
    Batches run `parallel` logins at once, within the unit's connection budget."""
    try:
        seen = probe.fingerprint()
        reason = probe.not_applicable()
    except Unreachable as e:
        inconclusive(f"{label}: {e}")
    if reason:
        not_applicable(f"{label}: {reason}")
    attempts, accepted, undecided_batches = [], None, 0
    todo = candidates(probe.protocol, seen, cap)
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for i in range(0, len(todo), max(1, parallel)):
            batch = todo[i : i + max(1, parallel)]
            outcomes = list(pool.map(lambda c: _one(probe, c), batch))
            attempts += [row for row, _ in outcomes]
            hits = [cred for (_, ok), cred in zip(outcomes, batch, strict=True) if ok]
            if hits:
                accepted = hits[0]
            if hits or any(row["outcome"].startswith("unreachable") for row, _ in outcomes):
                break
            undecided_batches = undecided_batches + 1 if all(row.get("accepted") is None for row, _ in outcomes) else 0
            if undecided_batches >= 2:
                break  # two whole batches without a verdict: more attempts will not decide
    return {
        "endpoint": label,
        "protocol": probe.protocol,
        "fingerprint": seen,
        "credential_list_version": default_credentials().version,
        "success_criterion": probe.criterion,
        "cap": cap,
        "tried": len(attempts),
        "password": "never recorded; the entry id names the pair in harness/data/default_credentials.yaml",
        "attempts": attempts,
        "accepted": None if accepted is None else {"entry": accepted.id, "username": accepted.username,
                                                   "source": accepted.source},
    }


def _one(probe: LoginProbe, cred) -> tuple[dict[str, Any], bool]:
    try:
        a = probe.attempt(cred.username, cred.password)
    except Unreachable as e:
        return {"entry": cred.id, "username": cred.username, "outcome": f"unreachable: {e}"}, False
    return ({"entry": cred.id, "username": cred.username, "accepted": a.accepted, "outcome": a.detail,
             "seconds": a.seconds}, bool(a.accepted))


def parallelism(profile) -> int:
    """Half the unit's connection budget: room for the other probes, never more than 4."""
    return max(1, min(4, profile.limits.max_connections_per_unit // 2))


def decided(result: dict[str, Any]) -> bool:
    return any(a.get("accepted") is not None for a in result["attempts"])
