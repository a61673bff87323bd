"""The interfaces a run found answering that the profile does not declare.

An attacker reaches an undeclared port as easily as a declared one, so the coverage matrix lists
each with the requirements that bear on it. Checks of undeclared ports name the interface they
judged with `undeclared_name`, which no declared service can take (the profile refuses names
starting with 'undeclared-').
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.declaration.profile import Authentication, Service
from harness.observation.protocols import LOGIN_PROTOCOLS, PROTOCOLS


@dataclass(frozen=True)
class DiscoveredInterface:
    """A port the unit answered on that the profile does not declare (from the run's scans), with
    what it was seen to speak (None: nothing recognised it)."""

    unit: str
    port: int
    transport: str  # "tcp" or "udp"
    protocol: str | None

    @property
    def name(self) -> str:
        """The name checks give it in `findings.covers` (the profile refuses service names that
        start with 'undeclared-', so it never meets a declared one)."""
        return undeclared_name(self.transport, self.port)

    def as_service(self) -> Service:
        """The interface as a service, for `bears_on`: a login protocol counts as a password login
        (nothing says otherwise), an unrecognised one as 'other'."""
        proto = self.protocol if self.protocol in PROTOCOLS else "other"
        auth = Authentication.PASSWORD if proto in LOGIN_PROTOCOLS else Authentication.NONE
        return Service(name=f"undeclared-{self.port}", port=self.port, transport=self.transport, protocol=proto,
                       purpose="not declared", authentication=auth)


def undeclared_name(transport: str, port: int) -> str:
    return f"undeclared-{transport}-{port}"
