"""Bring the reference lab up and down: namespaces, lab-only accounts, keys, configs, daemons.

Design rules, from the measurements in shared/reference/lab-notes.md:
- the root namespace is never attached to the lab; the bridge lives in the tester namespace,
  which has no default route, so no lab packet can reach a real interface;
- daemons run in the foreground under their own session, and each PID is recorded with its
  start time so `down` kills exactly what `up` started, never a recycled PID;
- accounts are lab-only: each daemon sees /etc as an overlay whose upper layer holds the lab's
  passwd/shadow/group (and PAM overrides), inside its private mount namespace; no host password
  hash is ever copied and the host's /etc is never written (a bind mount would not do: password
  changes rename files in /etc).

This module is the lab's public face (up, down, status, the `lab` CLI, and the helpers tests use
to start a rogue daemon); the work is split by concern: `namespaces` (the network), `daemons`
(processes), `provision` (accounts, keys, certificates, configs), `common` (paths, commands).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lab import farm
from lab.common import LabError, lab_dir, run_cmd
from lab.daemons import alive, kill_recorded, listening, pidfiles, reap, start_daemon, stop_daemon, wait_listening
from lab.firmware import build_images, make_update_pki
from lab.model import DeviceDefinition, UnitDef
from lab.namespaces import (
    TESTER_IP,
    TESTER_NS,
    choose_mode,
    lab_namespaces,
    map_port,
    net_up,
    netns_available,
    tester_command,
)
from lab.pki import make_ca
from lab.provision import LOOPBACK_LIMITATIONS, build_unit, profile_for, template_env

# what tests, the demo and the bench reach through this module
__all__ = ["LabError", "cli", "down", "lab_dir", "listening", "netns_available", "start_daemon", "status",
           "stop_daemon", "tester_command", "up", "wait_listening"]


GENERATED_FROM = 30  # first octet a generated unit may take


def scaled(defs: list[DeviceDefinition], units: int) -> list[DeviceDefinition]:
    """Each model with `units` units: its defined ones first (their names and addresses kept, as
    the static profiles name them), then `<model>3`, `<model>4`... on addresses no definition uses.
    A unit costs a namespace and its daemons; the binaries, the model's shared keys and images
    are the same files for every unit."""
    if units < 1:
        raise LabError(f"--units {units}: give at least 1")
    # every definition's addresses stay theirs, brought up or not, and generated units start at .30
    taken = {u.octet for d in definitions() for u in d.units} | {int(TESTER_IP.rsplit('.', 1)[1])}
    free = (o for o in range(GENERATED_FROM, 255) if o not in taken)
    out = []
    for d in defs:
        kept = list(d.units[:units])
        names = {u.name for u in kept}
        n = len(kept)
        while len(kept) < units:
            n += 1
            name = f"{d.name}{n}"
            if name in names:
                continue
            try:
                kept.append(UnitDef(name=name, octet=next(free)))
            except StopIteration:
                raise LabError(f"--units {units}: the lab network 198.18.0.0/24 has no address left for "
                               f"{name}; bring fewer devices up (--devices)") from None
            names.add(name)
        out.append(d.model_copy(update={"units": kept}))
    return out


def definitions(names: list[str] | None = None) -> list[DeviceDefinition]:
    folder = resources.files("lab") / "devices"
    defs = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            try:
                defs.append(DeviceDefinition.model_validate(yaml.safe_load(entry.read_text())))
            except (ValidationError, yaml.YAMLError) as e:
                raise LabError(f"lab device definition {entry.name} is invalid: {e}") from None
    if names:
        known = {d.name for d in defs}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise LabError(f"unknown lab device(s) {unknown}; known: {sorted(known)}")
        defs = [d for d in defs if d.name in names]
    return defs

def up(names: list[str] | None = None, mode: str | None = None, labgrid: bool = False,
       units: int | None = None) -> dict[str, Any]:
    """Idempotent: tears down whatever is left, then builds the lab and writes the inventory.
    `labgrid`: also publish every unit as a labgrid place (`lab.farm`). `units`: that many units of
    each model, with a one-unit profile each and a fleet file listing them (`unit_profiles`)."""
    mode = choose_mode(mode)
    defs = definitions(names)
    if units is not None:
        defs = scaled(defs, units)
    down(quiet=True)
    t0 = time.monotonic()
    root = lab_dir()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    (root / "mode").write_text(mode + "\n")
    unavailable: list[dict[str, Any]] = []
    try:
        if mode == "netns":
            net_up(defs)
        ca, ca_key, ca_cert = make_ca(root / "pki")
        firmware: dict[str, dict[str, str]] = {}
        if any(d.firmware for d in defs):
            make_update_pki(root / "update-pki")
            for d in defs:
                if d.firmware:
                    firmware[d.name] = build_images(d.name, d.firmware, root / "update-pki", root / "firmware" / d.name)
        env = template_env()
        inventory_devices = []
        for d in defs:
            running = [dm for dm in d.daemons if mode == "netns" or dm.loopback]
            for daemon in d.daemons:
                if daemon not in running:
                    ports = [f"{li.transport}/{map_port(li.port, mode)}" for li in daemon.listens]
                    unavailable.append({"device": d.name, "daemon": daemon.name, "ports": ports,
                                        "reason": daemon.loopback_reason})
            unit_rows = []
            for u in d.units:
                ctx = build_unit(d, u, env, ca, ca_key, ca_cert, mode)
                for daemon in running:
                    argv = [env.from_string(a).render(ctx) for a in daemon.argv]
                    denv = {k: env.from_string(v).render(ctx) for k, v in daemon.env.items()}
                    start_daemon(u.name, daemon.name, argv, denv)
                unit_rows.append({"name": u.name, "address": ctx["ip"],
                              "namespace": f"lab-{u.name}" if mode == "netns" else None,
                              "client_keys": {k: v["key"] for k, v in ctx["client_keys"].items()}})
            for u in d.units:
                for daemon in running:
                    for listen in daemon.listens:
                        wait_listening(u.name, daemon.name, listen.transport, listen.port)
            inventory_devices.append({
                "name": d.name,
                "model": d.model,
                "description": d.description,
                "expect": d.expect,
                "units": unit_rows,
                "profile": str(profile_for(d, mode)),
                "services": [
                    {"daemon": dm.name, "transport": li.transport, "port": map_port(li.port, mode)}
                    for dm in running for li in dm.listens
                ],
                "ca": ca.crt,
                "firmware": firmware.get(d.name),
            })
    except BaseException:
        down(quiet=True)
        raise
    inventory = {
        "mode": mode,
        "tester_namespace": TESTER_NS if mode == "netns" else None,
        "tester_address": TESTER_IP if mode == "netns" else "127.0.0.1",
        "lab_dir": str(root),
        "devices": inventory_devices,
        "unavailable": unavailable,
        "limitations": LOOPBACK_LIMITATIONS if mode == "loopback" else [],
        "seconds_to_up": round(time.monotonic() - t0, 2),
        "labgrid": None,
        "fleet": None,
    }
    if units is not None:
        inventory["fleet"] = str(unit_profiles(inventory, mode))
    if labgrid:
        try:
            inventory["labgrid"] = farm.up(inventory, {d.name: d.accounts[0].user for d in defs if d.accounts})
        except BaseException:
            down(quiet=True)
            raise
        inventory["seconds_to_up"] = round(time.monotonic() - t0, 2)
    (root / "inventory.json").write_text(json.dumps(inventory, indent=2) + "\n")
    return inventory

def unit_profiles(inventory: dict[str, Any], mode: str) -> Path:
    """A one-unit profile per lab unit (the model's declaration, narrowed to that unit: its
    address and its own secret files) and a fleet file with one device per unit, so a scaled lab
    is assessed in one command: `iot-harness run --fleet <lab>/fleet.yaml`."""
    folder = lab_dir() / "profiles" / "units"
    folder.mkdir(parents=True, exist_ok=True)
    devices = []
    for d in inventory["devices"]:
        source = Path(d["profile"])
        data = yaml.safe_load(source.read_text())
        templates = {u["name"]: u for u in data["units"]}
        first = data["units"][0]
        for u in d["units"]:
            unit = json.loads(json.dumps(templates.get(u["name"], first)))
            if u["name"] not in templates:  # a generated unit: the first one's entry, with its own secrets
                for secret in unit.get("secrets", {}).values():
                    if isinstance(secret, dict) and "file" in secret:
                        secret["file"] = secret["file"].replace(f"/secrets/{first['name']}-", f"/secrets/{u['name']}-")
            unit.update(name=u["name"], address=u["address"])
            one = {**data, "units": [unit]}
            # each unit serves the model's documents itself: point the profile at this unit's copy
            one["urls"] = {k: v.replace(f"//{first['address']}/", f"//{u['address']}/")
                           for k, v in data.get("urls", {}).items()}
            path = folder / f"{u['name']}.yaml"
            header = f"# Generated by `iot-harness lab up --units` ({mode} mode) from {source}; do not edit.\n"
            path.write_text(header + yaml.safe_dump(one, sort_keys=False))
            devices.append({"profile": str(path), "name": u["name"]})
    fleet = lab_dir() / "fleet.yaml"
    fleet.write_text("# Generated by `iot-harness lab up --units`: one device per lab unit.\n"
                     + yaml.safe_dump({"parallel": min(len(devices), 64), "devices": devices}, sort_keys=False))
    return fleet


def down(quiet: bool = False) -> None:
    """Kill every recorded daemon (precisely), anything left in lab namespaces, then the namespaces."""
    kill_recorded(pidfiles())
    for ns in lab_namespaces():
        p = run_cmd("ip", "netns", "pids", ns, check=False)
        for pid in p.stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        run_cmd("ip", "netns", "del", ns, check=False)
    reap()
    (lab_dir() / "inventory.json").unlink(missing_ok=True)
    (lab_dir() / "mode").unlink(missing_ok=True)
    if not quiet:
        print("lab down", file=sys.stderr)

def status() -> dict[str, Any]:
    inv_path = lab_dir() / "inventory.json"
    inventory = json.loads(inv_path.read_text()) if inv_path.exists() else None
    daemons = []
    for p in pidfiles():
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        daemons.append({"device": p.parent.parent.name, "name": rec["name"], "pid": rec["pid"],
                        "running": alive(rec)})
    namespaces = lab_namespaces() if shutil.which("ip") else []
    return {
        "mode": inventory["mode"] if inventory else None,
        "up": inventory is not None and bool(daemons) and all(d["running"] for d in daemons),
        "namespaces": namespaces,
        "daemons": daemons,
        "inventory": str(inv_path) if inventory else None,
        "devices": [
            {"name": d["name"], "model": d["model"], "expect": d["expect"],
             "units": {u["name"]: u["address"] for u in d["units"]}}
            for d in inventory["devices"]
        ] if inventory else [],
    }

def cli(args: argparse.Namespace) -> int:
    try:
        if args.action == "up":
            names = [n.strip() for n in args.devices.split(",")] if getattr(args, "devices", None) else None
            inv = up(names, getattr(args, "mode", None), labgrid=bool(getattr(args, "labgrid", False)),
                     units=getattr(args, "units", None))
            for d in inv["devices"]:
                ports = ", ".join(f"{s['transport']}/{s['port']}" for s in d["services"])
                for u in d["units"]:
                    print(f"{u['name']:<8} {u['address']:<14} {d['model']:<10} {d['expect']:<9} {ports}")
            print(f"lab up ({inv['mode']} mode) in {inv['seconds_to_up']}s; inventory: {lab_dir() / 'inventory.json'}")
            for u in inv["unavailable"]:
                ports = ", ".join(u["ports"])
                print(f"  not running in this mode: {u['device']}/{u['daemon']} ({ports}): {u['reason']}")
            for lim in inv["limitations"]:
                print(f"  limitation: {lim}")
            if inv["labgrid"]:
                lg = inv["labgrid"]
                print(f"labgrid: coordinator {lg['coordinator']} (tester side), exporter {lg['exporter']}, "
                      f"places {', '.join(sorted(lg['places'].values()))}")
                print("  e.g. iot-harness lab exec -- iot-harness run --profile P --lg-tags model=M")
            if inv["fleet"]:
                print(f"fleet of every unit: iot-harness lab exec -- iot-harness run --fleet {inv['fleet']} --out DIR")
            print("run assessments inside the tester namespace: iot-harness lab exec -- iot-harness run ...")
            return 0
        if args.action == "down":
            down()
            return 0
        if args.action == "status":
            st = status()
            if args.json:
                print(json.dumps(st, indent=2))
            else:
                namespaces = ", ".join(st["namespaces"]) or "none"
                print(f"lab: {'up' if st['up'] else 'down'} ({st['mode'] or 'no'} mode); namespaces: {namespaces}")
                for d in st["daemons"]:
                    state = "running" if d["running"] else "DEAD"
                    print(f"  {d['device']:<8} {d['name']:<10} pid {d['pid']:<8} {state}")
            return 0 if st["up"] or not st["daemons"] else 1
        if args.action == "exec":
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            if not cmd:
                print("iot-harness lab exec: give a command, e.g. `iot-harness lab exec -- iot-harness run ...`",
                      file=sys.stderr)
                return 2
            if not (lab_dir() / "inventory.json").exists():
                print("iot-harness lab exec: the lab is not up; run `iot-harness lab up` first", file=sys.stderr)
                return 2
            argv = tester_command(cmd)
            os.execvp(argv[0], argv)
    except LabError as e:
        print(f"iot-harness lab {args.action}: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError, RuntimeError) as e:
        print(f"iot-harness lab {args.action}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    return 2
