"""The reference lab for the lab tests: up once per test session, and each lab device assessed
once, with every probe class, by the `assessments` fixture. Tests read those bundles instead of
running their own assessment; a test that needs a different declaration or device state runs
just the suite it needs.

Lab tests need root and network namespaces. On a developer machine without them they are
skipped with the reason; CI sets IOT_REQUIRE_LAB=1 so a missing lab fails instead of hiding.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import LAB_PROFILES, ROOT, harness

DEVICES = ("cam", "hub", "router", "nvr", "bell", "plug", "gate", "lock")
FULL = ("--allow", "intrusive,brute")

# checks the lab tests hand to `iot-harness run --suite`, not tests of this session
collect_ignore = ["hold_suite"]


@dataclass
class Run:
    out: Path
    code: int
    results: dict
    cases: dict
    reqs: dict
    stderr: str = ""

    def __iter__(self):  # out, code, cases, reqs: the shape older tests unpack
        return iter((self.out, self.code, self.cases, self.reqs))


def assess(profile: Path | str, out: Path, *extra: str, suite: str | None = None, timeout: float = 900) -> Run:
    """One CLI run inside the tester namespace; `suite` narrows it to one folder of test_suites/."""
    if suite:
        extra = (*extra, "--suite", str(ROOT / "test_suites" / suite))
    r = harness("run", "--profile", str(profile), "--out", str(out), *extra, tester=True, timeout=timeout)
    assert (out / "results.json").exists(), r.stdout + r.stderr
    res = json.loads((out / "results.json").read_text())
    return Run(out, r.returncode, res, {c["id"]: c for c in res["cases"]},
               {q["id"]: q for q in res["requirements"]}, r.stderr)


def narrowed_suite(tmp_path: Path, folder: str, *files: str) -> str:
    """A suite of only `files` from test_suites/<folder>, under their usual case ids (the folder
    keeps its name): a test that needs one check does not run the whole folder's."""
    import shutil

    target = tmp_path / "suite" / folder
    target.mkdir(parents=True, exist_ok=True)
    for name in ("__init__.py", *files):
        shutil.copy(ROOT / "test_suites" / folder / name, target / name)
    for name in ("__init__.py", "pytest.ini"):
        shutil.copy(ROOT / "test_suites" / name, tmp_path / "suite" / name)
    return str(tmp_path / "suite")


def profile_without(tmp_path: Path, device: str, service: str | None) -> str:
    """A lab device's declaration, first unit only and no update section, with `service` left out
    (None: all declared): what a test needs to see an interface judged as undeclared."""
    import yaml

    data = yaml.safe_load((LAB_PROFILES / f"{device}.yaml").read_text())
    data["units"] = data["units"][:1]
    data["services"] = [s for s in data["services"] if s["name"] != service]
    data.pop("update", None)
    for key in ("credential_change", "factory_reset"):  # a procedure through the service left out goes too
        if service is not None and (data.get(key) or {}).get("service") == service:
            data.pop(key)
    path = tmp_path / f"{device}-without-{service or 'nothing'}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def lab_available() -> tuple[bool, str]:
    from lab.manager import netns_available

    return netns_available()


@pytest.fixture(scope="session")
def lab():
    """The reference lab, up for the whole test session and torn down after it."""
    from lab import manager

    ok, why = lab_available()
    if not ok:
        if os.environ.get("IOT_REQUIRE_LAB"):
            pytest.fail(f"IOT_REQUIRE_LAB is set but the lab cannot run: {why}")
        pytest.skip(f"reference lab unavailable: {why}")
    inventory = manager.up()
    try:
        yield inventory
    finally:
        manager.down(quiet=True)


@pytest.fixture(scope="session")
def assessments(lab, tmp_path_factory) -> dict[str, Run]:
    """Every lab device assessed once with all probe classes (intrusive and brute included).
    The camera, the second maker's NVR and its other devices run beside the hub and router, which
    run one after the other: both pull updates from a stand-in on the tester's address, and two
    stand-ins cannot share a port."""
    base = tmp_path_factory.mktemp("assessments")

    def one(device: str) -> Run:
        return assess(LAB_PROFILES / f"{device}.yaml", base / device, *FULL)

    with ThreadPoolExecutor(4) as pool:  # network-bound (device delays), not CPU-bound
        cam = pool.submit(one, "cam")
        hub_then_router = pool.submit(lambda: (one("hub"), one("router")))
        nvr = pool.submit(one, "nvr")
        others = pool.submit(lambda: (one("bell"), one("plug"), one("gate"), one("lock")))
        hub, router = hub_then_router.result()
        bell, plug, gate, lock = others.result()
        return {"cam": cam.result(), "hub": hub, "router": router, "nvr": nvr.result(), "bell": bell, "plug": plug,
                "gate": gate, "lock": lock}
