"""Many devices in one command: each assessed by its own `iot-harness run`, several at a time.

One process per device, because that is what keeps a fleet honest: each has its own scope guard
and connection budgets, its own evidence folder and signature, and a device whose run crashes or is
interrupted cannot corrupt another's bundle. The fleet only schedules (at most `parallel` at once),
forwards a stop to every run it started (each seals its bundle incomplete), and then reads every
bundle back through the verifying reader, so the summary lists digests that were checked, not
claimed. Its exit code is the worst of the devices': 2 over 1 over 3 over 0.
"""

from __future__ import annotations

import json
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.declaration.datafile import DataFileError, load_yaml_model
from harness.declaration.profile import ProfileError, load_profile
from harness.run.launcher import WarmRun

FLEET_FORMAT = "iot-label-harness/fleet/v1"
WORST_FIRST = (2, 1, 3, 0)  # harness error, FAIL, incomplete, pass


class FleetDevice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile: Path
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                             description="its folder under --out (default: the profile's file name)")
    allow: list[str] = Field(default_factory=list, description="probe classes beyond safe and auth")
    deny: list[str] = Field(default_factory=list)
    answers: Path | None = None
    state: str | None = None
    scheme: list[str] = Field(default_factory=list)
    suite: Path | None = Field(default=None, description="a folder of checks instead of the built-in suite")
    lg_place: list[str] = Field(default_factory=list, description="labgrid place(s) to hold for the run")
    lg_tags: list[str] = Field(default_factory=list, description="labgrid tag filter(s): any free place each")
    lg_wait: float = Field(default=0.0, ge=0, le=3600, description="seconds to wait for a held place")


class FleetFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parallel: int = Field(default=4, ge=1, le=64, description="devices assessed at once")
    devices: list[FleetDevice] = Field(min_length=1)


class FleetError(DataFileError):
    pass


def load_fleet(path: Path) -> FleetFile:
    fleet = load_yaml_model(path, FleetFile, "fleet file", error=FleetError)
    base = path.resolve().parent  # paths in a fleet file are relative to it
    for d in fleet.devices:
        for attr in ("profile", "answers", "suite"):
            value = getattr(d, attr)
            if value is not None and not value.is_absolute():
                setattr(d, attr, base / value)
    return fleet


@dataclass
class DeviceOutcome:
    name: str
    profile: str
    out: str
    log: str
    exit_code: int | None = None
    complete: bool = False
    verified: bool = False
    digest: str | None = None
    requirements: dict[str, int] = field(default_factory=dict)
    problem: str = ""


@dataclass
class FleetCheck:
    problems: list[str]  # why the fleet cannot run; empty when it can
    sboms: list[str | None]  # each readable profile's declared SBOM location (what the runs will fetch)


def check_fleet(devices: list[FleetDevice]) -> FleetCheck:
    """Refuse, before anything is sent, a fleet that would assess one unit twice at once (past its
    connection budget) or write two bundles into one folder."""
    problems: list[str] = []
    sboms: list[str | None] = []
    names: dict[str, Path] = {}
    addresses: dict[str, Path] = {}
    for d in devices:
        name = d.name or d.profile.stem
        if name in names:
            problems.append(f"two devices would write to {name!r} ({names[name]} and {d.profile}): give each a name")
        names[name] = d.profile
        try:
            profile = load_profile(d.profile)
        except ProfileError as e:
            problems.append(str(e))
            continue
        sboms.append(profile.urls.sbom)
        if d.lg_place or d.lg_tags:
            continue  # the places' locks keep two runs off one unit, whatever the profiles share
        for unit in profile.units:
            other = addresses.get(unit.address)
            if other is not None and other != d.profile:
                problems.append(f"unit {unit.address} is in both {other} and {d.profile}: it would be assessed twice "
                                "at once, past its connection budget")
            addresses[unit.address] = d.profile
    return FleetCheck(problems, sboms)


