"""Trying the default-credential list on one login service, gently.

Every pair is a login attempt of class `auth`. Attempts per account name are capped
(`limits.max_default_attempts_per_account`, below common lockout thresholds by default) so the
default-password check never locks the account the brute-force measurement needs; pairs left
untried for that cap are listed in the evidence and reported as an advisory, never hidden."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from harness.declaration.profile import Service
from harness.observation.credentials import candidates, default_credentials
from harness.observation.probes.login import LoginProbe, Unreachable
from harness.observation.protocols import login_probe
from harness.observation.scope import in_own_context
from harness.record.verdict import Inconclusive, NotApplicable, inconclusive, not_applicable


def probe_for(guard, address: str, service: Service, profile, label: str) -> LoginProbe:
    probe = login_probe(guard, address, service, profile.limits.connect_timeout_s)
    if probe is None:
        not_applicable(f"{label}: the harness has no login probe for protocol {service.protocol}")
    return probe


def per_account(todo: list, per_account_cap: int) -> tuple[list, list]:
    """The pairs to try, at most `per_account_cap` per user name in list order, and the rest."""
    kept, left, seen = [], [], {}
    for c in todo:
        seen[c.username] = seen.get(c.username, 0) + 1
        (kept if seen[c.username] <= per_account_cap else left).append(c)
    return kept, left


def try_defaults(probe: LoginProbe, label: str, cap: int, parallel: int = 1,
                 per_account_cap: int | None = None) -> dict[str, Any]:
    """Fingerprint, then try matching vendor pairs and the generic ones, every one within the caps,
    even after one is accepted: a manufacturer has to remove every shipped pair, so the report
    names all of them. `parallel` logins are in flight at once, within the unit's connection
    budget; an unreachable service, or a run of attempts without a readable outcome, ends the series."""
    try:
        seen = probe.fingerprint()
        reason = probe.not_applicable()
    except Unreachable as e:
        inconclusive(f"{label}: {e}")
    if reason:
        not_applicable(f"{label}: {reason}")
    todo, untried = per_account(candidates(probe.protocol, seen, cap), per_account_cap or cap)
    outcomes = _attempt_all(probe, todo, max(1, parallel))
    attempts = [row for row, _ in outcomes]
    accepted = [cred for (_, ok), cred in zip(outcomes, todo, strict=False) if ok]
    return {
        "endpoint": label,
        "protocol": probe.protocol,
        "fingerprint": seen,
        "credential_list_version": default_credentials().version,
        "success_criterion": probe.criterion,
        "cap": cap,
        "per_account_cap": per_account_cap or cap,
        "untried_for_lockout_safety": [c.id for c in untried],
        "tried": len(attempts),
        "password": "never recorded; the entry id names the pair in harness/data/default_credentials.yaml",
        "attempts": attempts,
        "accepted": _entry(accepted[0]) if accepted else None,  # the first, for a quick read
        "all_accepted": [_entry(c) for c in accepted],
    }


def default_series(guard, address: str, service: Service, profile, label: str) -> dict[str, Any]:
    """One service's whole default-credential series as an observation: what `try_defaults` saw,
    or, where it ended the case (not applicable, unreachable), that ending, so a series made in
    the background ends the case that reads it exactly as if the case had made it."""
    limits = profile.limits
    try:
        return try_defaults(probe_for(guard, address, service, profile, label), label,
                            limits.max_login_attempts_per_service, parallelism(profile),
                            limits.max_default_attempts_per_account)
    except (NotApplicable, Inconclusive) as e:
        return {"endpoint": label, "ended": e.verdict.value, "reason": e.reason}


def series_result(series: dict[str, Any]) -> dict[str, Any]:
    """The series' attempts, or the case's ending where the series ended it."""
    if "ended" in series:
        raise {cls.verdict.value: cls for cls in (NotApplicable, Inconclusive)}[series["ended"]](series["reason"])
    return series


def _attempt_all(probe: LoginProbe, todo: list, parallel: int) -> list[tuple[dict[str, Any], bool]]:
    """Each pair once, `parallel` in flight at a time (a new one starts as soon as one ends, so
    the device's per-failure delay is waited out `parallel` times over, not once per batch), in
    list order in the result. No new pair starts once the service proved unreachable, or after
    2 x `parallel` attempts in a row without a readable outcome: more would not decide."""
    done: dict[int, tuple[dict[str, Any], bool]] = {}
    pending: dict[Future, int] = {}
    following, undecided, stop = iter(enumerate(todo)), 0, False
    one = in_own_context(lambda c: _one(probe, c))
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        while True:
            while not stop and len(pending) < parallel and (nxt := next(following, None)) is not None:
                pending[pool.submit(one, nxt[1])] = nxt[0]
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in sorted(finished, key=pending.__getitem__):
                row, _accepted = done[pending.pop(f)] = f.result()
                if row["outcome"].startswith("unreachable"):
                    stop = True
                undecided = undecided + 1 if row.get("accepted") is None else 0
                stop = stop or undecided >= 2 * parallel
    return [done[i] for i in sorted(done)]


def _entry(cred) -> dict[str, str]:
    return {"entry": cred.id, "username": cred.username, "source": cred.source}


def _one(probe: LoginProbe, cred) -> tuple[dict[str, Any], bool]:
    try:
        a = probe.attempt(cred.username, cred.password)
    except Unreachable as e:
        return {"entry": cred.id, "username": cred.username, "outcome": f"unreachable: {e}"}, False
    return ({"entry": cred.id, "username": cred.username, "accepted": a.accepted, "outcome": a.detail,
             "seconds": a.seconds}, bool(a.accepted))


def parallelism(profile) -> int:
    """Logins at once: the unit's connection budget, never more than 4. The one guard's budget
    still holds it: a series running in the background leaves a slot for the case in front."""
    return max(1, min(4, profile.limits.max_connections_per_unit))


def decided(result: dict[str, Any]) -> bool:
    return any(a.get("accepted") is not None for a in result["attempts"])
