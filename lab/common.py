"""What every part of the lab shares: where it lives on disk, and running a command with a clear error."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path


class LabError(Exception):
    """The lab could not be brought up or down; the message says what and where the logs are."""

def lab_dir() -> Path:
    return Path(os.environ.get("IOT_LAB_DIR", "/tmp/iot-label-lab"))

def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent

def run_cmd(*argv: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise LabError(f"{argv[0]} is not installed; run `make setup` (or scripts/setup.sh) as root") from None
    if check and p.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
    return p

# the Debian packages the lab devices run, whose versions their SBOMs state
SBOM_PACKAGES = ("openssh-server", "nginx", "mosquitto", "avahi-daemon", "swupdate", "libcoap3-bin", "dropbear-bin",
                 "busybox", "busybox-static", "snmpd")


@functools.cache
def package_versions() -> dict[str, str]:
    """Installed versions of the lab's daemons (dpkg), so an SBOM the lab serves is true of the
    machine it runs on: a Debian release with other versions still gets a matching hub SBOM."""
    p = run_cmd("dpkg-query", "-W", "-f", "${Package}\t${Version}\t${db:Status-Status}\n", *SBOM_PACKAGES, check=False)
    out = {}
    for line in p.stdout.splitlines():
        name, version, status = [*line.split("\t"), "", ""][:3]
        if status == "installed" and version:
            out[name] = version
    return out


READY_TIMEOUT_S = 10.0
