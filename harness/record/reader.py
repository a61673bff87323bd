"""The one bundle reader: it verifies before it returns anything.

Every report, `rejudge` and every CLI command that reads a bundle comes through here, so a
tampered bundle is refused with the verification message (the changed, added or removed files)
instead of being rendered as if it were evidence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.record.bundle import Verification, verify
from harness.record.results import Manifest, Results


class BundleRefused(Exception):
    """The bundle failed verification or is not a bundle of this format; the message says which."""


@dataclass(frozen=True)
class VerifiedBundle:
    root: Path
    verification: Verification
    manifest: Manifest
    results: Results

    @property
    def digest(self) -> str:
        return self.verification.digest

    def path(self, rel: str) -> Path:
        p = (self.root / rel).resolve()
        if not p.is_relative_to(self.root.resolve()):
            raise BundleRefused(f"{rel} points outside the bundle")
        return p

    def read_json(self, rel: str) -> Any:
        return json.loads(self.path(rel).read_text())

    def profile_data(self) -> dict[str, Any]:
        return self.read_json("profile.json")

    def hashes(self) -> dict[str, str]:
        """Each file's SHA-256 as signed (verification has matched every file against it), so a report
        can print the hash beside every evidence link."""
        return dict(self.verification.subjects)


def open_bundle(root: Path, trusted_key: Path | None = None) -> VerifiedBundle:
    v = verify(root, trusted_key)
    if not v.ok:
        raise BundleRefused(f"{root}: verification failed, nothing read:\n  - " + "\n  - ".join(v.problems))
    try:
        manifest = Manifest.model_validate_json((root / "manifest.json").read_bytes())
        results = Results.model_validate_json((root / "results.json").read_bytes())
    except FileNotFoundError as e:
        raise BundleRefused(f"{root}: {Path(e.filename).name} is missing (signed without it?)") from None
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise BundleRefused(f"{root}: not a bundle of this format ({where}: {first['msg']}); "
                            "re-run the assessment with this version of the harness") from None
    return VerifiedBundle(root=root, verification=v, manifest=manifest, results=results)
