"""`make bench`: speed figures for the lab and the checks, each with its target and the ratio.

Timings are wall clock on this machine, taken as an operator would see them (whole CLI runs in
the tester namespace), so a regression anywhere (lab start-up, nmap, probes, sealing) shows.
Run as root: the lab needs network namespaces. Nothing here fails a test; it prints.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from harness.record.bundle import seal, verify  # noqa: E402
from harness.record.signing import Signer  # noqa: E402
from lab import manager  # noqa: E402

ROWS: list[tuple[str, float, float, str]] = []
ARTEFACTS = ROOT / "bench-output"  # what a bench run keeps (the report screenshot)


def row(name: str, value: float, target: float, unit: str = "s") -> None:
    ROWS.append((name, value, target, unit))
    ratio = value / target if target else 0
    print(f"{name:<60} {value:9.2f} {unit:<5} target {target:8.2f} {unit:<5} ratio {ratio:5.2f}", flush=True)


def timed(fn):
    t0 = time.monotonic()
    out = fn()
    return time.monotonic() - t0, out


def cli(*args: str, tester: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "harness.run.cli", *args]
    return subprocess.run(manager.tester_command(cmd) if tester else cmd, capture_output=True, text=True,
                          cwd=ROOT, timeout=900)


def probe_seconds(address: str, calls: str, imports: str) -> float:
    """Time probe calls in a fresh interpreter inside the tester namespace, as a run makes them;
    `calls` may use `g` (a scope guard for `address`) and `a` (the address)."""
    code = (f"import time; from pathlib import Path; from harness.observation.scope import Scope, ScopeGuard;"
            f"{imports}; a='{address}'; g=ScopeGuard(Scope.build([a])); t=time.monotonic(); {calls};"
            "print(time.monotonic()-t)")
    r = subprocess.run(manager.tester_command([sys.executable, "-c", code]), capture_output=True, text=True, cwd=ROOT)
    return float(r.stdout.strip() or "nan")


def _tree_rss_mib(root: int) -> float:
    """Memory (PSS) of a process and all its descendants, the fleet's forkserver and the device
    runs it forks included, read from /proc. The tree is found from every process's parent (one
    short read each); only its members' page tables are walked (smaps_rollup), since that walk
    costs the kernel time in proportion to each process's size, and the sampler must not slow
    the fleet whose wall time is being measured."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    keep = {root}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in keep and pid not in keep:
                keep.add(pid)
                changed = True
    total = 0
    for pid in keep:
        try:  # proportional set size: pages the forked runs share are counted once, not per run
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            total += int(next(ln.split()[1] for ln in rollup.splitlines() if ln.startswith("Pss:")))
        except (OSError, StopIteration):
            continue
    return total / 1024


def fleet_run(fleet: Path, out: Path) -> tuple[float, float, dict]:
    """A fleet run as an operator starts it; its wall time, the peak memory of everything it
    started, and its fleet.json."""
    cmd = manager.tester_command([sys.executable, "-m", "harness.run.cli", "run", "--fleet", str(fleet),
                                  "--out", str(out)])
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peaks = [0.0]

    def sample() -> None:
        # the lowest priority (Linux sets it per thread): a CPU-bound fleet leaves the sampler only
        # what it does not use itself, so the wall time measured is the fleet's own
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while proc.poll() is None:
            peaks[0] = max(peaks[0], _tree_rss_mib(proc.pid))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    proc.wait()
    wall = time.monotonic() - t0
    sampler.join()
    return wall, peaks[0], json.loads((out / "fleet.json").read_text())


def scaling(work: Path) -> None:
    """Many units at once: one camera unit's default run, then 4 and 16 of them in one fleet
    command, then the 16 again taken through labgrid places (the cost of reserving them)."""
    import yaml

    inv = manager.up(["cam"], units=16, labgrid=True)
    try:
        units = [u["name"] for u in inv["devices"][0]["units"]]
        profiles = manager.lab_dir() / "profiles" / "units"
        one, _ = timed(lambda: cli("run", "--profile", str(profiles / f"{units[2]}.yaml"), "--out",
                                   str(work / "one-unit")))
        row(f"default run, one unit ({units[2]})", one, 20.0)
        walls: dict[tuple[int, bool], float] = {}
        for n, places in ((4, False), (16, False), (16, True)):
            devices = [{"profile": str(profiles / f"{u}.yaml"), "name": u,
                        **({"lg_place": [inv["labgrid"]["places"][u]]} if places else {})} for u in units[:n]]
            fleet = work / f"fleet-{n}-{places}.yaml"
            fleet.write_text(yaml.safe_dump({"parallel": n, "devices": devices}))
            dt, peak, summary = fleet_run(fleet, work / f"fleet-{n}-{'labgrid' if places else 'direct'}")
            walls[(n, places)] = dt
            verified = sum(1 for d in summary["devices"] if d["verified"] and d["digest"])
            how = " through labgrid places" if places else ""
            row(f"{n} units at once{how} ({verified} bundles verified), x one unit", dt / one, 2.0, "x")
            print(f"  {n} units{how}: {dt:.1f} s wall, peak memory of the whole fleet {peak:.0f} MiB", flush=True)
            if places:
                row("labgrid places: 16 units through places / directly", dt / walls[(16, False)], 1.1, "x")
                row("peak memory, the whole 16-unit fleet run through places", peak, 4096.0, "MiB")
    finally:
        manager.down(quiet=True)


