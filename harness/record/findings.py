"""What a check records as it judges: several findings per case, none ever dropped.

A check that loops over ports, images or units adds one finding per target and goes on; a check
that must stop raises through `fail()`/`inconclusive()`/… and that last word becomes one more
finding. The case verdict is their aggregate through the one aggregation function, so a FAIL on
one port can never be hidden by an INCONCLUSIVE on the next.
"""

from __future__ import annotations

import threading

from harness.record.results import Finding
from harness.record.verdict import CaseEnded, Verdict


class CaseFindings:
    def __init__(self, check: str, target: str) -> None:
        self.check = check
        self.target = target
        self._items: list[Finding] = []
        self._lock = threading.Lock()
        self.covered: list[str] = []  # services of the case's unit it judged, besides its own endpoint

    def covers(self, *services: str) -> None:
        """Say which declared services of the unit this case judged (a unit-wide check, such as the
        clear-text one over every open TCP port): the coverage matrix counts them as looked at."""
        with self._lock:
            self.covered.extend(s for s in services if s not in self.covered)

    def add(self, verdict: Verdict, reason: str = "", *, target: str | None = None, rule: str | None = None,
            policy: str | None = None, fix: str | None = None, evidence: list[str] | None = None) -> Finding:
        f = Finding(target=target or self.target, rule=rule or self.check, policy=policy, verdict=verdict,
                    reason=reason, fix=fix, evidence=list(evidence or []))
        with self._lock:
            self._items.append(f)
        return f

    def fail(self, reason: str, **kw) -> Finding:
        return self.add(Verdict.FAIL, reason, **kw)

    def inconclusive(self, reason: str, **kw) -> Finding:
        return self.add(Verdict.INCONCLUSIVE, reason, **kw)

    def passed(self, reason: str = "", **kw) -> Finding:
        return self.add(Verdict.PASS, reason, **kw)

    def not_applicable(self, reason: str, **kw) -> Finding:
        return self.add(Verdict.NOT_APPLICABLE, reason, **kw)

    def not_evaluated(self, reason: str, **kw) -> Finding:
        return self.add(Verdict.NOT_EVALUATED, reason, **kw)

    def advisory(self, reason: str, **kw) -> Finding:
        return self.add(Verdict.ADVISORY, reason, **kw)

    def ended(self, e: CaseEnded) -> Finding:
        return self.add(e.verdict, e.reason, target=e.target, rule=e.rule, policy=e.policy, fix=e.fix)

    def __iter__(self):
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def close(self, case_evidence: list[str], redact) -> list[Finding]:
        """The final list: a check that finished without a word PASSed its one target; a finding
        that names no evidence rests on everything the case recorded."""
        items = list(self._items) or [Finding(target=self.target, rule=self.check, verdict=Verdict.PASS)]
        return [f.model_copy(update={"reason": redact(f.reason), "evidence": f.evidence or list(case_evidence)})
                for f in items]
