"""One interface for logging in to a service, whatever its protocol.

The credential checks (default passwords, unauthenticated access, brute force, password change)
are written once against this interface; each protocol module supplies a `LoginProbe`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

F = TypeVar("F", bound=Callable)


class Unreachable(Exception):
    """No conversation with the service was possible (refused, silent, garbage, closed)."""


@dataclass
class Attempt:
    username: str
    accepted: bool | None  # None: the attempt ran but its outcome could not be read
    detail: str
    seconds: float


@dataclass
class Access:
    """Whether a service lets a client in without credentials, and what showed it."""

    refused: bool | None  # None: could not tell
    detail: str
    observations: list[dict] = field(default_factory=list)


class LoginProbe(Protocol):
    protocol: str
    criterion: str  # the success criterion, stated in the evidence
    probe_class: str  # what its attempts are: auth by default, brute or intrusive when made for that

    def fingerprint(self) -> dict[str, str]:
        """What the service shows before login (banner, realm, server, title, methods)."""
        ...

    def not_applicable(self) -> str | None:
        """Why password logins cannot happen on this service (e.g. SSH key-only), or None."""
        ...

    def anonymous_access(self) -> Access:
        """Whether a client gets in with no credentials at all. Web probes have none: a web
        service is judged on its whole surface by the web-access check (http_surface)."""
        ...

    def attempt(self, username: str, password: str) -> Attempt: ...


def declared_class(attempt: F) -> F:
    """A login attempt is a probe of class `auth` (default-credential logins) unless the probe was
    made for another job (`probe.probe_class = "brute"` for a brute-force measurement): the guard
    refuses it before any packet when the run has not allowed that class."""

    @functools.wraps(attempt)
    def wrapper(self, username: str, password: str):
        with self.guard.probe_class(getattr(self, "probe_class", "auth")):
            return attempt(self, username, password)

    return wrapper  # type: ignore[return-value]