def main() -> int:
    ok, why = manager.netns_available()
    if not ok:
        print(f"bench needs the lab: {why}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="iot-bench-"))
    try:
        dt, inv = timed(manager.up)
        units = sum(len(d["units"]) for d in inv["devices"])
        row(f"lab up ({units} units, cold or warm keys)", dt, 5.0)
        for d in inv["devices"]:
            unit = d["units"][0]
            row(f"full TCP scan, 65535 ports, {unit['name']}", probe_seconds(
                unit["address"], "tcp_scan(g, a)", "from harness.observation.probes.portscan import tcp_scan"), 5.0)
        for d in inv["devices"]:
            unit = d["units"][0]
            seconds = probe_seconds(
                unit["address"],
                "tcp_scan(g, a); udp_scan(g, a, [p.port for p in load_exposure_data().udp_ports]); discover(g, a)",
                "from harness.observation.probes.portscan import tcp_scan, udp_scan;"
                "from harness.observation.probes.discovery import discover;"
                "from harness.judgement.exposure import load_exposure_data")
            row(f"exposure scan (TCP, UDP set, mDNS, SSDP), {unit['name']}", seconds, 5.0)
        for address, port in (("198.18.0.10", 443), ("198.18.0.11", 443), ("198.18.0.11", 8883)):
            seconds = probe_seconds(address, f"scan(g, a, {port}, Path('{d['ca']}'))",
                                    "from harness.observation.probes.tls import scan")
            row(f"TLS scan (sslyze, all versions and checks), {address}:{port}", seconds, 5.0)
        for d in inv["devices"]:
            out = work / d["name"]
            dt, _ = timed(lambda d=d, out=out: cli("run", "--profile", d["profile"], "--out", str(out)))
            cases = len(json.loads((out / "results.json").read_text())["cases"])
            row(f"assessment run, {d['name']} ({len(d['units'])} units, {cases} cases)", dt, 20.0)
        # the page a manufacturer opens, as Chromium draws it with no network: kept as an artefact
        from reports.browser import screenshot
        from tests.report_screenshot import verdict_pixels

        dt, png = timed(lambda: screenshot(work / "cam" / "reports" / "report.html"))
        ARTEFACTS.mkdir(exist_ok=True)
        (ARTEFACTS / "report-cam.png").write_bytes(png)
        assert verdict_pixels(png)["FAIL"] > 0, "the cam's FAILs are not in the screenshot"
        row("HTML report screenshot, cam (Chromium, no network)", dt, 10.0)
        print(f"  screenshot kept: {ARTEFACTS / 'report-cam.png'}", flush=True)
        dt, _ = timed(lambda: cli("run", "--profile", str(ROOT / "device_profiles/lab/cam.yaml"),
                                  "--out", str(work / "cam-brute"), "--allow", "brute"))
        row("assessment run, cam with --allow brute", dt, 30.0)
        # judged again from the recorded observations: no device contact, so it costs only judgement
        dt, _ = timed(lambda: cli("rejudge", str(work / "cam"), "--out", str(work / "cam-rejudged"),
                                  "--tls-policy", "nist-sp800-52r2", tester=False))
        row("rejudge the cam bundle under another TLS policy (no device)", dt, 10.0)
        for name in ("hub", "cam"):  # after the runs above: the units still run their factory images
            out = work / f"{name}-update"
            dt, _ = timed(lambda name=name, out=out: cli(
                "run", "--profile", str(ROOT / f"device_profiles/lab/{name}.yaml"), "--out", str(out),
                "--allow", "intrusive", "--suite", str(ROOT / "test_suites/update")))
            cases = len(json.loads((out / "results.json").read_text())["cases"])
            row(f"update-integrity suite, {name} (2 units, {cases} cases)", dt, 30.0)
        dt, _ = timed(lambda: manager.down(quiet=True))
        row("lab down", dt, 5.0)
    finally:
        manager.down(quiet=True)
    scaling(work)
    # a hostile device on loopback (tests/unit/test_hostile_devices.py): the slowest case against
    # the bound every case must keep, and the run's own peak memory
    from tests.unit.test_hostile_devices import (
        CASE_BOUND,
        MAX_RSS_MIB,
        assess_hostile_isolated,
        slowest_case,
        worst_exchange,
    )

    hostile = assess_hostile_isolated(work / "hostile-device")
    case, seconds = slowest_case(hostile)
    row(f"hostile device: slowest case ({case[:34]})", seconds, CASE_BOUND)
    what, elapsed, deadline = worst_exchange(hostile)
    row(f"hostile device: exchange nearest its deadline ({what})", elapsed, deadline)
    row(f"hostile devices: both runs ({sum(map(len, hostile.cases.values()))} service cases, 2 devices)",
        hostile.seconds, 120.0)
    row("hostile devices: peak RSS of a run", hostile.max_rss_mib, MAX_RSS_MIB, "MiB")
    # sealing and verifying: 2,000 evidence files, 64 MiB in all
    big = work / "bundle"
    for i in range(2000):
        p = big / "evidence" / f"case{i % 50}" / f"file{i}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(bytes([i % 251]) * (32 * 1024))
    signer = Signer(Ed25519PrivateKey.generate(), "bench")
    dt, _ = timed(lambda: seal(big, signer, {"result": "PASSED", "configuration": []}))
    row("seal bundle: 2,000 files, 64 MiB", dt, 2.0)
    dt, v = timed(lambda: verify(big))
    assert v.ok
    row("verify bundle: 2,000 files, 64 MiB", dt, 2.0)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    row("peak RSS of any child process (runs, nmap)", peak, 300.0, "MiB")
    shutil.rmtree(work, ignore_errors=True)
    worst = max(ROWS, key=lambda r: r[1] / r[2])
    print(f"\nworst ratio: {worst[0]} at {worst[1] / worst[2]:.2f} of its target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
