"""Which undeclared ports a unit-level check judges: one place for the rule every such check
follows (the scan must have completed, and "none there" is the only reason for NOT_APPLICABLE)."""

from __future__ import annotations

from collections.abc import Iterable

from harness.declaration.profile import Authentication, Service
from harness.observation.probes.portscan import ScanUnavailable
from harness.record.verdict import inconclusive, not_applicable


def undeclared_ports(observations, unit, state: str | None, speaking: Iterable[str] | None,
                     what: str) -> dict[int, str | None]:
    """Open TCP ports the profile does not declare (in `state`), with what each speaks, keeping
    those speaking one of `speaking` (all, when None). Ends the case INCONCLUSIVE when the scan
    did not complete, NOT_APPLICABLE (naming `what`) when no such port is open."""
    wanted = None if speaking is None else set(speaking)
    try:
        ports = observations.protocols(unit, state)
    except ScanUnavailable as e:
        inconclusive(f"the TCP port scan of {unit.address} did not complete: {e}")
    found = {p: proto for p, (proto, declared) in sorted(ports.items())
             if not declared and (wanted is None or proto in wanted)}
    if not found:
        not_applicable(f"{unit.name} has no undeclared open TCP port{what}")
    return found


def as_service(unit, port: int, protocol: str) -> tuple[Service, str]:
    """An undeclared port seen speaking a login protocol, as the service a login probe expects
    (password authentication assumed: nothing says otherwise), and its label in findings."""
    svc = Service(name=f"undeclared-{port}", port=port, protocol=protocol, purpose="not declared",
                  authentication=Authentication.PASSWORD)
    return svc, f"{unit.name}:{svc.name}/{port}"
