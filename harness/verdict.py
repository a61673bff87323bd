"""The one verdict model: per-case outcomes and how they add up to a requirement verdict.

A certification tool lives or dies by never turning "did not look" into "fine", so the
aggregation order is fixed here and nowhere else (DESIGN.md, "Verdict").
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import pytest


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"
    NOT_EVALUATED = "NOT_EVALUATED"


# Worst first: a requirement takes the first of these that any of its cases has.
_SEVERITY = (
    Verdict.FAIL,
    Verdict.ERROR,
    Verdict.INCONCLUSIVE,
    Verdict.NOT_EVALUATED,
    Verdict.PASS,
)

CASE_VERDICTS = frozenset(
    {Verdict.PASS, Verdict.FAIL, Verdict.NOT_APPLICABLE, Verdict.INCONCLUSIVE, Verdict.ERROR}
)


def aggregate(verdicts: Iterable[Verdict]) -> Verdict:
    """Combine case verdicts into one requirement verdict.

    NOT_APPLICABLE only wins when every case is not applicable; with no cases at all the
    requirement was not evaluated, which is never the same thing as passing.
    """
    seen = set(verdicts)
    if not seen:
        return Verdict.NOT_EVALUATED
    if seen == {Verdict.NOT_APPLICABLE}:
        return Verdict.NOT_APPLICABLE
    for v in _SEVERITY:
        if v in seen:
            return v
    raise AssertionError(f"unreachable: {seen}")


class _VerdictSkip(pytest.skip.Exception):
    """A pytest skip that carries a verdict, so pytest shows it as skipped while the
    harness records exactly what the test meant."""

    verdict: Verdict

    def __init__(self, reason: str) -> None:
        super().__init__(msg=reason, allow_module_level=False)
        self.reason = reason


class NotApplicable(_VerdictSkip):
    verdict = Verdict.NOT_APPLICABLE


class Inconclusive(_VerdictSkip):
    verdict = Verdict.INCONCLUSIVE


class Finding(AssertionError):
    """The device violates the requirement. Raised by `fail()`; a plain assert also FAILs."""


def not_applicable(reason: str) -> None:
    """End the case as NOT_APPLICABLE; the reason is reported to the assessor verbatim."""
    raise NotApplicable(reason)


def inconclusive(reason: str) -> None:
    """End the case as INCONCLUSIVE: it ran but could not decide, and says why."""
    raise Inconclusive(reason)


def fail(reason: str) -> None:
    """End the case as FAIL with a plain-language reason."""
    raise Finding(reason)
