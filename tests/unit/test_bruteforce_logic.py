"""The brute-force measurement against simulated devices: fast, exact, no network."""

from harness.judgement.bruteforce import BruteForceRule, measure
from harness.observation.probes.login import Attempt, Unreachable

RULE = BruteForceRule(max_guesses_per_day=28800, min_wrong_attempts=5, max_consecutive_failures=5,
                      poll_interval_s=3)
RIGHT = "correct horse"


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def device(clock, lock_after=None, unlock_s=20.0, wrong_cost=0.5, refuse_when_locked="reject"):
    """A login endpoint: optional lockout after N consecutive failures, reset on success."""
    state = {"fails": 0, "locked_until": None}

    def attempt(user, password):
        clock.t += wrong_cost if password != RIGHT else 0.05
        locked = state["locked_until"] is not None and clock.t < state["locked_until"]
        if locked:
            if refuse_when_locked == "drop":
                raise Unreachable("connection refused")
            return Attempt(user, False, "rejected", 0)
        state["locked_until"] = None
        if password == RIGHT:
            state["fails"] = 0
            return Attempt(user, True, "ok", 0)
        state["fails"] += 1
        if lock_after and state["fails"] >= lock_after:
            state["locked_until"] = clock.t + unlock_s
        return Attempt(user, False, "rejected", 0)

    return attempt


def run(attempt, clock, **kw):
    args = {"max_attempts": 40, "max_seconds": 600, "recovery_wait_s": 90, **kw}
    return measure(attempt, "u", RIGHT, RULE, clock=clock, sleep=clock.sleep, **args)


def test_no_throttling_fails_with_the_measured_rate():
    c = Clock()
    m = run(device(c), c)
    assert m.verdict == "FAIL" and m.lockout_threshold is None
    assert m.wrong_attempt_seconds == 0.5 and m.guesses_per_day == 172800
    assert m.consecutive_failures_tested == 5
    assert len(m.rows) == 1 + sum(k + 1 for k in range(1, 6))


def test_lockout_found_with_threshold_recovery_and_refused_legit_user():
    c = Clock()
    m = run(device(c, lock_after=3, unlock_s=20), c)
    assert m.verdict == "PASS", m.reason
    assert m.lockout_threshold == 3 and m.legit_refused_during_lockout
    assert 19 <= m.recovery_s <= 24
    assert m.guesses_per_day < RULE.max_guesses_per_day
    assert "locks the account after 3 failed logins" in m.reason


def test_short_lockout_still_fails_the_rate_rule():
    c = Clock()
    m = run(device(c, lock_after=5, unlock_s=2, wrong_cost=0.2), c)
    assert m.lockout_threshold == 5 and m.verdict == "FAIL"


def test_dropped_connections_count_as_throttling():
    c = Clock()
    m = run(device(c, lock_after=2, unlock_s=30, refuse_when_locked="drop"), c)
    assert m.lockout_threshold == 2 and m.recovery_s is not None and m.verdict == "PASS"
    assert any(r.outcome == "unreachable" for r in m.rows)
    # refused connections are only a lockout once the same round brings them back
    assert m.lockout_repeated and [r.phase for r in m.rows].count("round 2 again") == 3
    assert "blocks the client's address" in m.reason, m.reason
    assert m.rows[-1].outcome == "accepted", "the account is left unlocked, as it was found"


def restarting(clock, down_from: float, down_for: float, **kw):
    """`device`, whose service is gone (connections refused) for a while: a daemon restart."""
    inner = device(clock, **kw)

    def attempt(user, password):
        if down_from <= clock.t < down_from + down_for:
            clock.t += 0.01
            raise Unreachable("connection refused")
        return inner(user, password)

    return attempt


def test_a_restart_mid_measurement_is_never_read_as_a_lockout():
    """Without a lockout, a service that restarts right after the baseline answers the first right
    password with a refused connection and the recovery poll with a login: read as "locks after
    one failure for 4 s", that was a PASS. Repeating the round shows it was no lockout."""
    c = Clock()
    m = run(restarting(c, down_from=0.05, down_for=4), c)
    assert m.verdict == "INCONCLUSIVE" and "it did not lock out" in m.reason, m.reason
    assert m.lockout_threshold is None and m.guesses_per_day is None
    # the service gone during a wrong login, back for the right one straight after
    c = Clock()
    m = run(restarting(c, down_from=2.1, down_for=0.055), c)  # round 3: only its 2nd wrong login
    assert m.verdict == "INCONCLUSIVE" and "measured nothing" in m.reason, m.reason


