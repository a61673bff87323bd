"""The default-credential database: public, validated data, each entry with its source.

Like changeme and nmap's http-default-accounts, a vendor entry is only tried when the service's
fingerprint matches it, so a device is not hammered with every vendor's pair; generic pairs are
tried everywhere. Evidence cites an entry by its id rather than printing the password.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.declaration.datafile import DataFileError, load_yaml_model

Proto = Literal["ssh", "telnet", "http", "mqtt", "ftp"]


class Fingerprint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    banner: str | None = None
    realm: str | None = None
    server: str | None = None
    title: str | None = None

    @field_validator("banner", "realm", "server", "title")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"not a valid regular expression: {e}") from None
        return v

    def matches(self, seen: dict[str, str]) -> bool:
        for key in ("banner", "realm", "server", "title"):
            pattern = getattr(self, key)
            if pattern is not None and not re.search(pattern, seen.get(key, ""), re.IGNORECASE):
                return False
        return True


class DefaultCredential(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    protocols: list[Proto] = Field(min_length=1)
    username: str
    password: str
    fingerprint: Fingerprint | None = None
    source: str = Field(min_length=3)


class CredentialList(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int
    success_criteria: dict[str, str]
    entries: list[DefaultCredential] = Field(min_length=1)


class CredentialDataError(DataFileError):
    pass


def load_credential_file(path: Path) -> CredentialList:
    return load_yaml_model(
        path, CredentialList, "credential list", error=CredentialDataError, ids=lambda c: [e.id for e in c.entries]
    )


@cache
def default_credentials() -> CredentialList:
    with resources.as_file(resources.files("harness") / "data" / "default_credentials.yaml") as p:
        return load_credential_file(Path(p))


def base_protocol(protocol: str) -> str:
    """https is http, mqtts is mqtt, for the purpose of which pairs to try."""
    return {"https": "http", "mqtts": "mqtt"}.get(protocol, protocol)


def candidates(protocol: str, seen: dict[str, str], cap: int) -> list[DefaultCredential]:
    """Entries to try on a service, in file order (most likely first), skipping vendor entries
    whose fingerprint does not match; at most `cap`."""
    proto = base_protocol(protocol)
    return [
        e for e in default_credentials().entries
        if proto in e.protocols and (e.fingerprint is None or e.fingerprint.matches(seen))
    ][:cap]
