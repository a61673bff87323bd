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
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import secrets as pysecrets
import shutil
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml
from pydantic import ValidationError

from lab.firmware import build_images, make_update_pki
from lab.model import Certificate, DeviceDefinition, HostKey, UnitDef
from lab.pki import CertFiles, make_ca, make_cert

TESTER_NS = "lab-tester"
BRIDGE = "labbr0"
NET_PREFIX = "198.18.0"
TESTER_IP = f"{NET_PREFIX}.1"
LOOPBACK_PREFIX = "127.0.10"
LOOPBACK_PORT_OFFSET = 10000  # ports below 1024 move up, so the fallback also works without root
MODES = ("netns", "loopback")
READY_TIMEOUT_S = 10.0
_children: dict[int, subprocess.Popen] = {}  # daemons started by this process, reaped on down


class LabError(Exception):
    """The lab could not be brought up or down; the message says what and where the logs are."""


def lab_dir() -> Path:
    return Path(os.environ.get("IOT_LAB_DIR", "/tmp/iot-label-lab"))


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


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


def _run(*argv: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise LabError(f"{argv[0]} is not installed; run `make setup` (or scripts/setup.sh) as root") from None
    if check and p.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
    return p


def current_mode() -> str:
    f = lab_dir() / "mode"
    return f.read_text().strip() if f.exists() else "netns"


def device_ip(u: UnitDef, mode: str = "netns") -> str:
    return f"{LOOPBACK_PREFIX if mode == 'loopback' else NET_PREFIX}.{u.octet}"


def map_port(port: int, mode: str) -> int:
    return port + LOOPBACK_PORT_OFFSET if mode == "loopback" and port < 1024 else port


def netns_available() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "network namespaces need root"
    if shutil.which("ip") is None:
        return False, "iproute2 (ip) is not installed"
    probe = f"lab-probe{os.getpid()}"
    p = _run("ip", "netns", "add", probe, check=False)
    if p.returncode != 0:
        return False, f"cannot create a network namespace: {p.stderr.strip()}"
    _run("ip", "netns", "del", probe, check=False)
    return True, ""


# ---------------------------------------------------------------- processes
def _proc_start(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # zombie: dead, awaiting a lazy reaper
        return None
    return fields[19]


def _alive(record: dict[str, Any]) -> bool:
    return _proc_start(record["pid"]) == record["start"]


def _pidfiles() -> list[Path]:
    return sorted(lab_dir().glob("dev/*/pids/*.json"))


def _seed_overlay(unit_dir: Path, name: str) -> Path:
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
        ovl = _seed_overlay(udir, name)
        command = ["ip", "netns", "exec", f"lab-{unit}", "sh", wrap, str(ovl), hostname, *argv]
    else:
        command = argv  # loopback fallback: no namespace, no private mounts
    with open(udir / "log" / f"{name}.out", "ab") as log:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=full_env,
        )
    _children[proc.pid] = proc
    start = None
    for _ in range(100):
        start = _proc_start(proc.pid)
        if start:
            break
        time.sleep(0.01)
    record = {"pid": proc.pid, "start": start or "", "name": name, "argv": argv}
    (udir / "pids" / f"{name}.json").write_text(json.dumps(record))
    return proc.pid


def listening(dev: str, transport: str, port: int) -> bool:
    """Checked with `ss` (inside the namespace, or on the device's loopback address): no packets."""
    flag = "-Hltn" if transport == "tcp" else "-Hlun"
    if current_mode() == "netns":
        p = _run("ip", "netns", "exec", f"lab-{dev}", "ss", flag, f"sport = :{port}", check=False)
    else:
        address = (lab_dir() / "dev" / dev / "address").read_text().strip()
        p = _run("ss", flag, f"src {address}:{port}", check=False)
    return bool(p.stdout.strip())


def wait_listening(dev: str, name: str, transport: str, port: int) -> None:
    port = map_port(port, current_mode())
    rec_path = lab_dir() / "dev" / dev / "pids" / f"{name}.json"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if listening(dev, transport, port):
            return
        if not _alive(json.loads(rec_path.read_text())):
            raise LabError(f"{dev}/{name} exited before listening on {transport}/{port}; {_log_tail(dev, name)}")
        time.sleep(0.02)
    raise LabError(
        f"{dev}/{name} not listening on {transport}/{port} after {READY_TIMEOUT_S}s; {_log_tail(dev, name)}"
    )


def _log_tail(dev: str, name: str) -> str:
    log = lab_dir() / "dev" / dev / "log" / f"{name}.out"
    try:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
    except OSError:
        tail = []
    return f"log {log}: " + (" | ".join(tail) or "(empty)")


def stop_daemon(dev: str, name: str) -> None:
    path = lab_dir() / "dev" / dev / "pids" / f"{name}.json"
    if path.exists():
        _kill([path])


def _kill(paths: list[Path]) -> None:
    records = []
    for p in paths:
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if _alive(rec):
            records.append(rec)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(rec["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(r) for r in records):
        _reap()
        time.sleep(0.05)
    for r in records:
        if _alive(r):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(r["pid"], signal.SIGKILL)
    _reap()
    for p in paths:
        p.unlink(missing_ok=True)


def _reap() -> None:
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[pid]


# ---------------------------------------------------------------- network
def _net_up(defs: list[DeviceDefinition]) -> None:
    _run("ip", "netns", "add", TESTER_NS)
    tester = [
        "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1",
        "ip link set lo up",
        f"ip link add {BRIDGE} type bridge",
        f"ip link set {BRIDGE} type bridge mcast_snooping 0",
        f"ip addr add {TESTER_IP}/24 dev {BRIDGE}",
        f"ip link set {BRIDGE} up",
        f"ip route add 224.0.0.0/4 dev {BRIDGE}",
    ]
    _run("ip", "netns", "exec", TESTER_NS, "sh", "-ec", "; ".join(tester))
    for d in defs:
        for u in d.units:
            ns, veth = f"lab-{u.name}", f"v-{u.name}"
            _run("ip", "netns", "add", ns)
            _run("ip", "link", "add", veth, "netns", TESTER_NS, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _run("ip", "netns", "exec", TESTER_NS, "sh", "-ec",
                 f"ip link set {veth} master {BRIDGE}; ip link set {veth} up")
            inside = [
                "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1",
                # closed UDP ports answer every probe (no ICMP rate limit), so a UDP scan of the lab
                # is decisive and fast; the scan itself never counts silence as a responder
                "sysctl -qw net.ipv4.icmp_ratelimit=0",
                "ip link set lo up",
                f"ip addr add {device_ip(u, 'netns')}/24 dev eth0",
                "ip link set eth0 up",
                "ip route add 224.0.0.0/4 dev eth0",
                *d.ns_setup,
            ]
            _run("ip", "netns", "exec", ns, "sh", "-ec", "; ".join(inside))


def _lab_namespaces() -> list[str]:
    p = _run("ip", "netns", "list", check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.startswith("lab-")]


# ---------------------------------------------------------------- device files
def _template_env() -> jinja2.Environment:
    folder = Path(str(resources.files("lab") / "templates"))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder), undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    env.globals["apr1"] = lambda pw: _run("openssl", "passwd", "-apr1", "-stdin", input=pw).stdout.strip()
    return env


def _chown(path: Path, owner: str | None) -> None:
    if owner and os.geteuid() == 0:
        pw = pwd.getpwnam(owner)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _accounts(ddir: Path, d: DeviceDefinition, secrets: dict[str, str]) -> None:
    etc = ddir / "etc"
    passwd = Path("/etc/passwd").read_text().rstrip("\n").splitlines()
    group = Path("/etc/group").read_text().rstrip("\n").splitlines()
    # host users are kept (daemons need sshd, www-data, mosquitto…) but locked: no host hash copied
    shadow = [f"{line.split(':')[0]}:*:19000:0:99999:7:::" for line in passwd if line]
    for a in d.accounts:
        home = ddir / "home" / a.user
        home.mkdir(parents=True, exist_ok=True)
        os.chown(home, a.uid, a.uid)
        passwd.append(f"{a.user}:x:{a.uid}:{a.uid}:lab user:{home}:/bin/sh")
        group.append(f"{a.user}:x:{a.uid}:")
        password = secrets[a.password_secret] if a.password_secret else a.password
        h = "*" if password is None else _run("openssl", "passwd", "-6", "-stdin", input=password).stdout.strip()
        shadow.append(f"{a.user}:{h}:19000:0:99999:7:::")
    (etc / "passwd").write_text("\n".join(passwd) + "\n")
    (etc / "group").write_text("\n".join(group) + "\n")
    (etc / "shadow").write_text("\n".join(shadow) + "\n")
    os.chmod(etc / "passwd", 0o644)
    os.chmod(etc / "group", 0o644)
    os.chmod(etc / "shadow", 0o640)


def _host_keys(ddir: Path, d: DeviceDefinition) -> None:
    """Host keys survive `up`/`down` cycles (as a real device's do); generated when missing.
    A `shared` key is made once per model and copied to every unit: the class-wide key flaw."""
    for k in d.host_keys:
        path = (lab_dir() / "model" / d.name if k.shared else ddir) / k.path
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _keygen(k, path)
        target = ddir / k.path
        if k.shared:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            if Path(f"{path}.pub").exists():
                shutil.copy2(f"{path}.pub", f"{target}.pub")


def _keygen(k: HostKey, path: Path) -> None:
    if k.tool == "dropbear":
        argv = ["dropbearkey", "-t", k.type, "-f", str(path)] + (["-s", str(k.bits)] if k.bits else [])
    else:
        bits = ["-b", str(k.bits)] if k.bits else []
        argv = ["ssh-keygen", "-q", "-t", k.type, "-N", "", "-f", str(path), *bits]
    _run(*argv)


def _client_key(user: str) -> dict[str, str]:
    path = lab_dir() / "keys" / f"{user}_ed25519"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{user}@lab", "-f", str(path))
    return {"key": str(path), "pub": Path(f"{path}.pub").read_text().strip()}


def _secret(dev: str, name: str) -> str:
    path = lab_dir() / "secrets" / f"{dev}-{name}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(pysecrets.token_urlsafe(18))
    return path.read_text().strip()


def _certificate(d: DeviceDefinition, u: UnitDef, c: Certificate, udir: Path, ip: str, ca_key, ca_cert) -> CertFiles:
    """Fresh on every `up` (never expires under a long-lived checkout). A `shared` certificate is
    made by the model's first unit and reused by the others: one key for the whole class."""
    if not c.shared:
        return make_cert(udir / "pki", c, ip, ca_key, ca_cert)
    folder = lab_dir() / "model" / d.name / "pki"
    if u is d.units[0] or not (folder / f"{c.name}.crt").exists():
        return make_cert(folder, c, ip, ca_key, ca_cert)
    return CertFiles(str(folder / f"{c.name}.crt"), str(folder / f"{c.name}.key"))


def _build_unit(
    d: DeviceDefinition, u: UnitDef, env: jinja2.Environment, ca: CertFiles, ca_key, ca_cert, mode: str
) -> dict:
    udir = lab_dir() / "dev" / u.name
    for sub in ("etc", "log", "pids", "run", "www"):
        (udir / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(udir, 0o755)
    (udir / "hostname").write_text(d.hostname + ("" if u.name == d.name else u.name.removeprefix(d.name)) + "\n")
    ip = device_ip(u, mode)
    (udir / "address").write_text(ip + "\n")
    for spec in d.dirs:
        p = udir / spec.path
        p.mkdir(parents=True, exist_ok=True)
        os.chmod(p, spec.mode)
        _chown(p, spec.owner)
    secrets = {s: _secret(u.name, s) for s in d.secrets}
    if mode == "netns":
        _accounts(udir, d, secrets)  # only a private mount namespace can put them in place
    _host_keys(udir, d)
    certs = {c.name: _certificate(d, u, c, udir, ip, ca_key, ca_cert) for c in d.certificates}
    ctx = {
        "ip": ip, "dir": str(udir), "dev": u.name, "model": d.name, "lab": str(lab_dir()), "ca": ca,
        "tester": TESTER_IP,
        "certs": certs,
        "firmware": d.firmware,
        "client_keys": {k: _client_key(k) for k in d.client_keys},
        "secrets": secrets,
        "port": lambda p: map_port(p, mode),
    }
    for f in d.files:
        path = udir / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(env.get_template(f.template).render(ctx))
        os.chmod(path, f.mode)
        _chown(path, f.owner)
    for link, target in d.symlinks.items():
        p = udir / link
        p.parent.mkdir(parents=True, exist_ok=True)
        p.unlink(missing_ok=True)
        p.symlink_to(target)
    for cmd in d.prepare:
        _run(*[env.from_string(a).render(ctx) for a in cmd])
    return ctx


# ---------------------------------------------------------------- up / down / status
def choose_mode(requested: str | None = None) -> str:
    """netns when namespaces can be made; otherwise the loopback fallback (or as forced)."""
    requested = requested or os.environ.get("IOT_LAB_MODE") or None
    if requested not in (None, *MODES):
        raise LabError(f"lab mode {requested!r} is unknown; use one of {', '.join(MODES)}")
    ok, why = netns_available()
    if requested == "netns" and not ok:
        raise LabError(f"netns mode was asked for but {why}")
    if requested:
        return requested
    if not ok:
        print(f"lab: network namespaces unavailable ({why}); using the loopback fallback", file=sys.stderr)
    return "netns" if ok else "loopback"


def up(names: list[str] | None = None, mode: str | None = None) -> dict[str, Any]:
    """Idempotent: tears down whatever is left, then builds the lab and writes the inventory."""
    mode = choose_mode(mode)
    defs = definitions(names)
    down(quiet=True)
    t0 = time.monotonic()
    root = lab_dir()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    (root / "mode").write_text(mode + "\n")
    unavailable: list[dict[str, Any]] = []
    try:
        if mode == "netns":
            _net_up(defs)
        ca, ca_key, ca_cert = make_ca(root / "pki")
        firmware: dict[str, dict[str, str]] = {}
        if any(d.firmware for d in defs):
            make_update_pki(root / "update-pki")
            for d in defs:
                if d.firmware:
                    firmware[d.name] = build_images(d.name, d.firmware, root / "update-pki", root / "firmware" / d.name)
        env = _template_env()
        inventory_devices = []
        for d in defs:
            running = [dm for dm in d.daemons if mode == "netns" or dm.loopback]
            for daemon in d.daemons:
                if daemon not in running:
                    ports = [f"{li.transport}/{map_port(li.port, mode)}" for li in daemon.listens]
                    unavailable.append({"device": d.name, "daemon": daemon.name, "ports": ports,
                                        "reason": daemon.loopback_reason})
            units = []
            for u in d.units:
                ctx = _build_unit(d, u, env, ca, ca_key, ca_cert, mode)
                for daemon in running:
                    argv = [env.from_string(a).render(ctx) for a in daemon.argv]
                    denv = {k: env.from_string(v).render(ctx) for k, v in daemon.env.items()}
                    start_daemon(u.name, daemon.name, argv, denv)
                units.append({"name": u.name, "address": ctx["ip"],
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
                "units": units,
                "profile": str(_profile_for(d, mode)),
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
    }
    (root / "inventory.json").write_text(json.dumps(inventory, indent=2) + "\n")
    return inventory


LOOPBACK_LIMITATIONS = [
    "SSH and telnet logins cannot be emulated (no lab-only accounts without a private mount namespace): "
    "the SSH default-password check gives INCONCLUSIVE (connection refused) instead of its verdict",
    "the host's own wildcard listeners (0.0.0.0) answer on every 127.0.10.x address, so the exposure check "
    "may report them as undeclared ports of a lab device",
    "multicast discovery (mDNS, SSDP) cannot be emulated: loopback has no multicast",
]


def _profile_for(d: DeviceDefinition, mode: str) -> Path:
    """The lab device's profile; in loopback mode a copy with addresses and moved ports rewritten."""
    static = repo_root() / "device_profiles" / "lab" / d.profile
    if mode == "netns":
        return static
    data = yaml.safe_load(static.read_text())
    for unit in data["units"]:
        unit["address"] = unit["address"].replace(f"{NET_PREFIX}.", f"{LOOPBACK_PREFIX}.")
    for svc in data.get("services", []):
        svc["port"] = map_port(svc["port"], mode)
    out = lab_dir() / "profiles" / d.profile
    out.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Generated by `iot-harness lab up` (loopback mode) from {static}; do not edit.\n"
    out.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return out


def down(quiet: bool = False) -> None:
    """Kill every recorded daemon (precisely), anything left in lab namespaces, then the namespaces."""
    _kill(_pidfiles())
    for ns in _lab_namespaces():
        p = _run("ip", "netns", "pids", ns, check=False)
        for pid in p.stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _run("ip", "netns", "del", ns, check=False)
    _reap()
    (lab_dir() / "inventory.json").unlink(missing_ok=True)
    (lab_dir() / "mode").unlink(missing_ok=True)
    if not quiet:
        print("lab down", file=sys.stderr)


def status() -> dict[str, Any]:
    inv_path = lab_dir() / "inventory.json"
    inventory = json.loads(inv_path.read_text()) if inv_path.exists() else None
    daemons = []
    for p in _pidfiles():
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        daemons.append({"device": p.parent.parent.name, "name": rec["name"], "pid": rec["pid"],
                        "running": _alive(rec)})
    namespaces = _lab_namespaces() if shutil.which("ip") else []
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


def tester_command(argv: list[str]) -> list[str]:
    """How to run a command on the tester side of the lab (inside its namespace, if it has one)."""
    return ["ip", "netns", "exec", TESTER_NS, *argv] if current_mode() == "netns" else list(argv)


def cli(args: argparse.Namespace) -> int:
    try:
        if args.action == "up":
            names = [n.strip() for n in args.devices.split(",")] if getattr(args, "devices", None) else None
            inv = up(names, getattr(args, "mode", None))
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
