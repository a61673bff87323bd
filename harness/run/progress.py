"""What a run says while it goes: a line per case for logs, and on a terminal a live status line.

A CI log wants one plain line per case and nothing else (no escape codes, no redraws). A person
at a terminal also wants to know how far the run is, what it has found so far, and how long it may
still take against the run's budget: brute-force and update cases take minutes, and a silent
terminal looks like a hang. So on a TTY a status line sits under the case lines and is redrawn
every second while a case runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import time
from typing import TextIO

from harness.record.results import CaseResult
from harness.record.verdict import SEVERITY, Verdict

CLEAR = "\r\x1b[K"  # carriage return, erase to end of line
TICK_S = 1.0


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def case_line(done: int, total: int, rec: CaseResult) -> str:
    width = len(str(max(total, 1)))
    line = f"[{done:>{width}}/{total}] {rec.verdict!s:<14} {rec.id}"
    if rec.reason and rec.verdict is not Verdict.PASS:
        line += f"\n{'':>{2 * width + 4}}{'':<15}{rec.reason.splitlines()[0][:160]}"
    return line


class Progress:
    def __init__(self, budget_s: float, started: float, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        if self.live:
            # pytest captures file descriptor 2 while a case runs; the status is redrawn during
            # cases, so it writes to its own copy of the terminal, taken before capture starts
            with contextlib.suppress(OSError, AttributeError, ValueError):
                self.stream = os.fdopen(os.dup(self.stream.fileno()), "w", buffering=1, encoding="utf-8",
                                        errors="replace")
        self.budget_s, self.started = budget_s, started
        self.total = self.done = 0
        self.counts: dict[Verdict, int] = {}
        self.current: tuple[str, float] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def begin(self, total: int) -> None:
        self.total = total
        if self.live and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()

    def case_started(self, case: str) -> None:
        with self._lock:
            self.current = (case, time.monotonic())
            self._draw()

    def case_done(self, rec: CaseResult) -> None:
        with self._lock:
            self.done += 1
            self.counts[rec.verdict] = self.counts.get(rec.verdict, 0) + 1
            self.current = None
            text = case_line(self.done, self.total, rec)
            self.stream.write((CLEAR if self.live else "") + text + "\n")
            self._draw()
            self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self.live:
                self.stream.write(CLEAR)
                self.stream.flush()

    def status(self) -> str:
        """e.g. "12/48 done · FAIL 2 · PASS 9 · 1m05s elapsed, 28m55s left of the run budget (about 4m at
        this pace) · now: credentials.brute_force[cam:ssh/22] 35s"."""
        now = time.monotonic()
        elapsed = now - self.started
        found = " · ".join(f"{v} {self.counts[v]}" for v in (*SEVERITY, Verdict.NOT_APPLICABLE) if self.counts.get(v))
        parts = [f"{self.done}/{self.total} done"] + ([found] if found else [])
        clock = f"{_clock(elapsed)} elapsed, {_clock(self.budget_s - elapsed)} left of the run budget"
        if self.done and self.done < self.total:
            clock += f" (about {_clock(elapsed / self.done * (self.total - self.done))} at this pace)"
        parts.append(clock)
        if self.current:
            parts.append(f"now: {self.current[0]} {_clock(now - self.current[1])}")
        return " · ".join(parts)

    def _draw(self) -> None:
        if self.live:  # one terminal row at most: a wrapped line could not be erased
            width = self._columns() - 1
            self.stream.write(CLEAR + self.status()[:width])
            self.stream.flush()

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or 120
        except (OSError, AttributeError, ValueError):
            return shutil.get_terminal_size((120, 24)).columns

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            with self._lock:
                self._draw()
