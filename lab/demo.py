"""`iot-harness demo`: the main job on the built-in lab, start to finish.

Brings the lab up, assesses every lab device from inside the tester namespace (each run in its
own process, exactly as an operator would run it), verifies each bundle (whose HTML report the run
sealed into it, under reports/), prints where everything is, and takes the lab down again on
success, error or Ctrl-C.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from lab import manager


def run_demo(out: Path | None = None) -> int:
    out = (out or Path("demo-output") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")).resolve()
    if out.exists() and any(out.iterdir()):
        print(f"iot-harness demo: {out} is not empty; give a new --out folder", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    mode = "netns"
    outcome: list[tuple[str, str, int, str]] = []
    try:
        print("== bringing the reference lab up", flush=True)
        inv = manager.up()
        mode = inv["mode"]
        for d in inv["devices"]:
            units = ", ".join(f"{u['name']} {u['address']}" for u in d["units"])
            print(f"   {d['model']:<10} {units:<34} ({d['description']})", flush=True)
        if mode != "netns":
            print(f"   {mode} mode: these lab services cannot run, and results are limited:", flush=True)
            for u in inv["unavailable"]:
                print(f"   - {u['device']}/{u['daemon']}: {u['reason']}", flush=True)
            for lim in inv["limitations"]:
                print(f"   - {lim}", flush=True)
        for d in inv["devices"]:
            bundle = out / d["name"]
            print(f"\n== assessing {d['name']} ({d['expect']} device) with profile {d['profile']}", flush=True)
            cmd = manager.tester_command([
                sys.executable, "-m", "harness.run.cli", "run",
                "--profile", d["profile"], "--out", str(bundle), "--operator", "iot-harness demo",
            ])
            code = subprocess.run(cmd).returncode
            check = subprocess.run(
                [sys.executable, "-m", "harness.run.cli", "bundle", "verify", str(bundle)],
                capture_output=True, text=True,
            )
            outcome.append((d["name"], d["expect"], code, "verified" if check.returncode == 0 else "NOT VERIFIED"))
    except manager.LabError as e:
        print(f"iot-harness demo: the lab could not be brought up: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\niot-harness demo: interrupted; bundles written so far are kept (marked incomplete)", file=sys.stderr)
        return 2
    finally:
        manager.down(quiet=True)
        print("\n== lab taken down (no namespace or daemon left behind)", flush=True)
    meaning = {0: "every evaluated requirement passes", 1: "some requirements FAIL",
               2: "harness error, or the run did not finish", 3: "no FAIL, but the assessment is incomplete"}
    print(f"\n== summary ({time.monotonic() - t0:.1f}s)")
    for name, expect, code, check in outcome:
        print(f"   {name:<6} expected {expect:<9} -> exit {code} ({meaning.get(code, '?')}); bundle {check}")
        print(f"          bundle:  {out / name}")
        print(f"          results: {out / name / 'results.json'}")
        print(f"          report:  {out / name / 'reports' / 'report.html'} (Japanese: report.ja.html)")
    print("\nRe-check any bundle with: iot-harness bundle verify <bundle>")
    if mode != "netns":
        print("(loopback mode: verdicts are not compared with what the lab devices were built for)")
        return 0 if all(check == "verified" for *_, check in outcome) else 1
    as_expected = all((code == 1) == (expect == "weak") and code in (0, 1) and check == "verified"
                      for _, expect, code, check in outcome)
    if not as_expected:
        print("iot-harness demo: a lab device did not get the verdict it was built for", file=sys.stderr)
    return 0 if as_expected else 1
