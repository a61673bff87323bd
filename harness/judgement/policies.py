"""TLS and SSH policies as versioned data, and the one shape every violated rule takes.

A policy is judged by its text, not by code: labs must be able to read which document a FAIL
rests on, and a stale policy must be replaceable without a release (ssh-audit #248, sslyze #608:
hard-coded baselines turn into false FAILs). Built-in policies live under
`harness/data/policies/{tls,ssh}/<id>.yaml`; a profile may also name a policy file by path (a
golden-device SSH policy, say).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.declaration.datafile import DataFileError, load_yaml_model

DEFAULT_TLS_POLICY = "cryptrec-gl3001-3.0.1"
DEFAULT_SSH_POLICY = "iot-label-ssh-2026.1"


class PolicyError(DataFileError):
    """A policy that cannot be found or does not validate."""


@dataclass(frozen=True)
class Violation:
    """One broken rule: what was seen, which rule it breaks, and the document behind the rule."""

    rule: str
    detail: str
    source: str

    def line(self) -> str:
        return f"{self.rule}: {self.detail} [{self.source}]"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Listed(_M):
    allowed: list[str] = Field(min_length=1)
    source: str = Field(min_length=3)


class TlsCertificateRules(_M):
    min_rsa_bits: int = Field(ge=1024)
    min_ec_bits: int = Field(ge=160)
    signature_hashes: list[str] = Field(min_length=1)
    source: str
    chain_source: str
    validity_source: str
    name_source: str


class KeyExchangeRule(_M):
    """Suites without an ephemeral key exchange (static RSA key transport, static DH/ECDH, PSK
    alone) are named on *every* version they are offered on: on TLS 1.0/1.1 the version finding
    alone would hide that recorded traffic can be decrypted later with the server's key."""

    forward_secrecy: Literal["required"]
    source: str = Field(min_length=3)


class TlsPolicy(_M):
    id: str
    version: str
    title: str
    source: str
    protocols: _Listed
    cipher_suites: _Listed
    key_exchange: KeyExchangeRule
    groups: _Listed
    certificate: TlsCertificateRules
    vulnerabilities: dict[
        Literal[
            "heartbleed", "ccs_injection", "robot", "insecure_renegotiation", "client_renegotiation_dos",
            "compression", "fallback_scsv",
        ],
        str,
    ]

    def ref(self) -> str:
        return f"{self.id} v{self.version}"


class ForbiddenAlgorithm(_M):
    reason: str = Field(min_length=3)
    source: str = Field(min_length=3)


class SshAlgorithms(_M):
    kex: list[str] = Field(min_length=1)
    host_key: list[str] = Field(min_length=1)
    cipher: list[str] = Field(min_length=1)
    mac: list[str] = Field(default_factory=list, description="empty when only AEAD ciphers are offered")
    source: str


class SshPolicy(_M):
    id: str
    version: str
    title: str
    source: str
    mode: Literal["allow-list", "exact"] = Field(
        description="allow-list: offered ⊆ allowed; exact (golden device): offered = allowed, both ways"
    )
    allowed: SshAlgorithms
    pseudo_algorithms: list[str] = Field(default_factory=list)
    forbidden: dict[str, ForbiddenAlgorithm] = Field(default_factory=dict)

    def ref(self) -> str:
        return f"{self.id} v{self.version}"


def _policy_path(kind: str, name: str) -> Path:
    if name.endswith((".yaml", ".yml")) or "/" in name:
        return Path(name)
    return Path(str(resources.files("harness") / "data" / "policies" / kind / f"{name}.yaml"))


def builtin_policies(kind: Literal["tls", "ssh"]) -> list[str]:
    folder = Path(str(resources.files("harness") / "data" / "policies" / kind))
    return sorted(p.stem for p in folder.glob("*.yaml"))


def _load(kind: Literal["tls", "ssh"], name: str, model: type[BaseModel]):
    path = _policy_path(kind, name)
    if not path.exists():
        raise PolicyError(
            f"{kind.upper()} policy {name!r} not found ({path}); built-in policies: "
            f"{', '.join(builtin_policies(kind))}, or give the path of a policy file"
        )
    return load_yaml_model(path, model, f"{kind.upper()} policy", error=PolicyError)


def load_tls_policy(name: str = DEFAULT_TLS_POLICY) -> TlsPolicy:
    return _load("tls", name, TlsPolicy)


def load_ssh_policy(name: str = DEFAULT_SSH_POLICY) -> SshPolicy:
    return _load("ssh", name, SshPolicy)


@dataclass
class PoliciesInForce:
    """The TLS and SSH policies one run judges by: the profile's, or those `rejudge` was given.
    Loaded on first use, so an unusable policy ends the checks that need it INCONCLUSIVE (with
    the reason) instead of stopping the run."""

    tls_ref: str
    ssh_ref: str

    def tls(self) -> TlsPolicy:
        return load_tls_policy(self.tls_ref)

    def ssh(self) -> SshPolicy:
        return load_ssh_policy(self.ssh_ref)

    def refs(self) -> dict[str, str]:
        out = {}
        for kind, load, ref in (("tls", self.tls, self.tls_ref), ("ssh", self.ssh, self.ssh_ref)):
            try:
                out[kind] = load().ref()
            except PolicyError:
                out[kind] = f"{ref} (unusable)"
        return out