def test_a_right_password_without_a_readable_answer_is_no_lockout():
    c = Clock()
    inner = device(c)
    calls = []

    def attempt(user, password):
        calls.append(password)
        if password == RIGHT and len(calls) > 3:
            return Attempt(user, None, "no verdict within 10s", 0)
        return inner(user, password)

    m = run(attempt, c)
    assert m.verdict == "INCONCLUSIVE" and "no readable answer" in m.reason and m.lockout_threshold is None


def test_a_lockout_seen_but_not_waited_out_is_inconclusive_not_a_fail():
    """The cap ends the measurement while the account is locked: the lockout is in the evidence,
    so the verdict must not fall into the "no lockout" branch."""
    c = Clock()
    m = run(device(c, lock_after=5, unlock_s=300), c, max_attempts=22)
    assert m.lockout_threshold == 5 and m.stopped_by == "attempt cap", m.summary()
    assert m.verdict == "INCONCLUSIVE" and "its attempt cap ended the measurement" in m.reason, m.reason
    assert "a lockout of at least 12 s would meet the limit" in m.reason, m.reason
    # one story: locked when it ended, for at least the time of the last refusal
    assert m.still_locked and m.summary()["still_locked_at_end"] and m.locked_for_at_least_s is not None


def test_a_lockout_longer_than_the_wait_passes_on_the_bound_it_proved():
    """Still locked when the recovery wait ends: recovery takes at least that long, which already
    keeps the guesses a day under the limit; the evidence says "still locked" and gives the bound."""
    c = Clock()
    m = run(device(c, lock_after=3, unlock_s=3600), c, recovery_wait_s=60)
    assert m.verdict == "PASS" and m.recovery_s is None and m.still_locked, m.reason
    assert m.locked_for_at_least_s >= 57 and m.guesses_per_day <= 3 * 86400 / 57
    # the last poll falls on the wait's end, not one poll interval past it (a wait no multiple of it)
    c = Clock()
    m = run(device(c, lock_after=3, unlock_s=3600), c, recovery_wait_s=16)
    assert m.still_locked and m.recovery_s is None and 16 - 0.05 <= m.locked_for_at_least_s <= 16, m.summary()
    assert f"still refused the right password {m.locked_for_at_least_s:g} s later" in m.reason
    # a wait too short to prove enough: INCONCLUSIVE with the value that would settle it, never FAIL
    c = Clock()
    m = run(device(c, lock_after=3, unlock_s=3600), c, recovery_wait_s=4)
    assert m.verdict == "INCONCLUSIVE" and "raise limits.lockout_recovery_wait_s" in m.reason, m.reason


def test_a_service_that_goes_away_for_good_is_no_lockout():
    c = Clock()
    m = run(restarting(c, down_from=2.1, down_for=10_000), c)
    assert m.verdict == "INCONCLUSIVE" and "cannot be told from a service that went down" in m.reason, m.reason
    assert m.lockout_threshold is None and not m.still_locked


def test_caps_are_never_exceeded():
    c = Clock()
    m = run(device(c), c, max_attempts=7)
    assert len(m.rows) == 7 and m.stopped_by == "attempt cap"
    c = Clock()
    m = run(device(c, lock_after=3, unlock_s=10_000), c, recovery_wait_s=30)
    assert m.still_locked and m.verdict == "PASS" and "at least" in m.reason, m.reason  # judged on the bound
    c = Clock()
    m = run(device(c, wrong_cost=30), c, max_seconds=100)
    assert m.stopped_by == "time cap" and m.verdict == "INCONCLUSIVE"


def test_wrong_password_accepted_or_account_broken():
    c = Clock()
    m = run(lambda u, p: Attempt(u, True, "ok", 0), c)
    assert m.verdict == "FAIL" and "does not check passwords" in m.reason
    c = Clock()
    m = run(lambda u, p: Attempt(u, False, "no", 0), c)
    assert m.verdict == "INCONCLUSIVE" and "does not log in" in m.reason
    assert len(m.rows) == 1


def test_csv_never_holds_a_password():
    c = Clock()
    text = run(device(c, lock_after=3), c).csv()
    assert RIGHT not in text and "wrong-" not in text
    assert text.splitlines()[0] == "attempt,phase,t_s,latency_s,password,outcome,detail"
