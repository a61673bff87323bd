"""Regression: a TLS scan that overruns its deadline keeps the unit's connection slots until
sslyze's threads really end; giving them back early let other probes pile onto a fragile device."""

import threading
import time

import pytest

from harness.observation.probes import tls
from harness.observation.scope import Scope, ScopeGuard


def test_slots_stay_held_while_sslyze_threads_still_run(monkeypatch):
    release = threading.Event()

    def slow_scan(*args, **kw):
        release.wait(10)
        raise RuntimeError("scan ended late")

    monkeypatch.setattr(tls, "_preflight", lambda *a, **k: None)
    monkeypatch.setattr(tls, "_scan", slow_scan)
    guard = ScopeGuard(Scope.build(["127.0.0.5"]), max_connections_per_unit=4)
    with pytest.raises(tls.TlsUnavailable, match="did not finish"):
        tls.scan(guard, "127.0.0.5", 4443, deadline_s=0.2)
    budget = guard._budget(guard.scope.check("127.0.0.5"))
    assert budget.free == 3  # the scan's slot (the one a case always finds free) still held while it runs
    release.set()
    for _ in range(100):
        if budget.free == 4:
            break
        time.sleep(0.05)
    assert budget.free == 4  # and given back once it ended
