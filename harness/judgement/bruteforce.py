"""Brute-force resistance, measured: how many password guesses a day an attacker gets.

No open tool measures this (nuclei even misses valid passwords once a device locks out), so the
method is the project's own, kept free of any protocol so it can be tested against a simulated
device:

1. The declared valid login must work first (otherwise nothing can be concluded).
2. For m = 1, 2, …: send m wrong passwords in a row, then the right one. The first m after which
   the right password is refused is the lockout threshold; the legitimate user being refused is
   itself recorded. A success in between resets most lockout counters, which is why each round
   starts again from one failure.
3. Once locked, the right password is retried every few seconds until it works: the recovery
   time. Waits are bounded; a device still locked at the bound is reported, not waited on.
4. Guesses per day follow from the measured timings: with a lockout, k guesses per
   (recovery + k attempts); without one, the sustained rate of the wrong attempts.

Every login counts against one cap, and the whole measurement against a duration cap; the time
series is returned for the evidence CSV.
"""

from __future__ import annotations

import csv
import io
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.observation.probes.login import Attempt, Unreachable

SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class BruteForceRule:
    """The verdict rule, read from the catalog entry of the requirement (never from code)."""

    max_guesses_per_day: float
    min_wrong_attempts: int
    max_consecutive_failures: int
    poll_interval_s: float


@dataclass
class Row:
    n: int
    phase: str
    t_s: float
    latency_s: float
    password: str  # "wrong" or "right", never the password itself
    outcome: str  # accepted, rejected, unknown, unreachable
    detail: str


@dataclass
class Measurement:
    rows: list[Row] = field(default_factory=list)
    lockout_threshold: int | None = None
    legit_refused_during_lockout: bool = False
    recovery_s: float | None = None
    still_locked: bool = False
    wrong_attempt_seconds: float | None = None
    guesses_per_day: float | None = None
    growing_delay: bool = False
    consecutive_failures_tested: int = 0
    stopped_by: str | None = None  # "attempt cap" / "time cap" when a cap ended the measurement
    locked_for_at_least_s: float | None = None  # the last refusal of the right password, from the lock
    lost_contact: str | None = None  # why the measurement could not go on: the service was not there
    lockout_repeated: bool = False  # a lockout seen as refused connections, proven by locking it again
    verdict: str = "INCONCLUSIVE"
    reason: str = ""

    def csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["attempt", "phase", "t_s", "latency_s", "password", "outcome", "detail"])
        for r in self.rows:
            w.writerow([r.n, r.phase, f"{r.t_s:.3f}", f"{r.latency_s:.3f}", r.password, r.outcome, r.detail])
        return out.getvalue()

    def summary(self) -> dict:
        wrong = sum(1 for r in self.rows if r.password == "wrong")
        return {
            "attempts": len(self.rows),
            "wrong_attempts": wrong,
            "lockout_threshold": self.lockout_threshold,
            "legit_login_refused_during_lockout": self.legit_refused_during_lockout,
            "recovery_seconds": self.recovery_s,
            "locked_for_at_least_seconds": self.locked_for_at_least_s,
            "still_locked_at_end": self.still_locked,
            "seconds_per_wrong_attempt": self.wrong_attempt_seconds,
            "growing_delay": self.growing_delay,
            "consecutive_failures_tested": self.consecutive_failures_tested,
            "estimated_guesses_per_day": self.guesses_per_day,
            "stopped_by": self.stopped_by,
            "lost_contact": self.lost_contact,
            "lockout_repeated": self.lockout_repeated,
            "verdict": self.verdict,
            "reason": self.reason,
        }


def needed_attempts(rule: BruteForceRule, recovery_wait_s: float) -> int:
    """The logins a full measurement may need: the baseline, rounds of 1..N wrong passwords each
    followed by the right one, the recovery polls, and for refused connections the repeated
    round with its own wait. A smaller cap can stop a measurement half-way through a lockout."""
    n = rule.max_consecutive_failures
    polls = math.ceil(recovery_wait_s / rule.poll_interval_s)
    return 1 + sum(k + 1 for k in range(1, n + 1)) + polls + (n + 1) + polls


class _CapReached(Exception):
    pass


