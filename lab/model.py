"""Schema of a lab device definition (`lab/devices/<name>.yaml`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Account(_M):
    user: str
    uid: int = Field(ge=60000, le=60999, description="lab uids live in 60000-60999, never host accounts")
    password: str | None = Field(default=None, description="a literal password (a shared default)")
    password_secret: str | None = Field(default=None, description="name of a per-unit generated secret")


class UnitDef(_M):
    name: str = Field(pattern=r"^[a-z][a-z0-9]{0,10}$")
    octet: int = Field(ge=2, le=254)


class HostKey(_M):
    tool: Literal["dropbear", "openssh"]
    type: Literal["rsa", "ecdsa", "ed25519"]
    bits: int | None = None
    path: str
    shared: bool = Field(default=False, description="one key for every unit of the model (a finding)")


class Certificate(_M):
    name: str
    issuer: Literal["self", "lab-ca"]
    key: Literal["rsa-1024", "rsa-2048", "ec-p256"]
    hash: Literal["sha1", "sha256"]
    days: int
    cn: str
    san_dns: list[str] = Field(default_factory=list)
    san_device_ip: bool = False
    shared: bool = Field(default=False, description="one certificate and key for every unit (a finding)")
    expired: bool = Field(default=False, description="validity ended before the lab started (a finding)")


class FileSpec(_M):
    template: str
    path: str
    mode: int = 0o644
    owner: str | None = None


class DirSpec(_M):
    path: str
    mode: int = 0o755
    owner: str | None = None


class Listen(_M):
    transport: Literal["tcp", "udp"] = "tcp"
    port: int = Field(ge=1, le=65535)


class Daemon(_M):
    name: str
    argv: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    listens: list[Listen] = Field(default_factory=list)
    loopback: bool = Field(default=True, description="can run in the loopback fallback (no namespaces)")
    loopback_reason: str = Field(default="", description="why not, said to the operator")


class Firmware(_M):
    """Signed update images the lab manufacturer ships for this model: SWUpdate's .swu, or the
    second maker's own signed manifest (a tar of manifest.json, its detached CMS signature
    manifest.sig, and the payloads; `lab.firmware.KAIRO_LAYOUT`), or a RAUC plain bundle made by
    `rauc bundle` itself (`board` is its compatible string), or a raw image with a detached CMS
    signature file beside it (`lab.firmware.raw_image`)."""

    format: Literal["swu", "rauc", "signed-manifest", "raw-signed"] = "swu"
    title: str
    board: str = Field(description="SWUpdate hardware board name (-H board:rev)")
    hardware: str = Field(description="hardware revision the images are compatible with")
    current: str = Field(description="version the units run when the lab starts")
    newer: str
    older: str


class DeviceDefinition(_M):
    name: str = Field(pattern=r"^[a-z][a-z0-9]{0,10}$")
    model: str
    description: str
    expect: Literal["weak", "hardened"]
    units: list[UnitDef] = Field(min_length=1)
    hostname: str
    profile: str = Field(description="file name under device_profiles/lab/")
    accounts: list[Account] = Field(default_factory=list)
    host_keys: list[HostKey] = Field(default_factory=list)
    client_keys: list[str] = Field(default_factory=list, description="ed25519 keys the tester logs in with")
    secrets: list[str] = Field(default_factory=list, description="random secrets generated per lab")
    certificates: list[Certificate] = Field(default_factory=list)
    dirs: list[DirSpec] = Field(default_factory=list)
    files: list[FileSpec] = Field(default_factory=list)
    symlinks: dict[str, str] = Field(default_factory=dict)
    prepare: list[list[str]] = Field(default_factory=list, description="commands run after files exist")
    ns_setup: list[str] = Field(default_factory=list, description="shell commands run inside the unit's namespace")
    daemons: list[Daemon] = Field(min_length=1)
    firmware: Firmware | None = None
