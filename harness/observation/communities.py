"""The factory SNMP communities, as validated data (harness/data/snmp_communities.yaml)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.declaration.datafile import load_yaml_model


class Community(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    community: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=5)


class V3User(BaseModel):
    """An SNMPv3 user name agents ship without authentication (noAuthNoPriv)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    user: str = Field(min_length=1, max_length=32)
    source: str = Field(min_length=5)


class CommunityList(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    entries: list[Community] = Field(min_length=1)
    v3_users: list[V3User] = Field(default_factory=list)


@cache
def default_communities() -> CommunityList:
    path = Path(str(resources.files("harness") / "data" / "snmp_communities.yaml"))
    return load_yaml_model(path, CommunityList, "SNMP community list",
                           ids=lambda m: [e.id for e in m.entries] + [f"v3:{u.id}" for u in m.v3_users])
