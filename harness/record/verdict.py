"""The one verdict model: outcomes of findings and cases, and how they add up.

A certification tool lives or dies by never turning "did not look" into "fine", so the
aggregation order is fixed here and nowhere else (DESIGN.md, "Judgement"). Kept free of pytest:
the same rules serve a live run, a re-judgement and the reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"
    NOT_EVALUATED = "NOT_EVALUATED"
    ADVISORY = "ADVISORY"


# Worst first: an aggregate takes the first of these that any part has. ADVISORY ranks above
# PASS so that a requirement with an advisory shows it, but it never blocks (see exit_code).
SEVERITY: tuple[Verdict, ...] = (
    Verdict.FAIL,
    Verdict.ERROR,
    Verdict.INCONCLUSIVE,
    Verdict.NOT_EVALUATED,
    Verdict.ADVISORY,
    Verdict.PASS,
)

# What a requirement may be and still let a run exit 0.
ACCEPTABLE = frozenset({Verdict.PASS, Verdict.NOT_APPLICABLE, Verdict.ADVISORY})


def aggregate(verdicts: Iterable[Verdict]) -> Verdict:
    """Combine finding or case verdicts into one.

    NOT_APPLICABLE only wins when every part is not applicable; with no parts at all nothing was
    evaluated, which is never the same thing as passing. No part is ever dropped: the worst wins.
    """
    seen = {Verdict(v) for v in verdicts}
    if not seen:
        return Verdict.NOT_EVALUATED
    if seen == {Verdict.NOT_APPLICABLE}:
        return Verdict.NOT_APPLICABLE
    for v in SEVERITY:
        if v in seen:
            return v
    raise AssertionError(f"unreachable: {seen}")


class CaseEnded(Exception):
    """A check stops here with one last finding. Raised by `fail()`, `inconclusive()`,
    `not_applicable()` and `advisory()`; the run turns it into a finding of the case, next to
    any the check recorded before."""

    verdict: Verdict = Verdict.ERROR

    def __init__(self, reason: str, *, rule: str | None = None, target: str | None = None,
                 fix: str | None = None, policy: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rule = rule
        self.target = target
        self.fix = fix
        self.policy = policy


class Failed(CaseEnded):
    verdict = Verdict.FAIL


class NotApplicable(CaseEnded):
    verdict = Verdict.NOT_APPLICABLE


class Inconclusive(CaseEnded):
    verdict = Verdict.INCONCLUSIVE


class Advisory(CaseEnded):
    verdict = Verdict.ADVISORY


class NotEvaluated(CaseEnded):
    verdict = Verdict.NOT_EVALUATED


def fail(reason: str, **where: str | None) -> None:
    """End the check with a FAIL finding: the device violates the requirement."""
    raise Failed(reason, **where)


def inconclusive(reason: str, **where: str | None) -> None:
    """End the check with an INCONCLUSIVE finding: it ran but could not decide, and says why."""
    raise Inconclusive(reason, **where)


def not_applicable(reason: str, **where: str | None) -> None:
    """End the check as NOT_APPLICABLE: the requirement's condition is truly absent."""
    raise NotApplicable(reason, **where)


def not_evaluated(reason: str, **where: str | None) -> None:
    """End the check as NOT_EVALUATED: the requirement applies, but an input the check needs is
    missing; the reason names it. It makes the assessment incomplete (exit 3), never a PASS."""
    raise NotEvaluated(reason, **where)


def advisory(reason: str, **where: str | None) -> None:
    """End the check with an advisory: worth the manufacturer's attention, not a violation."""
    raise Advisory(reason, **where)
