"""The default-credential database: public, validated data, each entry with its source.

Evidence cites an entry by its id rather than printing the password, so a report can say
which well-known pair a device accepted while the password itself stays redacted.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.datafile import DataFileError, load_yaml_model


class DefaultCredential(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    protocol: str = Field(pattern=r"^(ssh|telnet|http|mqtt|ftp)$")
    username: str
    password: str
    success: str = Field(min_length=3, description="what counts as the pair being accepted")
    source: str = Field(min_length=3)


class CredentialList(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int
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


def for_protocol(protocol: str) -> list[DefaultCredential]:
    return [c for c in default_credentials().entries if c.protocol == protocol]
