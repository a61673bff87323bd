"""The lab as a labgrid farm: a coordinator and one exporter (both labgrid's own programs, from
its PyPI package), and one place per lab unit, so runs reserve and lock units the way an
embedded lab already shares its benches.

They run in the tester namespace and listen on its loopback only: a run started with
`iot-harness lab exec` reaches them at 127.0.0.1, and nothing outside the machine can. Each
unit's exporter group holds one `NetworkService` resource per service it listens on (address,
port, the login name where the device has one); its place matches that group and carries the tags
`model`, `device` and `unit`, so CI can ask for "a LabCam100" without knowing which one is free.
The coordinator keeps its state in the lab folder, which `lab down` removes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from lab.common import LabError, lab_dir
from lab.daemons import start_daemon, wait_listening
from lab.namespaces import tester_command

COORDINATOR_PORT = 20408  # labgrid's default
COORDINATOR = f"127.0.0.1:{COORDINATOR_PORT}"
EXPORTER = "lab-bench"  # the exporter's name: what a multi-host lab calls the bench host
FARM_DEV = "tester"  # the daemons are recorded with the tester side's, so `lab down` stops them
READY_S = 30.0


def place_name(unit: str) -> str:
    return f"lab-{unit}"


def _tool(name: str) -> str:
    """labgrid's programs from the same environment as this interpreter (the project's venv)."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        raise LabError(f"{name} is not installed; `pip install -e .` installs labgrid with the harness")
    return found


def exporter_config(inventory: dict[str, Any], usernames: dict[str, str]) -> dict[str, Any]:
    """labgrid's exporter format: group (the unit) -> resource name (the service) -> parameters."""
    groups: dict[str, Any] = {}
    for d in inventory["devices"]:
        for u in d["units"]:
            group: dict[str, Any] = {"location": f"lab unit {u['name']} ({d['model']})"}
            for s in d["services"]:
                group[f"{s['daemon']}-{s['transport']}{s['port']}"] = {
                    "cls": "NetworkService", "address": u["address"], "port": int(s["port"]),
                    "username": usernames.get(d["name"], ""),
                }
            groups[u["name"]] = group
    return groups


def client(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """labgrid-client on the tester side, against the lab's coordinator."""
    env = {**os.environ, "LG_COORDINATOR": COORDINATOR}
    p = subprocess.run(tester_command([_tool("labgrid-client"), *args]), capture_output=True, text=True,
                       env=env, timeout=60)
    if check and p.returncode != 0:
        raise LabError(f"labgrid-client {' '.join(args)} failed: {p.stderr.strip() or p.stdout.strip()}")
    return p


def up(inventory: dict[str, Any], usernames: dict[str, str]) -> dict[str, Any]:
    """Start the coordinator and the exporter, and make a place per unit; what the inventory keeps."""
    folder = lab_dir() / "labgrid"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    config = folder / "exporter.yaml"
    config.write_text(yaml.safe_dump(exporter_config(inventory, usernames), sort_keys=True))
    # the coordinator writes places.yaml and resources.yaml into its working folder
    coordinator = ["sh", "-c", f'cd "$0" && exec "$1" --listen {COORDINATOR}', str(folder),
                   _tool("labgrid-coordinator")]
    start_daemon(FARM_DEV, "labgrid-coordinator", coordinator)
    wait_listening(FARM_DEV, "labgrid-coordinator", "tcp", COORDINATOR_PORT)
    start_daemon(FARM_DEV, "labgrid-exporter",
                 [_tool("labgrid-exporter"), "--coordinator", COORDINATOR, "--name", EXPORTER, str(config)])
    units = [(d, u) for d in inventory["devices"] for u in d["units"]]
    deadline = time.monotonic() + READY_S
    while True:  # the exporter announces its resources a moment after it starts
        shown = client("resources", check=False).stdout
        if all(f"{EXPORTER}/{u['name']}/" in shown for _, u in units):
            break
        if time.monotonic() > deadline:
            raise LabError(f"the labgrid exporter did not publish every unit within {READY_S:g} s; "
                           f"see {lab_dir() / 'dev' / FARM_DEV / 'log' / 'labgrid-exporter.out'}")
        time.sleep(0.2)
    spec = [{"place": place_name(u["name"]), "match": f"{EXPORTER}/{u['name']}/*",
             "tags": {"model": d["model"], "device": d["name"], "unit": u["name"]},
             "comment": f"{d['description']} (unit {u['name']})"} for d, u in units]
    (folder / "places.json").write_text(json.dumps(spec))
    # one client session on the tester side makes every place (a labgrid-client call per step
    # would start an interpreter four times per unit)
    p = subprocess.run(tester_command([sys.executable, "-m", "lab.farm", str(folder / "places.json")]),
                       capture_output=True, text=True, timeout=120, env={**os.environ, "LG_COORDINATOR": COORDINATOR})
    if p.returncode != 0:
        raise LabError(f"making the labgrid places failed: {p.stderr.strip()[-2000:]}")
    places = {u["name"]: place_name(u["name"]) for _, u in units}
    return {"coordinator": COORDINATOR, "exporter": EXPORTER, "places": places,
            "exporter_config": str(config)}


def make_places(spec_file: str) -> None:
    """Inside the tester namespace: create, match, tag and describe each place through labgrid's
    own ClientSession commands, the ones `labgrid-client create|add-match|set-tags|set-comment` run."""
    import contextlib
    import io

    from labgrid.remote.client import start_session

    spec = json.loads(Path(spec_file).read_text())
    session = start_session(COORDINATOR)
    try:
        for entry in spec:
            steps = [("add_place", {}), ("add_match", {"patterns": [entry["match"]]}),
                     ("set_tags", {"tags": [f"{k}={v}" for k, v in entry["tags"].items()]}),
                     ("set_comment", {"comment": [entry["comment"]]})]
            for command, extra in steps:
                session.args = argparse.Namespace(place=entry["place"], **extra)
                with contextlib.redirect_stdout(io.StringIO()):
                    session.loop.run_until_complete(getattr(session, command)())
    finally:
        session.loop.run_until_complete(session.stop())
        session.loop.run_until_complete(session.close())


if __name__ == "__main__":
    make_places(sys.argv[1])


def down() -> None:
    """Stop the exporter and the coordinator (`lab down` does it too, with every lab daemon)."""
    from lab.daemons import stop_daemon

    for name in ("labgrid-exporter", "labgrid-coordinator"):
        stop_daemon(FARM_DEV, name)