def measure(
    attempt: Callable[[str, str], Attempt],
    username: str,
    right_password: str,
    rule: BruteForceRule,
    max_attempts: int,
    max_seconds: float,
    recovery_wait_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Measurement:
    m = Measurement()
    t0 = clock()

    def login(phase: str, right: bool) -> str:
        if len(m.rows) >= max_attempts:
            m.stopped_by = "attempt cap"
            raise _CapReached
        if clock() - t0 > max_seconds:
            m.stopped_by = "time cap"
            raise _CapReached
        password = right_password if right else "wrong-" + secrets.token_hex(6)
        start = clock()
        try:
            a = attempt(username, password)
            outcome = {True: "accepted", False: "rejected", None: "unknown"}[a.accepted]
            detail = a.detail
        except Unreachable as e:
            outcome, detail = "unreachable", str(e)
        m.rows.append(Row(len(m.rows) + 1, phase, start - t0, clock() - start,
                          "right" if right else "wrong", outcome, detail[:160]))
        return outcome

    def recover(locked_at: float, measured: bool = True) -> bool:
        """Poll with the right password until it is accepted again; False when the wait ran out.
        No poll starts after the wait, so a proven bound never exceeds the wait the operator set.
        `measured=False` only waits (leaving the account as it was found), recording nothing."""
        while True:
            left = recovery_wait_s - (clock() - t0 - locked_at)
            if left <= 0:
                m.still_locked = m.still_locked or measured
                return False
            sleep(min(rule.poll_interval_s, left))  # the last poll falls on the wait's end, never past it
            outcome = login("recovery", True)
            if outcome == "accepted":
                if measured:
                    m.recovery_s = round(m.rows[-1].t_s - locked_at, 2)
                return True
            if measured and outcome == "rejected":  # still locked then: a proven lower bound
                m.locked_for_at_least_s = round(m.rows[-1].t_s - locked_at, 2)

    def round_(k: int, phase: str) -> tuple[str, bool]:
        """k wrong passwords, then the right one: its outcome, and whether a wrong one went unanswered."""
        gaps = [login(phase, False) == "unreachable" for _ in range(k)]
        return login(phase, True), any(gaps)

    pending = ""  # set while refused connections are neither a lockout nor a fault yet
    try:
        if login("baseline", True) != "accepted":
            m.reason = "the declared test account does not log in before the test, so nothing can be concluded"
            return m
        for k in range(1, rule.max_consecutive_failures + 1):
            outcome, gap = round_(k, f"round {k}")
            if outcome == "accepted":
                if gap:  # a ban or lockout would have held for the right password too
                    m.lost_contact = (f"in round {k} the service did not answer a wrong login but accepted the "
                                      "right one straight after: it restarted or the network failed, so that round "
                                      "measured nothing")
                    break
                m.consecutive_failures_tested = k
                continue
            if outcome == "unknown":
                m.lost_contact = (f"after {_failed(k)} the right password got no readable answer "
                                  f"({m.rows[-1].detail}); a lockout cannot be told from a broken exchange")
                break
            locked_at = m.rows[-2].t_s + m.rows[-2].latency_s  # end of the k-th wrong attempt
            if outcome == "rejected":
                m.lockout_threshold = k
                m.legit_refused_during_lockout = True
                m.locked_for_at_least_s = round(m.rows[-1].t_s - locked_at, 2)
                recover(locked_at)
                break
            # unreachable: an address block looks like a service that went away (a restart, a fault);
            # only the same round locking the service out again tells them apart
            pending = f"the service stopped answering after {_failed(k)}"
            if not recover(locked_at):
                m.still_locked = False
                m.lost_contact = (f"{pending} and did not answer again within the recovery wait "
                                  f"({recovery_wait_s:g} s): an address block cannot be told from a service that "
                                  "went down")
                break
            again, _ = round_(k, f"round {k} again")
            if again in ("accepted", "unknown"):
                m.recovery_s = None
                m.lost_contact = (f"{pending}, but not when the same round was repeated: it restarted or the "
                                  "network failed, it did not lock out" if again == "accepted" else
                                  f"{pending}, and when the round was repeated the right password got no readable "
                                  "answer: a lockout cannot be told from a broken exchange")
                break
            pending = ""
            m.lockout_threshold, m.legit_refused_during_lockout, m.lockout_repeated = k, True, True
            recover(m.rows[-2].t_s + m.rows[-2].latency_s, measured=False)  # leave the account as it was found
            break
    except _CapReached:
        if pending:
            m.recovery_s = None
            m.lost_contact = f"{pending}, and the {m.stopped_by} came before it was clear whether that was a lockout"
        elif m.lockout_threshold is not None and m.recovery_s is None:
            m.still_locked = True  # the cap ended the measurement during the lockout
    _judge(m, rule)
    return m


def _judge_on_bound(m: Measurement, rule: BruteForceRule, per_attempt: float) -> None:
    """The account was still locked when the measurement ended (a cap, or the recovery wait):
    the recovery time is unknown, but at least the time of the last refusal. That bound caps the
    guesses a day from above; it decides the rule when it is already low enough, and otherwise
    says how long the wait would have to run. A cap is never evidence of "no lockout"."""
    k, bound_s = m.lockout_threshold or 1, m.locked_for_at_least_s or 0.0
    why = f"its {m.stopped_by}" if m.stopped_by else "the recovery wait"
    most = round(k * SECONDS_PER_DAY / (bound_s + k * per_attempt))
    if most <= rule.max_guesses_per_day:
        m.guesses_per_day, m.verdict = most, "PASS"
        m.reason = (f"the service {_locks(m)} after {_failed(k)} and still refused the right password "
                    f"{bound_s:g} s later, when {why} ended the measurement: recovery takes at least that long, so "
                    f"an attacker gets at most {most:,} guesses a day per account (within the limit of "
                    f"{rule.max_guesses_per_day:,.0f})")
        return
    needed = k * SECONDS_PER_DAY / rule.max_guesses_per_day - k * per_attempt
    m.reason = (f"the account locked after {_failed(k)} (the right password refused) and was still locked "
                f"{bound_s:g} s later, when {why} ended the measurement; a lockout of at least {needed:.0f} s would "
                f"meet the limit, so the measurement must watch it that long: raise limits.lockout_recovery_wait_s, "
                f"limits.brute_force_max_seconds and limits.brute_force_max_attempts (about "
                f"{int(needed // rule.poll_interval_s) + 2} more logins)")


def _locks(m: Measurement) -> str:
    """An account lockout refuses the password; an address block refuses the connection (told
    apart by the outcome of the right password, repeated for a block)."""
    if m.lockout_repeated:
        return "blocks the client's address (refuses its connections)"
    return "locks the account"


def _failed(k: int) -> str:
    return "1 failed login" if k == 1 else f"{k} failed logins"


def _judge(m: Measurement, rule: BruteForceRule) -> None:
    wrong = [r for r in m.rows if r.password == "wrong" and r.outcome in ("rejected", "unreachable")]
    if wrong:
        m.wrong_attempt_seconds = round(sum(r.latency_s for r in wrong) / len(wrong), 3)
        first, last = wrong[0].latency_s, wrong[-1].latency_s
        m.growing_delay = len(wrong) >= 3 and last > 2 * max(first, 0.05)
    if any(r.password == "wrong" and r.outcome == "accepted" for r in m.rows):
        m.reason = "a random wrong password was accepted: the service does not check passwords at all"
        m.verdict = "FAIL"
        return
    if m.lost_contact:
        m.reason = f"{m.lost_contact}; run the measurement again"
        return
    if len(wrong) < rule.min_wrong_attempts and m.lockout_threshold is None:
        stop = f" ({m.stopped_by})" if m.stopped_by else ""
        m.reason = f"only {len(wrong)} wrong logins could be made{stop}; the rule needs {rule.min_wrong_attempts}"
        return
    per_attempt = m.wrong_attempt_seconds or 0.001
    if m.lockout_threshold is not None and m.recovery_s is None:
        _judge_on_bound(m, rule, per_attempt)
        return
    if m.lockout_threshold is not None and m.recovery_s is not None:
        k = m.lockout_threshold
        m.guesses_per_day = round(k * SECONDS_PER_DAY / (m.recovery_s + k * per_attempt))
        how = f"{_locks(m)} after {_failed(k)} for about {m.recovery_s:g} s"
    else:
        m.guesses_per_day = round(SECONDS_PER_DAY / per_attempt)
        how = (f"did not lock the account after {m.consecutive_failures_tested} consecutive failed logins; "
               f"a wrong password costs {per_attempt:g} s")
    within = m.guesses_per_day <= rule.max_guesses_per_day
    m.verdict = "PASS" if within else "FAIL"
    m.reason = (f"the service {how}, so an attacker gets about {m.guesses_per_day:,} guesses a day per account "
                f"({'within' if within else 'above'} the limit of {rule.max_guesses_per_day:,.0f})")
