"""A check that keeps its unit busy until told to let go: the lock tests hold a labgrid place
for as long as they need, without depending on how long a real check takes."""

import os
import time
from pathlib import Path

import pytest


@pytest.mark.requirements("S1.1-13")
def test_holds_the_unit(unit, guard):
    folder = Path(os.environ["IOT_TEST_HOLD_DIR"])
    (folder / f"started-{unit.name}").write_text(unit.address)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (folder / "release").exists():
        time.sleep(0.1)
