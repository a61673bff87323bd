"""Where a temporary credential goes when a test could not undo its change.

It is a secret, so it never reaches a log, report or bundle; but the operator must be able to
get the device back, so it is kept in a private file (0600) under the installation folder."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from harness.record.signing import harness_home


def keep_for_recovery(unit: str, username: str, password: str) -> Path:
    folder = harness_home() / "recovery"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{unit}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"unit: {unit}\nusername: {username}\ntemporary password: {password}\n")
    return path