def _argv(d: FleetDevice, out: Path, common: list[str]) -> list[str]:
    """The device's `iot-harness run` arguments."""
    argv = ["run", "--profile", str(d.profile), "--out", str(out), *common]
    if d.allow:
        argv += ["--allow", ",".join(d.allow)]
    if d.deny:
        argv += ["--deny", ",".join(d.deny)]
    for opt, value in (("--answers", d.answers), ("--state", d.state), ("--suite", d.suite)):
        if value is not None:
            argv += [opt, str(value)]
    for s in d.scheme:
        argv += ["--scheme", s]
    for place in d.lg_place:
        argv += ["--lg-place", place]
    for tags in d.lg_tags:
        argv += ["--lg-tags", tags]
    if d.lg_wait:
        argv += ["--lg-wait", str(d.lg_wait)]
    return argv


def worst(codes: list[int | None]) -> int:
    seen = {2 if c is None else c for c in codes}
    return next((c for c in WORST_FIRST if c in seen), 2)


class Fleet:
    def __init__(self, devices: list[FleetDevice], out: Path, parallel: int, common: list[str]) -> None:
        self.devices, self.out, self.parallel, self.common = devices, out, parallel, common
        self.procs: dict[str, WarmRun] = {}
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> dict:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        self.out.mkdir(parents=True, exist_ok=True)
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            with ThreadPoolExecutor(self.parallel) as pool:
                outcomes = list(pool.map(self._one, self.devices))
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
        summary = {
            "format": FLEET_FORMAT, "started": started, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "parallel": self.parallel, "interrupted": self.stopping.is_set(),
            "exit_code": worst([o.exit_code for o in outcomes]),
            "devices": [asdict(o) for o in outcomes],
        }
        (self.out / "fleet.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary

    def _stop(self, signum, frame) -> None:
        """Ctrl-C or SIGTERM: every run started is asked to stop (each seals its bundle incomplete);
        none not yet started begins."""
        self.stopping.set()
        with self.lock:
            for proc in self.procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)

    def _one(self, d: FleetDevice) -> DeviceOutcome:
        from harness.record.reader import BundleRefused, open_bundle

        name = d.name or d.profile.stem
        out, log = self.out / name, self.out / f"{name}.log"
        outcome = DeviceOutcome(name=name, profile=str(d.profile), out=str(out), log=str(log))
        if self.stopping.is_set():
            outcome.problem = "not started: the fleet run was stopped first"
            return outcome
        log.write_bytes(b"")
        with self.lock:
            # its own process and session, forked warm (launcher.WarmRun): a Ctrl-C at the terminal
            # reaches the fleet, which forwards it once
            proc = WarmRun(_argv(d, out, self.common), log)
            self.procs[name] = proc
            if self.stopping.is_set():
                proc.send_signal(signal.SIGINT)
        outcome.exit_code = proc.wait()
        try:
            bundle = open_bundle(out)
        except BundleRefused as e:
            outcome.problem = str(e).splitlines()[0]
            return outcome
        except OSError as e:
            outcome.problem = f"no bundle: {e.strerror}"
            return outcome
        outcome.verified, outcome.digest = True, bundle.digest
        outcome.complete = bundle.results.complete
        outcome.requirements = dict(bundle.results.summary.requirements)
        return outcome


def table(summary: dict) -> str:
    rows = summary["devices"]
    width = max(len(r["name"]) for r in rows)
    lines = [f"{'device':<{width}}  exit  bundle"]
    for r in rows:
        state = ("verified " + r["digest"][:16] + ("" if r["complete"] else " (incomplete)")) if r["verified"] \
            else f"NOT VERIFIED: {r['problem']}"
        counts = ", ".join(f"{k} {v}" for k, v in sorted(r["requirements"].items()))
        code = "-" if r["exit_code"] is None else str(r["exit_code"])
        lines.append(f"{r['name']:<{width}}  {code:<4}  {state}" + (f"  [{counts}]" if counts else ""))
    lines.append(f"fleet exit code: {summary['exit_code']}" + (" (interrupted)" if summary["interrupted"] else ""))
    return "\n".join(lines)
