"""Daemons of the lab: started in the foreground in their unit's namespace under their own session,
each PID recorded with its start time so `down` kills exactly what `up` started, never a recycled
PID; each sees /etc as an overlay holding the lab's accounts (the host's /etc is never written)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from importlib import resources
from pathlib import Path
from typing import Any

from lab.common import READY_TIMEOUT_S, LabError, lab_dir, run_cmd
from lab.namespaces import current_mode, map_port

children: dict[int, subprocess.Popen] = {}  # daemons started by this process, reaped on down

def proc_start(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # zombie: dead, awaiting a lazy reaper
        return None
    return fields[19]

def alive(record: dict[str, Any]) -> bool:
    return proc_start(record["pid"]) == record["start"]

def pidfiles() -> list[Path]:
    return sorted(lab_dir().glob("dev/*/pids/*.json"))

def seed_overlay(unit_dir: Path, name: str) -> Path:
    """A fresh /etc upper layer for one daemon: the unit's lab account files and PAM overrides."""
    ovl = unit_dir / "ovl" / name
    shutil.rmtree(ovl, ignore_errors=True)
    upper = ovl / "upper"
    (ovl / "work").mkdir(parents=True)
    upper.mkdir(parents=True)
    for f in ("passwd", "shadow", "group"):
        src = unit_dir / "etc" / f
        if src.exists():
            shutil.copy2(src, upper / f)
    if (unit_dir / "etc" / "pam.d").is_dir():
        shutil.copytree(unit_dir / "etc" / "pam.d", upper / "pam.d")
    # files a daemon only reads from a fixed /etc path (avahi's service definitions)
    if (unit_dir / "etc-overlay").is_dir():
        shutil.copytree(unit_dir / "etc-overlay", upper, dirs_exist_ok=True)
    return ovl

def start_daemon(unit: str, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    """Start one daemon inside the unit's namespace and record its PID and start time."""
    udir = lab_dir() / "dev" / unit
    (udir / "pids").mkdir(parents=True, exist_ok=True)
    (udir / "log").mkdir(parents=True, exist_ok=True)
    hostname = (udir / "hostname").read_text().strip() if (udir / "hostname").exists() else unit
    full_env = {**os.environ, **(env or {})}
    if current_mode() == "netns":
        wrap = str(resources.files("lab") / "nswrap.sh")
        ovl = seed_overlay(udir, name)
        command = ["ip", "netns", "exec", f"lab-{unit}", "sh", wrap, str(ovl), hostname, *argv]
    else:
        command = argv  # loopback fallback: no namespace, no private mounts
    with open(udir / "log" / f"{name}.out", "ab") as log:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=full_env,
        )
    children[proc.pid] = proc
    start = None
    for _ in range(100):
        start = proc_start(proc.pid)
        if start:
            break
        time.sleep(0.01)
    record = {"pid": proc.pid, "start": start or "", "name": name, "argv": argv, "env": env or {}}
    (udir / "pids" / f"{name}.json").write_text(json.dumps(record))
    return proc.pid

def listening(dev: str, transport: str, port: int) -> bool:
    """Checked with `ss` (inside the namespace, or on the device's loopback address): no packets."""
    flag = "-Hltn" if transport == "tcp" else "-Hlun"
    if current_mode() == "netns":
        p = run_cmd("ip", "netns", "exec", f"lab-{dev}", "ss", flag, f"sport = :{port}", check=False)
    else:
        address = (lab_dir() / "dev" / dev / "address").read_text().strip()
        p = run_cmd("ss", flag, f"src {address}:{port}", check=False)
    return bool(p.stdout.strip())

def wait_listening(dev: str, name: str, transport: str, port: int) -> None:
    port = map_port(port, current_mode())
    rec_path = lab_dir() / "dev" / dev / "pids" / f"{name}.json"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if listening(dev, transport, port):
            return
        if not alive(json.loads(rec_path.read_text())):
            raise LabError(f"{dev}/{name} exited before listening on {transport}/{port}; {log_tail(dev, name)}")
        time.sleep(0.02)
    raise LabError(
        f"{dev}/{name} not listening on {transport}/{port} after {READY_TIMEOUT_S}s; {log_tail(dev, name)}"
    )

def log_tail(dev: str, name: str) -> str:
    log = lab_dir() / "dev" / dev / "log" / f"{name}.out"
    try:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
    except OSError:
        tail = []
    return f"log {log}: " + (" | ".join(tail) or "(empty)")

def stop_daemon(dev: str, name: str) -> None:
    path = lab_dir() / "dev" / dev / "pids" / f"{name}.json"
    if path.exists():
        kill_recorded([path])

def restart_daemon(dev: str, name: str, down_s: float, listens: list[tuple[str, int]]) -> None:
    """Stop one daemon, leave its port closed for `down_s`, and start it again as it was started
    (a crash and restart, or a firmware watchdog): fault injection for the lab tests."""
    record = json.loads((lab_dir() / "dev" / dev / "pids" / f"{name}.json").read_text())
    stop_daemon(dev, name)
    time.sleep(down_s)
    start_daemon(dev, name, record["argv"], record.get("env"))
    for transport, port in listens:
        wait_listening(dev, name, transport, port)

def kill_recorded(paths: list[Path]) -> None:
    records = []
    for p in paths:
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if alive(rec):
            records.append(rec)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(rec["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(r) for r in records):
        reap()
        time.sleep(0.05)
    for r in records:
        if alive(r):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(r["pid"], signal.SIGKILL)
    reap()
    for p in paths:
        p.unlink(missing_ok=True)

def reap() -> None:
    for pid, proc in list(children.items()):
        if proc.poll() is not None:
            del children[pid]
