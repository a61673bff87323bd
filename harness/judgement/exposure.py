"""The exposure data file (common IoT UDP ports, insecure services) and how a service found on a
unit is matched against it."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.declaration.datafile import load_yaml_model


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UdpPort(_M):
    port: int = Field(ge=1, le=65535)
    name: str


class InsecureService(_M):
    id: str
    protocols: list[str] = Field(default_factory=list)
    tcp_ports: list[int] = Field(default_factory=list)
    udp_ports: list[int] = Field(default_factory=list)
    requires: Literal["snmp-community-accepted", "upnp-internet-gateway"] | None = Field(
        default=None, description="an observation that must confirm the finding"
    )
    reason: str = Field(min_length=10)
    fix: str = Field(min_length=5)
    source: str = Field(min_length=5)


class ExposureData(_M):
    version: Literal[1]
    udp_ports: list[UdpPort]
    insecure_services: list[InsecureService]


@cache
def load_exposure_data(path: Path | None = None) -> ExposureData:
    path = path or Path(str(resources.files("harness") / "data" / "exposure.yaml"))
    return load_yaml_model(path, ExposureData, "exposure data", ids=lambda d: [s.id for s in d.insecure_services])


def match_insecure(
    data: ExposureData, transport: str, port: int, protocol: str | None, confirmed: set[str]
) -> InsecureService | None:
    """The insecure-service entry a service found on the unit falls under, if any.

    A known protocol decides; an unidentified service is judged by its port. Entries that need a
    confirming observation (SNMP answering the default community, an IGD) only match with it."""
    for entry in data.insecure_services:
        if protocol is not None and protocol in entry.protocols:
            hit = True
        elif protocol is None or protocol == "other":
            hit = port in (entry.tcp_ports if transport == "tcp" else entry.udp_ports)
        else:
            hit = False
        if hit and (entry.requires is None or entry.requires in confirmed):
            return entry
    return None
