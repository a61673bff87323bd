"""Wall-clock budgets for one case and for the whole run, enforced from outside the probes.

Every exchange already has its own deadline and byte cap; this is the outer bound that holds even
when a check makes many exchanges, or a library waits somewhere the probes do not reach. The
timer is the process's real-time interval timer: when it fires, the main thread (where pytest
runs the case) gets `CaseOverBudget` wherever it is waiting, the case ends INCONCLUSIVE naming
the budget, and what it had written stays in the evidence. Tear-down (putting a unit back on its
genuine image, restoring a password) is not cut short: only set-up and the check itself are timed.

`CaseOverBudget` derives from BaseException so that a check's own `except Exception` cannot
swallow it and carry on past its budget.
"""

from __future__ import annotations

import signal
import threading
import time


class CaseOverBudget(BaseException):
    """The case ran past its wall-clock budget (limits.case_budget_s) or the run's deadline."""


class Budgets:
    def __init__(self, case_s: float, run_s: float) -> None:
        self.case_s = case_s
        self.run_s = run_s
        self.started = time.monotonic()
        self._armed_for: str | None = None

    def run_left(self) -> float:
        return self.run_s - (time.monotonic() - self.started)

    @property
    def run_over(self) -> bool:
        return self.run_left() <= 0

    def arm(self) -> None:
        """Start the case's clock: the case budget, or what is left of the run's if less."""
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only; the exchanges' own deadlines still hold
        left = self.run_left()
        seconds, what = (self.case_s, f"its budget of {self.case_s:g} s (limits.case_budget_s)")
        if left < seconds:
            seconds, what = max(left, 0.01), f"the run's deadline ({self.run_s:g} s, limits.run_budget_s)"
        self._armed_for = what
        signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, seconds)

    def disarm(self) -> None:
        if threading.current_thread() is threading.main_thread() and self._armed_for is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._armed_for = None

    def _fire(self, signum: int, frame: object) -> None:
        what, self._armed_for = self._armed_for, None
        raise CaseOverBudget(f"the case ran past {what}; it was stopped there, and what it had observed "
                             "is in its evidence")
