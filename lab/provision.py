"""Provisioning one lab unit from its definition: lab-only accounts and secrets, host keys, TLS
certificates from the lab PKI, and daemon configs rendered from templates."""

from __future__ import annotations

import os
import pwd
import secrets as pysecrets
import shutil
from importlib import resources
from pathlib import Path

import jinja2
import yaml

from lab.common import lab_dir, package_versions, repo_root, run_cmd
from lab.model import Certificate, DeviceDefinition, HostKey, UnitDef
from lab.namespaces import LOOPBACK_PREFIX, NET_PREFIX, TESTER_IP, device_ip, map_port
from lab.pki import CertFiles, make_cert


def template_env() -> jinja2.Environment:
    folder = Path(str(resources.files("lab") / "templates"))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder), undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    env.globals["apr1"] = lambda pw: run_cmd("openssl", "passwd", "-apr1", "-stdin", input=pw).stdout.strip()
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
        h = "*" if password is None else run_cmd("openssl", "passwd", "-6", "-stdin", input=password).stdout.strip()
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
    run_cmd(*argv)

def _client_key(user: str) -> dict[str, str]:
    path = lab_dir() / "keys" / f"{user}_ed25519"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        run_cmd("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{user}@lab", "-f", str(path))
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

def build_unit(
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
        "packages": package_versions(),
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
        run_cmd(*[env.from_string(a).render(ctx) for a in cmd])
    return ctx

def profile_for(d: DeviceDefinition, mode: str) -> Path:
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

LOOPBACK_LIMITATIONS = [
    "SSH and telnet logins cannot be emulated (no lab-only accounts without a private mount namespace): "
    "the SSH default-password check gives INCONCLUSIVE (connection refused) instead of its verdict",
    "the host's own wildcard listeners (0.0.0.0) answer on every 127.0.10.x address, so the exposure check "
    "may report them as undeclared ports of a lab device",
    "multicast discovery (mDNS, SSDP) cannot be emulated: loopback has no multicast",
]
