"""Requirement catalogs: scheme requirements as validated data, never as code.

Requirement IDs are unique across all catalogs (S1.1-02, LA-2, NT-DOC…), so a test's marker can
name them without a scheme prefix and a typo is caught at collection, not in a report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.declaration.datafile import DataFileError, load_yaml_model


class Method(StrEnum):
    DEVICE_TEST = "device-test"
    DOCUMENT = "document"
    ATTESTATION = "attestation"


class Crosswalk(BaseModel):
    """The same requirement in other schemes: each key is a scheme name with `_` for `-`, each entry
    a requirement ID of that scheme's catalog (a test checks that every one resolves)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    jc_star_1: list[str] = Field(default_factory=list)
    etsi_en_303_645: list[str] = Field(default_factory=list)
    nistir_8425: list[str] = Field(default_factory=list)
    nist_ir_8259a: list[str] = Field(default_factory=list)
    nist_ir_8259b: list[str] = Field(default_factory=list)
    uk_psti: list[str] = Field(default_factory=list)

    def by_scheme(self) -> dict[str, list[str]]:
        return {k.replace("_", "-"): v for k, v in self.model_dump().items() if v}


class Requirement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[A-Z0-9][A-Z0-9.\-]+$")
    title: str = Field(min_length=3)
    title_ja: str | None = None
    capability: str | None = None
    status: Literal["mandatory", "recommended", "mandatory-conditional", "recommended-conditional"] | None = Field(
        default=None, description="the scheme's own obligation (EN 303 645: shall/should, and whether a condition "
        "must hold for it to apply)")
    explanation: str = Field(min_length=20, description="plain language, for a small manufacturer")
    method: Method
    scheme_method: str | None = None
    automated: bool
    evidence: str = Field(min_length=5)
    crosswalk: Crosswalk = Field(default_factory=Crosswalk)
    provisional: bool = False
    source: str = Field(min_length=5)
    rule: dict[str, float | int | str] | None = Field(
        default=None, description="parameters of the verdict rule a test applies, with its text and source"
    )
    bears_on: Literal["function-services", "password-services"] | None = Field(
        default=None, description="the declared interfaces a PASS must have judged (see the coverage matrix)"
    )


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    scheme: str = Field(pattern=r"^[a-z0-9-]+$")
    title: str
    edition: str
    source: str
    requirements: list[Requirement] = Field(min_length=1)


class CatalogError(DataFileError):
    pass


CATALOG_PATH_ENV = "IOT_HARNESS_CATALOGS"


def catalog_dirs() -> tuple[Path, ...]:
    """Where schemes come from: the built-in catalogs, then every folder named in
    $IOT_HARNESS_CATALOGS (os.pathsep-separated). A new scheme is one YAML file in one of them."""
    builtin = Path(str(resources.files("harness.declaration") / "catalogs"))
    extra = [Path(p) for p in os.environ.get(CATALOG_PATH_ENV, "").split(os.pathsep) if p]
    return (builtin, *extra)


def load_catalog_file(path: Path) -> Catalog:
    return load_yaml_model(
        path, Catalog, "requirement catalog", error=CatalogError, ids=lambda c: [r.id for r in c.requirements]
    )


@dataclass(frozen=True)
class Catalogs:
    by_scheme: dict[str, Catalog]
    files: dict[str, Path]  # scheme -> the file it was read from (hashed into every manifest)

    @property
    def requirements(self) -> dict[str, tuple[str, Requirement]]:
        """Every requirement by ID, with its scheme."""
        return {r.id: (s, r) for s, c in self.by_scheme.items() for r in c.requirements}

    def get(self, req_id: str) -> Requirement:
        return self.requirements[req_id][1]

    def scheme_of(self, req_id: str) -> str:
        return self.requirements[req_id][0]


def load_catalogs() -> Catalogs:
    return _load_catalogs(catalog_dirs())


@cache
def _load_catalogs(dirs: tuple[Path, ...]) -> Catalogs:
    cats: dict[str, Catalog] = {}
    files: dict[str, Path] = {}
    seen: dict[str, str] = {}
    for folder in dirs:
        if not folder.is_dir():
            raise CatalogError(f"catalog folder {folder} does not exist; fix ${CATALOG_PATH_ENV}")
        for path in sorted(folder.glob("*.yaml")):
            cat = load_catalog_file(path)
            if cat.scheme in cats:
                raise CatalogError(f"{path}: scheme {cat.scheme!r} is already defined by {files[cat.scheme]}")
            for r in cat.requirements:
                if r.id in seen:
                    raise CatalogError(f"{path}: requirement ID {r.id} appears in both {seen[r.id]} and {cat.scheme}")
                seen[r.id] = cat.scheme
            cats[cat.scheme], files[cat.scheme] = cat, path
    return Catalogs(cats, files)


def scheme_names() -> list[str]:
    return list(load_catalogs().by_scheme)


def check_markers(marked: dict[str, list[str]], catalogs: Catalogs, require_coverage: bool = True) -> list[str]:
    """Consistency between test markers and catalogs, both ways.

    `marked` maps a test function's id to the requirement IDs its marker names. Returns the
    problems (empty when consistent): unknown IDs, tests naming a requirement the catalog does
    not mark automated, and (for the built-in suite, `require_coverage`) automated requirements
    no test evaluates. A lab's own extra suite need not cover every automated requirement.
    """
    reqs = catalogs.requirements
    problems: list[str] = []
    covered: set[str] = set()
    for test, ids in sorted(marked.items()):
        if not ids:
            problems.append(f"{test}: its requirements marker names no requirement")
        for rid in ids:
            if rid not in reqs:
                problems.append(f"{test}: marker names unknown requirement {rid!r}")
            elif not reqs[rid][1].automated:
                problems.append(
                    f"{test}: evaluates {rid}, but catalog {reqs[rid][0]} does not mark it automated: true"
                )
            covered.add(rid)
    for rid, (scheme, req) in sorted(reqs.items()):
        if require_coverage and req.automated and rid not in covered:
            problems.append(f"catalog {scheme}: {rid} is marked automated but no test evaluates it")
    return problems
