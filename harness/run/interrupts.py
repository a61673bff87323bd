"""Ctrl-C and SIGTERM while the bundle is being sealed wait until the seal is written.

The first interrupt stops the run, and the run then seals what it has. An operator who presses
Ctrl-C again a moment later (or a CI runner that sends SIGTERM after SIGINT) would otherwise
cut the seal half-way and leave a folder that no reader accepts, the one outcome the bundle
exists to prevent. Sealing takes seconds, so every interrupt that arrives meanwhile is noted
and the seal goes on; SIGKILL remains for abandoning it.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def deferred_interrupts() -> Iterator[list[int]]:
    """Inside: SIGINT and SIGTERM are recorded, not raised (the list holds them). Only the main
    thread can own signal handlers; anywhere else this does nothing."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def note(signum: int, _frame: object) -> None:
        if not received:
            sys.stderr.write("interrupt received while the bundle is sealed: the seal is finished first "
                             "(seconds; SIGKILL abandons it)\n")
        received.append(signum)

    previous = {s: signal.signal(s, note) for s in SIGNALS}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
