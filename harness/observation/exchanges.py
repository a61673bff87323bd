"""How long every exchange with a device took against its deadline.

A lab that signs a report has to be able to say that no probe waited on a device for longer
than it was allowed to, and by how much the slowest came close; "the run ended" is not that.
The scope guard times each bounded connection, and the two probes that hand the wait to another
program (sslyze's scan, nmap's run) time theirs, all into one ledger. It keeps running totals
and the few exchanges that came closest to (or past) their deadlines, not every exchange: a
brute-force measurement makes thousands, and the ledger lives for the whole run.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from harness.record.exchanges import LATE_S, ExchangeSummary, TimedExchange

KEPT = 10  # the exchanges kept by name: those that used the largest share of their deadline


class ExchangeLedger:
    """Thread-safe: probes run on several threads at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._summary = ExchangeSummary()
        self._closest: list[tuple[float, int, TimedExchange]] = []  # a min-heap on the share of deadline used

    @contextmanager
    def timed(self, address: str, port: int | None, kind: str, deadline_s: float,
              cut: threading.Event | None = None) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.add(TimedExchange(address=address, port=port, kind=kind, deadline_s=round(deadline_s, 3),
                                   elapsed_s=round(time.monotonic() - started, 3),
                                   cut=cut is not None and cut.is_set()))

    def add(self, exchange: TimedExchange) -> None:
        share = exchange.elapsed_s / exchange.deadline_s if exchange.deadline_s > 0 else float("inf")
        with self._lock:
            s = self._summary
            s.count += 1
            s.cut_at_deadline += exchange.cut
            s.late += exchange.over_s > LATE_S
            s.longest_s = max(s.longest_s, exchange.elapsed_s)
            if s.most_over_deadline_s is None or exchange.over_s > s.most_over_deadline_s:
                s.most_over_deadline_s = round(exchange.over_s, 3)
            item = (share, s.count, exchange)
            if len(self._closest) < KEPT:
                heapq.heappush(self._closest, item)
            elif share > self._closest[0][0]:
                heapq.heapreplace(self._closest, item)

    def summary(self) -> ExchangeSummary:
        with self._lock:
            closest = [e for _, _, e in sorted(self._closest, key=lambda t: (-t[0], t[1]))]
            return self._summary.model_copy(update={"closest_to_deadline": closest})
