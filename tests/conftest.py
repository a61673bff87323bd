"""Shared fixtures for the project's own tests.

Lab tests need root and network namespaces. On a developer machine without them they are
skipped with the reason; CI sets IOT_REQUIRE_LAB=1 so a missing lab fails instead of hiding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB_PROFILES = ROOT / "device_profiles" / "lab"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Unit tests first (fast), then the lab tests that bring their own lab up and down (the demo,
    the loopback mode), then those sharing the session lab, and last those that take it down."""
    def rank(item: pytest.Item) -> int:
        if "tests/unit/" in Path(str(item.path)).as_posix():
            return 0
        if item.get_closest_marker("lab_standalone"):
            return 1
        return 3 if item.get_closest_marker("lab_last") else 2

    items.sort(key=rank)


def pytest_configure(config: pytest.Config) -> None:
    # never touch the developer's own installation key
    os.environ["IOT_HARNESS_HOME"] = tempfile.mkdtemp(prefix="iot-harness-home-")


def harness(*args: str, tester: bool = False, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """Run the CLI as a user would, optionally inside the lab's tester namespace."""
    cmd = [sys.executable, "-m", "harness.run.cli", *args]
    if tester:
        cmd = ["ip", "netns", "exec", "lab-tester", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kw)


def evidence_file(bundle: Path, case: dict, name: str):
    """One evidence file of a case in a bundle: parsed when JSON, text otherwise."""
    path = next(p for p in case["evidence"] if p.endswith("/" + name))
    text = (bundle / path).read_text()
    return json.loads(text) if name.endswith(".json") else text
