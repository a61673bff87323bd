"""What every part of the lab shares: where it lives on disk, and running a command with a clear error."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class LabError(Exception):
    """The lab could not be brought up or down; the message says what and where the logs are."""

def lab_dir() -> Path:
    return Path(os.environ.get("IOT_LAB_DIR", "/tmp/iot-label-lab"))

def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent

def run_cmd(*argv: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise LabError(f"{argv[0]} is not installed; run `make setup` (or scripts/setup.sh) as root") from None
    if check and p.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
    return p

READY_TIMEOUT_S = 10.0
